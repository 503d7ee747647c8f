//! Data-cache maintenance by virtual address, for buffers a DMA master
//! reads (clean first) or writes (invalidate after). Under QEMU caches are
//! not modelled; on the board they are on and this is required.
//!
//! Both use DC CIVAC (clean and invalidate to the point of coherency), as
//! Xilinx's xil_cache.c does for Xil_DCacheFlushRange and, since v7.0, for
//! Xil_DCacheInvalidateRange:
//! - a plain clean (DC CVAC) is exposed to Cortex-A53 erratum 855873 ("an
//!   eviction might overtake a cache clean operation", r0p3/r0p4): the line
//!   can reach memory older than what the clean should have written, and
//!   the DMA master reads stale data. CIVAC is the erratum's software
//!   workaround (the other, CPUACTLR_EL1.ENDCCASCI, is per-core init);
//! - a plain invalidate (DC IVAC) drops a dirty line: a neighbour sharing
//!   the first or last line of an unaligned buffer would lose its data.
//!   CIVAC writes it back first. A line the CPU dirtied inside the buffer
//!   is written back too, which is why outputs are invalidated before the
//!   device writes them as well as after.
/// Smallest data cache line in bytes (CTR_EL0.DminLine is log2 of words).
pub fn line() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr) };
    4 << ((ctr >> 16) & 0xf)
}

fn by_line(addr: usize, len: usize, mut op: impl FnMut(usize)) {
    let l = line();
    let mut a = addr & !(l - 1);
    while a < addr + len {
        op(a);
        a += l;
    }
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
}

fn clean_invalidate_line(a: usize) {
    // SAFETY: `dc civac` writes back a dirty line and drops it; memory
    // contents end up as the CPU last wrote them, so no data is lost.
    unsafe { core::arch::asm!("dc civac, {0}", in(reg) a) };
}

/// Write dirty lines of `buf` to memory (before a device reads it).
pub fn clean(buf: &[u8]) {
    by_line(buf.as_ptr() as usize, buf.len(), clean_invalidate_line);
}

/// Drop cached lines of `buf` (before and after a device writes it). The
/// buffer should be cache-line aligned in start and length: a neighbour's
/// data in a shared line is kept, but the write-back can land over what
/// the device wrote there.
pub fn invalidate(buf: &mut [u8]) {
    debug_assert!(buf.as_ptr() as usize % line() == 0 && buf.len() % line() == 0);
    by_line(buf.as_ptr() as usize, buf.len(), clean_invalidate_line);
}
