//! NEON (Advanced SIMD) kernels of the CPU engine: every `unsafe` use of
//! `core::arch::aarch64` (intrinsics, raw loads, the `smull`/`smlal2`/
//! `sadalp` assembly) is here, behind safe functions that check their
//! slices' bounds and alignment once per call; `cpu_engine` calls only
//! those.
//!
//! The intrinsics only compute on registers: NEON is in the target's
//! baseline features (aarch64-unknown-none enables it; every Cortex-A53
//! has Advanced SIMD, A53 TRM 1.3) and FP/SIMD access is enabled by boot.s
//! (CPACR_EL1.FPEN) on every core before any Rust code runs.
use core::arch::aarch64::*;

/// INT16 values per 16-byte word of the DDR layouts (reference::LANES).
const LANES: usize = xlic_model::reference::LANES;

/// An exact accumulator: two 64-bit lanes, summed by [`total`].
pub type Acc = int64x2_t;

/// A zero accumulator.
#[inline(always)]
pub fn zero() -> int64x2_t {
    // SAFETY: NEON is in the target's baseline features (aarch64-unknown-none
    // enables it; every A53 has it); the intrinsic only computes.
    unsafe { vdupq_n_s64(0) }
}

/// The sum of an accumulator's two lanes.
#[inline(always)]
pub fn total(v: int64x2_t) -> i64 {
    // SAFETY: as for `zero`.
    unsafe { vaddvq_s64(v) }
}

/// Load 8 INT16 values (one 16-byte word of the DDR layouts).
///
/// # Safety
/// `p..p + 8` must be inside one live slice of i16, and `p` 16-byte
/// aligned. (Aligned, the compiler emits one `ldr q`: the target is built
/// with strict alignment, under which it splits `vld1q_s16` of a 2-byte
/// aligned pointer into eight halfword loads.)
#[inline(always)]
unsafe fn load8(p: *const i16) -> int16x8_t {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::read(p as *const int16x8_t) }
}

/// `acc[co] += sum over taps j and lanes l of w[j][co][l] * x[j][l]`, with
/// `x[j]` at `x + j * x_step` (its absolute values if `ABS`) and `w[j][co]`
/// at `w + j * w_step + co * 8`. Returns whether an `ABS` input held
/// -32768, whose absolute value an INT16 lane cannot hold (the caller then
/// recomputes that pixel exactly).
///
/// # Safety
/// Every `x + j * x_step .. + 8` and `w + j * w_step + co * 8 .. + 8` for
/// `j < count`, `co < N` must lie inside the input and weight slices, and
/// be 16-byte aligned.
#[inline(always)]
unsafe fn mac_taps_raw<const N: usize, const ABS: bool>(acc: &mut [int64x2_t; N], x: *const i16, x_step: usize, w: *const i16, w_step: usize, count: usize) -> bool {
    if N == 16 && count > 0 {
        let acc: &mut [int64x2_t; 16] = acc.as_mut_slice().try_into().unwrap();
        // SAFETY: the caller's contract, for N = 16.
        return unsafe { mac16::<ABS>(acc, x, x_step, w, w_step, count) };
    }
    let min = vdupq_n_s16(i16::MIN);
    let mut any_min = vdupq_n_u16(0);
    for j in 0..count {
        // SAFETY: inside the slices by the caller's contract.
        let mut xv = unsafe { load8(x.add(j * x_step)) };
        if ABS {
            any_min = vorrq_u16(any_min, vceqq_s16(xv, min));
            xv = vabsq_s16(xv);
        }
        // SAFETY: an offset inside the weights by the caller's contract.
        let (xl, wp) = (vget_low_s16(xv), unsafe { w.add(j * w_step) });
        for (co, a) in acc.iter_mut().enumerate() {
            // SAFETY: as above (co < N).
            let wv = unsafe { load8(wp.add(co * LANES)) };
            let p = vmlal_high_s16(vmull_s16(vget_low_s16(wv), xl), wv, xv);
            *a = vpadalq_s32(*a, p);
        }
    }
    ABS && vmaxvq_u16(any_min) != 0
}

/// [`mac_taps_raw`] for 16 output channels, in assembly: the compiler, left
/// to schedule 16 accumulators itself, hoists all 16 weight vectors and
/// products and spills. Here the 16 accumulators stay in v16-v31 and each
/// tap is one input load, four 64-byte weight loads and four rounds of
/// four interleaved smull / smlal2 / sadalp chains (independent, so the
/// in-order A53 need not wait on each result): 56 instructions per 128
/// MACs with the loop.
///
/// # Safety
/// As [`mac_taps_raw`] with N = 16, and `count > 0`.
#[inline(always)]
unsafe fn mac16<const ABS: bool>(acc: &mut [int64x2_t; 16], x: *const i16, x_step: usize, w: *const i16, w_step: usize, count: usize) -> bool {
    // Four output channels: their weights in v1-v4, the input in v0, into
    // the accumulators named (four independent chains, interleaved).
    macro_rules! four_channels {
        ($a:literal, $b:literal, $c:literal, $d:literal) => {
            concat!(
                "smull v5.4s, v1.4h, v0.4h\n", "smull v6.4s, v2.4h, v0.4h\n", "smull v7.4s, v3.4h, v0.4h\n",
                "smlal2 v5.4s, v1.8h, v0.8h\n", "smull v1.4s, v4.4h, v0.4h\n", "smlal2 v6.4s, v2.8h, v0.8h\n",
                "smlal2 v7.4s, v3.8h, v0.8h\n", "smlal2 v1.4s, v4.8h, v0.8h\n",
                "sadalp v", $a, ".2d, v5.4s\n", "sadalp v", $b, ".2d, v6.4s\n", "sadalp v", $c, ".2d, v7.4s\n", "sadalp v", $d, ".2d, v1.4s",
            )
        };
    }
    macro_rules! kernel {
        ($load_x:literal) => {
            // SAFETY: reads only the words the caller vouches for (count
            // taps of 8 input values and 16 x 8 weights each) and writes
            // only the named registers.
            unsafe {
                let mut any_min = vdupq_n_u16(0);
                core::arch::asm!(
                    "2:",
                    $load_x,
                    "ld1 {{v1.8h, v2.8h, v3.8h, v4.8h}}, [{w}], #64",
                    four_channels!(16, 17, 18, 19),
                    "ld1 {{v1.8h, v2.8h, v3.8h, v4.8h}}, [{w}], #64",
                    four_channels!(20, 21, 22, 23),
                    "ld1 {{v1.8h, v2.8h, v3.8h, v4.8h}}, [{w}], #64",
                    four_channels!(24, 25, 26, 27),
                    "ld1 {{v1.8h, v2.8h, v3.8h, v4.8h}}, [{w}], {wrest}",
                    four_channels!(28, 29, 30, 31),
                    "subs {n}, {n}, #1",
                    "b.ne 2b",
                    x = inout(reg) x => _,
                    xstep = in(reg) x_step * 2,
                    w = inout(reg) w => _,
                    // After three 64-byte loads, on to the next tap's weights.
                    wrest = in(reg) w_step * 2 - 192,
                    n = inout(reg) count => _,
                    in("v9") vdupq_n_s16(i16::MIN),
                    inout("v10") any_min,
                    out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _, out("v8") _,
                    inout("v16") acc[0], inout("v17") acc[1], inout("v18") acc[2], inout("v19") acc[3],
                    inout("v20") acc[4], inout("v21") acc[5], inout("v22") acc[6], inout("v23") acc[7],
                    inout("v24") acc[8], inout("v25") acc[9], inout("v26") acc[10], inout("v27") acc[11],
                    inout("v28") acc[12], inout("v29") acc[13], inout("v30") acc[14], inout("v31") acc[15],
                    options(nostack, readonly),
                );
                vmaxvq_u16(any_min) != 0
            }
        };
    }
    if ABS {
        // |x| in INT16, and a flag in v10 for any -32768 (whose |x| wraps).
        kernel!("ldr q0, [{x}]\nadd {x}, {x}, {xstep}\ncmeq v8.8h, v0.8h, v9.8h\norr v10.16b, v10.16b, v8.16b\nabs v0.8h, v0.8h")
    } else {
        kernel!("ldr q0, [{x}]\nadd {x}, {x}, {xstep}")
    }
}


/// `acc[co] += sum over taps j < count and lanes l of w[j][co][l] * x[j][l]`,
/// with `x[j]` the 8 values at `x[x_at + j * x_step ..]` (their absolute
/// values if `ABS`) and `w[j][co]` those at `w[w_at + j * w_step + co * 8 ..]`.
/// Returns whether an `ABS` input held -32768 (the caller recomputes that
/// pixel exactly). Panics if a tap reads outside `x` or `w`, or a word is
/// not 16-byte aligned: the checks the kernels rely on.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn mac_taps<const N: usize, const ABS: bool>(acc: &mut [Acc; N], x: &[i16], x_at: usize, x_step: usize, w: &[i16], w_at: usize, w_step: usize, count: usize) -> bool {
    if count == 0 {
        return false;
    }
    let last = count - 1;
    assert!(x_at + last * x_step + LANES <= x.len(), "NEON kernel: input taps beyond the input");
    assert!(w_at + last * w_step + N * LANES <= w.len(), "NEON kernel: weight taps beyond the weights");
    let aligned = |p: *const i16, at: usize, step: usize| (p as usize + 2 * at) % 16 == 0 && (2 * step) % 16 == 0;
    assert!(aligned(x.as_ptr(), x_at, x_step) && aligned(w.as_ptr(), w_at, w_step), "NEON kernel: a word not on 16 bytes");
    // SAFETY: checked just above: every tap's 8 input values and N x 8
    // weights lie inside `x` and `w` (the largest offsets are the last
    // tap's), and each word starts on 16 bytes.
    unsafe { mac_taps_raw::<N, ABS>(acc, x.as_ptr().add(x_at), x_step, w.as_ptr().add(w_at), w_step, count) }
}
