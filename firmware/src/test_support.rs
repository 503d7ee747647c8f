//! The custom test framework: tests run in QEMU, print one line each on the
//! console, and the verdict leaves through the semihosting exit status (a
//! failing test panics, and the panic handler exits with 1).
use crate::arch::aarch64::semihosting;
use crate::{print, println};

pub trait Testable {
    fn run(&self);
}

impl<T: Fn()> Testable for T {
    fn run(&self) {
        print!("test {} ... ", core::any::type_name::<T>());
        self();
        println!("ok");
    }
}

pub fn run_tests(tests: &[&dyn Testable]) {
    println!("running {} tests", tests.len());
    for t in tests {
        t.run();
    }
    println!("{} passed, 0 failed", tests.len());
}

pub fn exit_success() -> ! {
    semihosting::exit(0);
    crate::arch::aarch64::cpu::wait_forever()
}

pub fn exit_failure() -> ! {
    semihosting::exit(1);
    crate::arch::aarch64::cpu::wait_forever()
}

/// For the integration tests (each its own kernel): print `FAILED: what`
/// and end the run with a failure unless `ok`.
pub fn check(ok: bool, what: &str) {
    if !ok {
        crate::println!("FAILED: {what}");
        exit_failure()
    }
}

/// Arguments the host passed through `-semihosting-config arg=...`
/// (SYS_GET_CMDLINE), e.g. `expect-el=3`. The QEMU runner uses this to
/// tell a test how it booted the machine.
pub fn host_args(buf: &mut [u8]) -> Option<&str> {
    semihosting::command_line(buf)
}

/// The DDR arena for unit tests: taken once, lent to one test at a time.
pub fn with_arena<R>(f: impl FnOnce(&mut crate::bsp::zcu102::memory::Arena) -> R) -> R {
    static ARENA: crate::smp::SpinLock<Option<crate::bsp::zcu102::memory::Arena>> = crate::smp::SpinLock::new(None);
    let mut a = ARENA.lock();
    f(a.get_or_insert_with(|| crate::bsp::zcu102::memory::Arena::take().expect("the arena was taken outside test_support")))
}
