//! A job that faults on core 2 must produce the full report from core 2's
//! own exception stack, naming the core. The test installs the
//! expectation, faults for real in a job, and the exception handler on
//! core 2 exits QEMU with 0 only if the report matches. (The console's
//! `fault null 2`, tested from the host, shows the same fault ends the
//! run with a failure status when nothing expects it.)
#![no_std]
#![no_main]

use xlic_firmware::arch::aarch64::exception::{expect_fault, faults};
use xlic_firmware::{println, smp, test_support};

fn check(report: &str) -> bool {
    report.contains("*** CPU EXCEPTION on core 2 at EL1: synchronous, current EL with SP_EL0")
        && report.contains("class   0x25 Data Abort, current EL")
        && report.contains("detail  translation fault, level 3, read")
        && report.contains("cause   NULL pointer access")
}

#[no_mangle]
fn kernel_main() -> ! {
    println!("test exception_secondary: a job on core 2 reads address 8 (null guard)");
    assert_eq!(smp::online(), smp::NUM_CORES, "all cores should be up");
    expect_fault(check);
    let r = smp::scope(|s| {
        s.spawn(2, || {
            faults::null_read();
        })
    });
    println!("the job on core 2 returned ({r:?}) instead of faulting");
    test_support::exit_failure()
}
