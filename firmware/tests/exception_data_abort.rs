//! A data abort must produce the full report: class by name, the fault
//! detail, ESR/ELR/FAR, and the diagnosis of a NULL access. The test
//! installs the expectation, faults for real, and the exception handler
//! exits QEMU with 0 only if the report matches.
#![no_std]
#![no_main]

use xlic_firmware::arch::aarch64::exception::{expect_fault, faults};
use xlic_firmware::{println, test_support};

fn check(report: &str) -> bool {
    report.contains("*** CPU EXCEPTION on core 0 at EL1: synchronous, current EL with SP_EL0")
        && report.contains("class   0x25 Data Abort, current EL")
        && report.contains("detail  translation fault, level 3, read")
        && report.contains("FAR     0x0000000000000008")
        && report.contains("cause   NULL pointer access")
}

#[no_mangle]
fn kernel_main() -> ! {
    println!("test exception_data_abort: reading address 8 (null guard)");
    expect_fault(check);
    faults::null_read();
    println!("the read of the null guard did not fault");
    test_support::exit_failure()
}
