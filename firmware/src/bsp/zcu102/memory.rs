//! The memory map, read from the symbols of `linker/zcu102.ld` (the only
//! place the numbers are written).
use core::ops::Range;

macro_rules! sym {
    ($s:ident) => {
        {
            let v: u64;
            // SAFETY: loads the symbol's absolute value into a register; no
            // memory is accessed. (ADRP would not reach the high-DDR
            // symbols, which lie above 4 GiB.)
            unsafe {
                core::arch::asm!(
                    concat!(
                        "movz {0}, #:abs_g3:", stringify!($s), "\n",
                        "movk {0}, #:abs_g2_nc:", stringify!($s), "\n",
                        "movk {0}, #:abs_g1_nc:", stringify!($s), "\n",
                        "movk {0}, #:abs_g0_nc:", stringify!($s)
                    ),
                    out(reg) v,
                    options(pure, nomem, nostack)
                )
            };
            v
        }
    };
}

pub fn ddr_low() -> Range<u64> { sym!(__ddr_low_start)..sym!(__ddr_low_end) }
pub fn ddr_high() -> Range<u64> { sym!(__ddr_high_start)..sym!(__ddr_high_end) }
pub fn pl_window() -> Range<u64> { sym!(__pl_window_start)..sym!(__pl_window_end) }
pub fn peripherals() -> Range<u64> { sym!(__periph_start)..sym!(__periph_end) }
pub fn null_guard() -> Range<u64> { 0..sym!(__null_guard_end) }
/// The first part of low DDR, mapped with 4 KiB pages (image, stacks, guards).
pub fn firmware_region() -> Range<u64> { sym!(__fw_region_start)..sym!(__fw_region_end) }
/// Large buffers: weights, feature maps, card I/O.
pub fn arena() -> Range<u64> { sym!(__arena_start)..sym!(__arena_end) }
/// Register window of the co-simulated accelerator (QEMU only).
pub fn cosim_window() -> Range<u64> { sym!(__cosim_window_start)..sym!(__cosim_window_end) }
pub fn image() -> Range<u64> { sym!(__image_start)..sym!(__image_end) }
pub fn text() -> Range<u64> { sym!(__image_start)..sym!(__text_end) }
pub fn rodata() -> Range<u64> { sym!(__rodata_start)..sym!(__rodata_end) }
pub fn bss() -> Range<u64> { sym!(__bss_start)..sym!(__bss_end) }
pub fn stacks() -> Range<u64> { sym!(__stacks_start)..sym!(__stacks_end) }

/// Which stack a guard page belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackKind {
    /// SP_EL1, used while handling exceptions.
    Exception,
    /// SP_EL0, the stack all normal code runs on.
    Main,
}

impl StackKind {
    pub fn name(self) -> &'static str {
        match self {
            StackKind::Exception => "exception",
            StackKind::Main => "main",
        }
    }
}

/// Layout of one core's stacks: `[guard][exception][guard][main]`.
#[derive(Clone, Copy, Debug)]
pub struct CoreStacks {
    pub base: u64,
    pub guard: u64,
    pub exception: u64,
    pub main: u64,
}

impl CoreStacks {
    pub fn of(core: usize) -> Self {
        CoreStacks {
            base: sym!(__stacks_start) + core as u64 * sym!(__core_stacks_size),
            guard: sym!(__stack_guard_size),
            exception: sym!(__exc_stack_size),
            main: sym!(__main_stack_size),
        }
    }
    pub fn exception_guard(&self) -> Range<u64> { self.base..self.base + self.guard }
    pub fn exception_stack(&self) -> Range<u64> {
        let s = self.base + self.guard;
        s..s + self.exception
    }
    pub fn main_guard(&self) -> Range<u64> {
        let s = self.exception_stack().end;
        s..s + self.guard
    }
    pub fn main_stack(&self) -> Range<u64> {
        let s = self.main_guard().end;
        s..s + self.main
    }
}

/// If `addr` lies in a stack guard, whose it is.
pub fn stack_guard_owner(addr: u64) -> Option<(usize, StackKind)> {
    (0..crate::arch::aarch64::cpu::NUM_CORES).find_map(|core| {
        let s = CoreStacks::of(core);
        if s.main_guard().contains(&addr) {
            Some((core, StackKind::Main))
        } else if s.exception_guard().contains(&addr) {
            Some((core, StackKind::Exception))
        } else {
            None
        }
    })
}

/// Fixed regions of the arena. Sizes cover the largest image the
/// accelerator takes (4096 x 4096; a unit test checks every layer's map
/// against them), and every region starts on a 1 MiB boundary, so the
/// accelerator's 16-byte words and the cache lines never straddle two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaRegion {
    /// The model package as read from the card; the accelerator reads
    /// weights and per-channel tables from it in place.
    ModelFile,
    /// An image file as read from the card.
    ImageFile,
    /// The decoded pixels of that image (up to 4096 x 4096 RGBA plus the
    /// PNG row filter bytes).
    ImageDecode,
    /// The accelerator's input map of that image (INT16, 8 lanes).
    InputMap,
    /// The heap (`alloc`): the PNG encoder's buffers.
    Heap,
    /// Feature maps between layers, alternately (ping-pong).
    FmPing,
    FmPong,
    /// ana_2's output: the rounded latent, kept for `verify` and the card.
    Latent,
    /// syn_2's output: the reconstruction before cropping.
    Output,
}

impl ArenaRegion {
    const MIB: u64 = 1 << 20;
    pub fn range(self) -> Range<u64> {
        let a = arena().start;
        match self {
            ArenaRegion::ModelFile => a..a + 16 * Self::MIB,
            ArenaRegion::ImageFile => a + 16 * Self::MIB..a + 48 * Self::MIB,
            ArenaRegion::ImageDecode => a + 48 * Self::MIB..a + 128 * Self::MIB,
            ArenaRegion::InputMap => a + 128 * Self::MIB..a + 400 * Self::MIB,
            ArenaRegion::Heap => a + 400 * Self::MIB..a + 528 * Self::MIB,
            ArenaRegion::FmPing => a + 528 * Self::MIB..a + 784 * Self::MIB,
            ArenaRegion::FmPong => a + 784 * Self::MIB..a + 1040 * Self::MIB,
            ArenaRegion::Latent => a + 1040 * Self::MIB..a + 1056 * Self::MIB,
            ArenaRegion::Output => a + 1056 * Self::MIB..a + 1312 * Self::MIB,
        }
    }

    pub const ALL: [ArenaRegion; 9] = [
        ArenaRegion::ModelFile,
        ArenaRegion::ImageFile,
        ArenaRegion::ImageDecode,
        ArenaRegion::InputMap,
        ArenaRegion::Heap,
        ArenaRegion::FmPing,
        ArenaRegion::FmPong,
        ArenaRegion::Latent,
        ArenaRegion::Output,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ArenaRegion::ModelFile => "model",
            ArenaRegion::ImageFile => "image file",
            ArenaRegion::ImageDecode => "PNG decode",
            ArenaRegion::InputMap => "input map",
            ArenaRegion::Heap => "heap",
            ArenaRegion::FmPing => "fmap ping",
            ArenaRegion::FmPong => "fmap pong",
            ArenaRegion::Latent => "latent",
            ArenaRegion::Output => "output",
        }
    }

    /// The region as bytes.
    ///
    /// # Safety
    /// Only one slice of a region may be alive at a time (the console
    /// holds it for one command).
    pub unsafe fn bytes(self) -> &'static mut [u8] {
        let r = self.range();
        // SAFETY: the arena is reserved by the linker script for these
        // buffers and mapped normal memory; exclusivity is the caller's.
        unsafe { core::slice::from_raw_parts_mut(r.start as *mut u8, (r.end - r.start) as usize) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn arena_regions_are_disjoint_aligned_and_inside_the_arena() {
        let arena = arena();
        for (i, a) in ArenaRegion::ALL.iter().enumerate() {
            let r = a.range();
            assert!(arena.start <= r.start && r.end <= arena.end, "{} outside the arena", a.name());
            assert!(r.start % (1 << 20) == 0, "{} not MiB-aligned", a.name());
            for b in &ArenaRegion::ALL[i + 1..] {
                let q = b.range();
                assert!(r.end <= q.start || q.end <= r.start, "{} overlaps {}", a.name(), b.name());
            }
        }
    }

    #[test_case]
    fn the_cosim_window_is_where_the_bridge_serves_the_registers() {
        assert_eq!(cosim_window().start, accel_regs::cosim::REGS as u64);
        assert!(cosim_window().contains(&(accel_regs::cosim::INFO as u64 + 64)));
    }
}
