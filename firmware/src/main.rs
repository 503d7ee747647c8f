//! The firmware image: boot, then the UART console.
#![no_std]
#![no_main]

use xlic_firmware::console;

#[no_mangle]
fn kernel_main() -> ! {
    console::run()
}
