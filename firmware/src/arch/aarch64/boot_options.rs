//! Boot options: one word in the image header that `boot.s` puts at a fixed
//! place (the load address + 0x10, after the magic "XLICBOOT"), so the same
//! ELF can be told how to boot without rebuilding it. A debugger writes it
//! between downloading the ELF and starting it (boot/jtag.tcl:
//! `mwr 0x00100010 1`); a build can set its default with the cargo feature
//! `no-semihosting-probe` (`cargo xtask build --no-semihosting-probe`).

/// Do not issue the semihosting `hlt` probe at boot. With a halting
/// debugger attached (xsdb, Lauterbach, OpenOCD), `hlt` stops the core in
/// debug state instead of trapping, and the board seems to hang at boot.
pub const SKIP_SEMIHOSTING_PROBE: u32 = 1 << 0;

/// What the header holds unless a debugger changes it.
pub const DEFAULT: u32 = if cfg!(feature = "no-semihosting-probe") { SKIP_SEMIHOSTING_PROBE } else { 0 };

/// Offset of the options word from the image start (boot.s).
pub const HEADER_OFFSET: u64 = 0x10;

extern "C" {
    /// The options word in boot.s's image header.
    static __boot_options: u32;
}

/// The options this boot runs with.
pub fn get() -> u32 {
    // SAFETY: the word lies in .text (mapped readable); a debugger may have
    // written it before start, hence the volatile read.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(__boot_options)) }
}

/// Address of the options word (for `diag` and the JTAG script's check).
pub fn address() -> u64 {
    core::ptr::addr_of!(__boot_options) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// boot/jtag.tcl writes the word at the load address + 0x10; the
    /// header must be where the script expects it.
    #[test_case]
    fn the_options_word_is_at_the_documented_place() {
        assert_eq!(address(), crate::bsp::zcu102::memory::image().start + HEADER_OFFSET);
        let magic = (address() - 8) as *const [u8; 8];
        // SAFETY: 8 readable bytes of the image header in .text.
        assert_eq!(unsafe { core::ptr::read_volatile(magic) }, *b"XLICBOOT");
        assert_eq!(get(), DEFAULT, "nobody changed the options in this run");
    }
}
