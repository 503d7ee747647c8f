//! Unbounded recursion must run into core 0's main-stack guard page and be
//! reported as a stack overflow (from the separate exception stack).
#![no_std]
#![no_main]

use xlic_firmware::arch::aarch64::exception::{expect_fault, faults};
use xlic_firmware::{println, test_support};

fn check(report: &str) -> bool {
    report.contains("class   0x25 Data Abort, current EL")
        && report.contains("detail  translation fault, level 3, write")
        && report.contains("cause   stack overflow: core 0 main stack ran into its guard page")
}

#[no_mangle]
fn kernel_main() -> ! {
    println!("test exception_stack_overflow: recursing until the guard page");
    expect_fault(check);
    faults::stack_overflow(0);
    println!("the recursion returned");
    test_support::exit_failure()
}
