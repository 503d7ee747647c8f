//! The four A53 cores, seen from the console as a person would: all four
//! running after boot at every entry level, the `cores` self-test passing
//! on each, and a fault in a job on core 2 reported by core 2 and ending
//! the run with a failure status, as a fault on core 0 does.
use std::time::Duration;
use xtask::firmware;
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

const BOOT: Duration = Duration::from_secs(60);
const REPLY: Duration = Duration::from_secs(60);

fn boot(el: BootEl) -> Session {
    let mut s = Session::start(&Qemu::new(firmware::elf_for_tests(), el)).expect("start QEMU");
    s.expect(PROMPT, BOOT).expect("first prompt");
    s
}

#[test]
fn all_cores_run_and_pass_the_self_test_at_every_entry_level() {
    for el in BootEl::ALL {
        let n = el.number();
        let mut s = boot(el);
        let info = s.command("info", REPLY).unwrap();
        let want = format!("cores        4 of 4 running: 0 console; 1 idle (entered EL{n}, 0 jobs); 2 idle (entered EL{n}, 0 jobs); 3 idle (entered EL{n}, 0 jobs)");
        assert!(info.contains(&want), "EL{n}: info lacks '{want}':\n{info}");
        let cores = s.command("cores", REPLY).unwrap();
        assert!(!cores.contains("error:"), "EL{n}:\n{cores}");
        for core in 0..4 {
            let line = cores.lines().find(|l| l.trim_start().starts_with(&format!("core {core}:"))).unwrap_or_else(|| panic!("no line for core {core}:\n{cores}"));
            assert!(line.contains(&format!("job ran on core {core}, counter 62.500 MHz advancing")), "{line}");
            assert!(line.contains("(matches core 0's write)"), "{line}");
        }
        assert!(cores.contains("atomic increments: 4 cores x 100000 = 400000 counted (none lost)"), "{cores}");
        assert!(cores.contains("4 of 4 cores passed the self-test"), "{cores}");
        // Each secondary ran one job.
        let info = s.command("info", REPLY).unwrap();
        assert!(info.contains(&format!("3 idle (entered EL{n}, 1 jobs)")), "{info}");
        s.send(b"exit\n").unwrap();
        assert_eq!(s.wait(REPLY).unwrap().code(), Some(0));
    }
}

#[test]
fn a_fault_in_a_job_on_core_2_is_reported_by_core_2_and_fails_the_run() {
    let mut s = boot(BootEl::El3);
    s.send(b"fault null 2\n").unwrap();
    let report = s.expect("*** core 2 halted", REPLY).unwrap();
    for line in [
        "*** CPU EXCEPTION on core 2 at EL1: synchronous, current EL with SP_EL0",
        "class   0x25 Data Abort, current EL",
        "FAR     0x0000000000000008",
        "cause   NULL pointer access",
    ] {
        assert!(report.contains(line), "report lacks '{line}':\n{report}");
    }
    assert_eq!(s.wait(REPLY).unwrap().code(), Some(1), "the run must fail");

    let mut s = boot(BootEl::El3);
    s.send(b"fault stack 3\n").unwrap();
    let report = s.expect("*** core 3 halted", REPLY).unwrap();
    assert!(report.contains("cause   stack overflow: core 3 main stack ran into its guard page"), "{report}");
    assert_eq!(s.wait(REPLY).unwrap().code(), Some(1), "the run must fail");
}
