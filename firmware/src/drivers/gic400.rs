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
    /// Distributor (the part this firmware uses). The first word of each
    /// bit array (interrupts 0-31: SGIs and PPIs) is banked per core.
    pub Distributor {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => ispendr: [ReadWrite<u32>; 32]),
        (0x280 => icpendr: [ReadWrite<u32>; 32]),
        (0x300 => isactiver: [ReadWrite<u32>; 32]),
        (0x380 => icactiver: [ReadWrite<u32>; 32]),
        (0x400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x420 => _reserved2),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => _reserved3),
        (0xf10 => cpendsgir: [ReadWrite<u32>; 4]),
        (0xf20 => spendsgir: [ReadWrite<u32>; 4]),
        (0xf30 => @END),
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
        (0x14 => _reserved0),
        (0xd0 => apr0: ReadWrite<u32>),
        (0xd4 => @END),
    }
}

/// The SGI the cores wake each other with.
pub const WAKE_SGI: u32 = 0;
/// The virtual timer's PPI (ZynqMP UG1085, "Interrupt Controller": PPI 27),
/// with which a core bounds its own `wfi` (`time::wake_after`).
pub const TIMER_PPI: u32 = 27;
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

    /// Once, on core 0, before any secondary is released: clear what a
    /// loader or an earlier run left in the distributor (an FSBL, U-Boot
    /// or a firmware that was reset mid-job may leave interrupts enabled,
    /// pending or active), then enable it for Group 0. GICv2 (IHI 0048B)
    /// 4.3.1 GICD_CTLR: the distributor is disabled while it is changed;
    /// 4.3.6/4.3.8/4.3.10 GICD_ICENABLERn/ICPENDRn/ICACTIVERn clear the
    /// shared interrupts (32 and up; the first word is banked per core and
    /// each core clears its own in `init_this_core`).
    pub fn init_distributor(&self) {
        let d = self.d();
        d.ctlr.set(0);
        let words = self.lines() / 32;
        for i in 1..words.min(32) {
            d.icenabler[i].set(!0);
            d.icpendr[i].set(!0);
            d.icactiver[i].set(!0);
        }
        d.ctlr.set(1);
    }

    /// On each core, for itself: clear its banked state left from before
    /// (the same registers' first words for SGIs and PPIs, and the SGIs'
    /// pending bits per source, 4.3.12 GICD_CPENDSGIRn), complete anything
    /// its CPU interface still holds active (an interrupt acknowledged and
    /// never ended would mask every one of equal or lower priority, the
    /// wake-up SGI included, and the core would sleep for good), give the
    /// wake-up SGI and the timer PPI a priority the mask lets through,
    /// enable them and nothing else, and enable the CPU interface.
    pub fn init_this_core(&self) {
        let (d, c) = (self.d(), self.c());
        c.ctlr.set(0);
        d.icenabler[0].set(!0);
        d.icpendr[0].set(!0);
        for r in d.cpendsgir.iter() {
            r.set(!0);
        }
        // 4.4.5 GICC_EOIR: end each interrupt the interface still has
        // active (IDs from the banked GICD_ISACTIVER0; an SGI's source CPU
        // field is left 0, which is what a leftover from this firmware
        // carries), so its running priority drops; the distributor's
        // active bits are then cleared outright (4.3.10). The order of the
        // leftovers' acknowledgement is unknown; what is left shows in
        // GICC_APR0 (4.4.14), which `this_core_state` reports.
        let active = d.isactiver[0].get();
        for id in 0..32 {
            if active & (1 << id) != 0 {
                c.eoir.set(id);
            }
        }
        d.icactiver[0].set(!0);
        for (irq, prio) in [(WAKE_SGI, WAKE_PRIORITY), (TIMER_PPI, WAKE_PRIORITY)] {
            let word = (irq / 4) as usize;
            let shift = 8 * (irq % 4);
            let r = &d.ipriorityr[word];
            r.set((r.get() & !(0xff << shift)) | (prio << shift));
        }
        // SGIs are always enabled on the GIC-400 (the bits read as one);
        // setting the bit is harmless where they are not.
        d.isenabler[0].set((1 << WAKE_SGI) | (1 << TIMER_PPI));
        c.pmr.set(PRIORITY_MASK);
        c.bpr.set(0);
        c.ctlr.set(1);
        self.acknowledge_all();
    }

    /// This core's leftover state as `init_this_core` should have left it:
    /// (enabled, pending, active) bits of interrupts 0-31, GICC_APR0.
    pub fn this_core_state(&self) -> (u32, u32, u32, u32) {
        let d = self.d();
        (d.isenabler[0].get(), d.ispendr[0].get(), d.isactiver[0].get(), self.c().apr0.get())
    }

    /// Enabled and pending shared interrupts (32 and up), for the check
    /// that nothing a loader left stays armed.
    pub fn shared_enabled_or_pending(&self) -> u32 {
        let d = self.d();
        (1..(self.lines() / 32).min(32)).fold(0, |acc, i| acc | d.isenabler[i].get() | d.ispendr[i].get())
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
