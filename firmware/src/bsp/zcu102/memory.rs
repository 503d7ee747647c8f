//! The memory map, read from the symbols of `linker/zcu102.ld` (the only
//! place the numbers are written).
use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering};

const _: () = assert!(cfg!(target_endian = "little"), "DDR maps are little-endian INT16");

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
}

/// The DDR arena: one value owns every buffer region and hands them out as
/// borrows, so the borrow checker proves that no two users write the same
/// buffer (the accelerator and the other cores included: a job borrows its
/// slice for as long as it runs). The heap region is not among them: the
/// allocator owns it from boot.
pub struct Arena {
    _owner: (),
}

static ARENA_TAKEN: AtomicBool = AtomicBool::new(false);

/// Every buffer region of the arena at once, each its own borrow.
pub struct Buffers<'a> {
    pub model: &'a mut [u8],
    pub image_file: &'a mut [u8],
    pub image_decode: &'a mut [u8],
    pub input_map: &'a mut [u8],
    pub fm_ping: &'a mut [u8],
    pub fm_pong: &'a mut [u8],
    pub latent: &'a mut [u8],
    pub output: &'a mut [u8],
}

impl<'a> Buffers<'a> {
    /// Move region `r`'s borrow out (for as long as the arena is lent),
    /// so that several regions, named by the caller, can be used at once.
    /// Each region can be taken once.
    pub fn take(&mut self, r: ArenaRegion) -> &'a mut [u8] {
        let taken = core::mem::take(match r {
            ArenaRegion::ModelFile => &mut self.model,
            ArenaRegion::ImageFile => &mut self.image_file,
            ArenaRegion::ImageDecode => &mut self.image_decode,
            ArenaRegion::InputMap => &mut self.input_map,
            ArenaRegion::FmPing => &mut self.fm_ping,
            ArenaRegion::FmPong => &mut self.fm_pong,
            ArenaRegion::Latent => &mut self.latent,
            ArenaRegion::Output => &mut self.output,
            ArenaRegion::Heap => panic!("{}", HEAP_IS_THE_ALLOCATORS),
        });
        assert!(!taken.is_empty(), "the {} region was taken twice", r.name());
        taken
    }

    /// One region to read and another to write.
    pub fn read_write(mut self, read: ArenaRegion, write: ArenaRegion) -> (&'a [u8], &'a mut [u8]) {
        assert_ne!(read, write, "a buffer cannot be read and written as two borrows");
        (self.take(read), self.take(write))
    }
}

const HEAP_IS_THE_ALLOCATORS: &str = "the heap region belongs to the allocator, not to the arena";

impl Arena {
    /// The arena, once: later calls return `None` (the console takes it at
    /// boot; unit tests share one through `test_support`).
    pub fn take() -> Option<Arena> {
        (!ARENA_TAKEN.swap(true, Ordering::AcqRel)).then_some(Arena { _owner: () })
    }

    fn raw(r: ArenaRegion) -> (*mut u8, usize) {
        assert!(r != ArenaRegion::Heap, "{}", HEAP_IS_THE_ALLOCATORS);
        let range = r.range();
        (range.start as *mut u8, (range.end - range.start) as usize)
    }

    /// Region `r`, to read.
    pub fn bytes(&self, r: ArenaRegion) -> &[u8] {
        let (p, n) = Self::raw(r);
        // SAFETY: the linker script reserves the arena for these buffers
        // and the MMU maps it as normal memory; `Arena` is unique (`take`)
        // and this shared borrow of it excludes every mutable one.
        unsafe { core::slice::from_raw_parts(p, n) }
    }

    /// Region `r`, to write.
    pub fn bytes_mut(&mut self, r: ArenaRegion) -> &mut [u8] {
        let (p, n) = Self::raw(r);
        // SAFETY: as above; the exclusive borrow of the unique `Arena`
        // makes this the only live reference into the arena.
        unsafe { core::slice::from_raw_parts_mut(p, n) }
    }

    /// Every buffer region at once, each its own borrow (regions are
    /// disjoint: a unit test checks the map).
    pub fn buffers(&mut self) -> Buffers<'_> {
        let part = |r: ArenaRegion| {
            let (p, n) = Self::raw(r);
            // SAFETY: disjoint regions of the unique arena, each handed out
            // once here under the exclusive borrow of `self`.
            unsafe { core::slice::from_raw_parts_mut(p, n) }
        };
        Buffers {
            model: part(ArenaRegion::ModelFile),
            image_file: part(ArenaRegion::ImageFile),
            image_decode: part(ArenaRegion::ImageDecode),
            input_map: part(ArenaRegion::InputMap),
            fm_ping: part(ArenaRegion::FmPing),
            fm_pong: part(ArenaRegion::FmPong),
            latent: part(ArenaRegion::Latent),
            output: part(ArenaRegion::Output),
        }
    }
}

/// An INT16 map in DDR (little-endian, as the accelerator writes it) as
/// values. The arena's regions start on MiB boundaries.
pub fn as_i16(bytes: &[u8]) -> &[i16] {
    assert!(bytes.as_ptr() as usize % 2 == 0 && bytes.len() % 2 == 0, "INT16 map not 2-byte aligned");
    // SAFETY: aligned and sized for i16 (checked), every bit pattern is a
    // valid i16, and the target is little-endian like the DDR layout.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr() as *const i16, bytes.len() / 2) }
}

/// As [`as_i16`], to write.
pub fn as_i16_mut(bytes: &mut [u8]) -> &mut [i16] {
    assert!(bytes.as_ptr() as usize % 2 == 0 && bytes.len() % 2 == 0, "INT16 map not 2-byte aligned");
    // SAFETY: as above; the exclusive borrow carries over.
    unsafe { core::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut i16, bytes.len() / 2) }
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
    fn the_arena_has_one_owner_and_lends_each_region_as_mapped() {
        crate::test_support::with_arena(|arena| {
            assert!(Arena::take().is_none(), "a second owner");
            let at = |s: &[u8]| (s.as_ptr() as u64, s.len() as u64);
            for r in ArenaRegion::ALL.into_iter().filter(|&r| r != ArenaRegion::Heap) {
                let range = r.range();
                assert_eq!(at(arena.bytes(r)), (range.start, range.end - range.start), "{}", r.name());
                let mut b = arena.buffers();
                assert_eq!(at(b.take(r)), (range.start, range.end - range.start), "{}", r.name());
            }
            let (read, write) = arena.buffers().read_write(ArenaRegion::Latent, ArenaRegion::ImageDecode);
            assert_eq!(at(read).0, ArenaRegion::Latent.range().start);
            assert_eq!(at(write).0, ArenaRegion::ImageDecode.range().start);
            let v = as_i16(&arena.bytes(ArenaRegion::FmPing)[..8]);
            assert_eq!(v.len(), 4);
        });
    }

    #[test_case]
    fn the_cosim_window_is_where_the_bridge_serves_the_registers() {
        assert_eq!(cosim_window().start, accel_regs::cosim::REGS as u64);
        assert!(cosim_window().contains(&(accel_regs::cosim::INFO as u64 + 64)));
    }
}
