//! F1/F11: a job that never finishes. While core 0 waits for it, it says
//! which core is busy every few seconds ("core N busy" lines on the
//! console); when the job shows no progress for the hang limit, core 0
//! holds that core in reset (the firmware owns the cores' resets when
//! entered at EL3) and the scope returns an error instead of waiting for
//! ever; the other cores go on working. Below EL3 no call stops another
//! core (PSCI CPU_OFF stops only its caller), so there the test checks the
//! busy lines on a long job that does finish.
#![no_std]
#![no_main]

use core::time::Duration;
use xlic_firmware::arch::aarch64::{cpu, time};
use xlic_firmware::bsp::zcu102::apu;
use xlic_firmware::smp::{self, CoreState, Failure, StartMethod, NUM_CORES};
use xlic_firmware::{println, test_support};

use xlic_firmware::test_support::check;

#[no_mangle]
fn kernel_main() -> ! {
    println!("test smp_hang: a job that does not finish");
    check(smp::online() == NUM_CORES, "all cores should be up");
    // A job that runs 6 s and calls `progress` all along: busy lines, no stop.
    smp::set_hang_limit(Duration::from_secs(4));
    let lines = smp::busy_lines();
    let r = smp::scope(|s| {
        s.spawn(1, || {
            let t = time::Instant::now();
            while t.elapsed() < Duration::from_secs(6) {
                smp::progress();
                for _ in 0..1000 {
                    cpu::spin_hint();
                }
            }
        })
    });
    check(r.is_ok(), "a long job that shows progress was stopped");
    check(smp::busy_lines() > lines, "no 'core 1 busy' line while core 0 waited 6 s");
    check(smp::status(1).state == CoreState::Idle, "core 1 is not idle after its long job");
    if smp::start_method() != Some(StartMethod::Reset) {
        println!("  entered below EL3: a hung core cannot be stopped from here; busy lines checked");
        println!("1 passed, 0 failed");
        test_support::exit_success()
    }
    // A job that never ends and shows no progress.
    let t = time::Instant::now();
    let r = smp::scope(|s| {
        s.spawn(3, || loop {
            cpu::spin_hint();
        })
    });
    let took = t.elapsed();
    println!("  hung job on core 3: {r:?} after {took:?}");
    check(matches!(r, Err(smp::CoreFault { core: 3, failure: Failure::Hung { secs: 4.. } })), "the scope did not return core 3 as hung");
    check(took >= Duration::from_secs(4) && took < Duration::from_secs(20), "not stopped at the hang limit");
    check(smp::status(3).state == CoreState::Stopped && apu::in_reset(3), "core 3 is not held in reset");
    check(smp::online() == NUM_CORES - 1, "core 3 still counted online");
    let mut ran = [usize::MAX; NUM_CORES];
    let r = smp::scope(|s| {
        for (core, slot) in ran.iter_mut().enumerate() {
            s.spawn(core, move || *slot = cpu::core_id());
        }
    });
    check(r.is_ok() && ran == [0, 1, 2, 0], "work after the stop did not run on cores 0-2");
    println!("1 passed, 0 failed");
    test_support::exit_success()
}
