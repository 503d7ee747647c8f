//! Data-cache maintenance by virtual address, for buffers a DMA master
//! reads (clean first) or writes (invalidate after). Under QEMU caches are
//! not modelled; on the board they are on and this is required.
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

/// Write dirty lines of `buf` to memory (before a device reads it).
pub fn clean(buf: &[u8]) {
    // SAFETY: `dc cvac` on addresses of a live slice only writes back lines.
    by_line(buf.as_ptr() as usize, buf.len(), |a| unsafe { core::arch::asm!("dc cvac, {0}", in(reg) a) });
}

/// Write the lines holding `x` to memory, for an observer that reads it
/// with its caches off (a secondary core before its MMU is on).
pub fn clean_object<T>(x: &T) {
    // SAFETY: `dc cvac` on the lines of a live object only writes back.
    by_line(x as *const T as usize, core::mem::size_of::<T>(), |a| unsafe { core::arch::asm!("dc cvac, {0}", in(reg) a) });
}

/// Drop cached lines of `buf` (after a device wrote it). The buffer must
/// be cache-line aligned in start and length, or neighbours could be lost.
pub fn invalidate(buf: &mut [u8]) {
    debug_assert!(buf.as_ptr() as usize % line() == 0 && buf.len() % line() == 0);
    // SAFETY: `dc ivac` on lines wholly owned by this exclusive slice.
    by_line(buf.as_ptr() as usize, buf.len(), |a| unsafe { core::arch::asm!("dc ivac, {0}", in(reg) a) });
}
