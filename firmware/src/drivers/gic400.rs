//! ARM GIC-400 (GICv2), only as far as the cores need it to wake each
//! other: software-generated interrupts (SGIs) that end a core's `wfi`.
//! No interrupt is ever taken (PSTATE.I stays masked): a pending SGI wakes
//! `wfi` all the same (ARM ARM D1.16.2, "WFI wake-up events"), and the
//! woken core acknowledges it by reading GICC_IAR and writing GICC_EOIR.
//!
//! Why not `wfe`/`sev`: QEMU implements `wfe` as a yield that keeps the
//! host thread busy, so three idle cores would each burn a host CPU; `wfi`
//! really sleeps there, as it does on the board.
//!
//! Programming follows the GICv2 architecture specification (IHI 0048B):
//! 4.3.1 GICD_CTLR, 4.3.11 GICD_IPRIORITYRn (banked per core for SGIs and
//! PPIs), 4.3.15 GICD_SGIR, 4.4.1 GICC_CTLR, 4.4.2 GICC_PMR, 4.4.4 GICC_IAR,
//! 4.4.5 GICC_EOIR. All interrupts stay in Group 0, which is signalled as
//! IRQ while GICC_CTLR.FIQEn is 0.
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::register_structs;

register_structs! {
    /// Distributor (the part this firmware uses).
    pub Distributor {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x100 => isenabler0: ReadWrite<u32>),
        (0x104 => _reserved1),
        (0x400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x420 => _reserved2),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => @END),
    }
}

register_structs! {
    /// CPU interface (banked: each core sees its own).
    pub CpuInterface {
        (0x00 => ctlr: ReadWrite<u32>),
        (0x04 => pmr: ReadWrite<u32>),
        (0x08 => bpr: ReadWrite<u32>),
        (0x0c => iar: ReadOnly<u32>),
        (0x10 => eoir: WriteOnly<u32>),
        (0x14 => @END),
    }
}

/// The SGI the cores wake each other with.
pub const WAKE_SGI: u32 = 0;
/// Its priority (lower is more urgent) and the mask that lets it through.
const WAKE_PRIORITY: u32 = 0x80;
const PRIORITY_MASK: u32 = 0xf0;
/// GICC_IAR's interrupt ID when nothing is pending.
const SPURIOUS: u32 = 1023;

/// Handle on the GIC; stateless (the state is in the device), so every
/// core can open its own.
#[derive(Clone, Copy)]
pub struct Gic400 {
    dist: usize,
    cpu: usize,
}

impl Gic400 {
    /// # Safety
    /// `dist` and `cpu` must be the GIC-400's distributor and CPU
    /// interface, mapped as device memory.
    pub const unsafe fn new(dist: usize, cpu: usize) -> Self {
        Gic400 { dist, cpu }
    }

    fn d(&self) -> &Distributor {
        // SAFETY: `new`'s contract: the distributor's registers live here.
        unsafe { &*(self.dist as *const Distributor) }
    }

    fn c(&self) -> &CpuInterface {
        // SAFETY: `new`'s contract: the CPU interface lives here.
        unsafe { &*(self.cpu as *const CpuInterface) }
    }

    /// Once, on core 0: enable the distributor for Group 0.
    pub fn init_distributor(&self) {
        self.d().ctlr.set(1);
    }

    /// On each core, for itself: give the wake-up SGI a priority the mask
    /// lets through, enable it, and enable the CPU interface.
    pub fn init_this_core(&self) {
        let word = (WAKE_SGI / 4) as usize;
        let shift = 8 * (WAKE_SGI % 4);
        let r = &self.d().ipriorityr[word];
        r.set((r.get() & !(0xff << shift)) | (WAKE_PRIORITY << shift));
        // SGIs are always enabled on the GIC-400 (the bits read as one);
        // setting the bit is harmless where they are not.
        self.d().isenabler0.set(1 << WAKE_SGI);
        self.c().pmr.set(PRIORITY_MASK);
        self.c().bpr.set(0);
        self.c().ctlr.set(1);
    }

    /// Make the wake-up SGI pending on core `target`. The caller has made
    /// what the target should see visible first (`dsb`): the GIC write is
    /// a device access, not ordered with normal memory by itself.
    pub fn wake(&self, target: usize) {
        // TargetListFilter 0 (use the list), CPUTargetList bit per core,
        // NSATT 0 (Group 0).
        self.d().sgir.set((1 << (16 + target)) | WAKE_SGI);
    }

    /// Acknowledge and complete every pending interrupt of this core;
    /// returns how many there were.
    pub fn acknowledge_all(&self) -> usize {
        let mut n = 0;
        loop {
            let iar = self.c().iar.get();
            if iar & 0x3ff == SPURIOUS {
                return n;
            }
            self.c().eoir.set(iar);
            n += 1;
        }
    }

    /// Interrupt lines the distributor implements (GICD_TYPER.ITLinesNumber).
    pub fn lines(&self) -> usize {
        32 * ((self.d().typer.get() & 0x1f) as usize + 1)
    }
}
