// X-LIC accelerator kernel: one layer of bls2017 per start, written for
// Vivado HLS 2019.2 (UG902) so that its hardware reading is unambiguous.
//
// Schedule (all buffer sizes fixed by xlic_config.h; the tile of each layer
// from the tile registers, which the firmware sets from
// xlic_model::perf::plan within xlic_model::layout::Tiling's rules):
//
//   a unit = one tile of the layer's grid x one channel tile
//   a step = one input group of a unit (GDN/IGDN: all groups at once)
//   for each step i (and one more to drain), concurrently:
//     load_input_even, _odd          step i+1's input rows, even and odd,
//                                    on two m_axi ports, into ibuf[other]
//     compute_step                   step i's MAC passes into acc[unit's],
//                                    each pass while the next pass's
//                                    weight block loads (wbuf ping-pong)
//     store_chunk                    the previous unit's output rows
//                                    oy = i (mod steps per unit), from
//                                    the other acc, on two m_axi ports
//
// Each concurrent function has its own m_axi bundle, is called
// unconditionally with an enable flag, and the halves it touches are
// chosen by the call site (manual ping-pong, hls-patterns 2.4(b)).
//
// Banking (hls-patterns 2.1): every partitioned array is indexed on its
// partitioned dimensions by unrolled loop variables only; run-time offsets
// go into the address inside a bank.
//   ibuf[addr][bank k][lane]   bank k holds input plane columns = k mod 16;
//                              a pixel vector reads 16 consecutive columns
//                              starting at any offset: each bank reads its
//                              own address, an alignment rotation (a mux on
//                              registers) puts them in pixel order.
//   acc[addr][pair][co][half]  one bank per output-pixel pair and channel;
//                              every lane of a pass reads and writes its own
//                              bank at one shared address.
//   wbuf[entry][co][lane]      one bank per output channel.
//   xkeep[addr][bank][lane]    GDN inputs: pixel u of group g in bank
//                              u ^ (g & 1), so the store reads two groups
//                              of one pixel from two banks.
//
// Arithmetic: exactly xlic_model::quant (model/PACKAGE.md). MACs are
// 16 x 16 (GDN: 16 x 17, |x| <= 32768) into 48-bit accumulators; the
// format bounds every sum below 2^47 (quant::ACC_BITS). GDN divides with a
// 16-step restoring divider (quant::gdn_out's rule, no wide division).
#include "xlic_layer.h"
#include <hls_stream.h>

#ifndef __SYNTHESIS__
#include <assert.h>
xlic_counts_t xlic_counts;
#define XLIC_ASSERT(c) assert(c)
#else
#define XLIC_ASSERT(c) ((void)0)
#endif

// The MAC array's operands and accumulators, the per-channel parameters
// (xlic_model::quant::ChannelParams, checked by the package parser:
// |bias| <= 2^46, 0 <= mult < 2^15, 0 <= shift <= 62) and the output
// rules. C-simulation uses native integers of the same values by default
// (Xilinx's ap_int is ~40 times slower on the host, and the 768x512 demo
// must stay under a minute); `cargo xtask csim` also builds the testbench
// with XLIC_CSIM_AP, which compiles exactly the types synthesis sees, and
// runs the rules' boundary cases and the random layers through it. The
// values never exceed the widths (asserted below), so the two agree bit
// for bit. (Control values are `int`: the largest map, 4096 x 4096 x 1
// group or 1024 x 1024 x 16, has 2^24 words.)
#if defined(__SYNTHESIS__) || defined(XLIC_CSIM_AP)
#define XLIC_AP_DATAPATH 1
typedef ap_int<16> lane_t;
typedef ap_int<48> acc_t;
typedef ap_int<48> bias_t;
typedef ap_uint<15> mult_t;
typedef ap_uint<6> shift_t;
#else
#define XLIC_AP_DATAPATH 0
typedef int16_t lane_t;
typedef int64_t acc_t;
typedef int64_t bias_t;
typedef int32_t mult_t;
typedef int32_t shift_t;
#endif
typedef ap_int<17> absx_t;  // |x| of GDN: up to 32768
// An accumulator plus a product sum before it is stored: one bit more.
#if XLIC_AP_DATAPATH
typedef ap_int<49> accsum_t;
#else
typedef int64_t accsum_t;
#endif

// One accumulator word: the 48-bit sums of a pixel pair (bits 47..0 the
// even pixel's, 95..48 the odd one's), read and written whole.
#if XLIC_AP_DATAPATH
typedef ap_uint<96> accw_t;
static inline acc_t acc_half(const accw_t &w, int h) {
#pragma HLS INLINE
    return h ? acc_t(w.range(95, 48)) : acc_t(w.range(47, 0));
}
static inline accw_t acc_pair(const acc_t &a, const acc_t &b) {
#pragma HLS INLINE
    accw_t w;
    w.range(47, 0) = a.range(47, 0);
    w.range(95, 48) = b.range(47, 0);
    return w;
}
#else
struct accw_t {
    int64_t h[2];
};
static inline acc_t acc_half(const accw_t &w, int h) { return w.h[h]; }
static inline accw_t acc_pair(const acc_t &a, const acc_t &b) {
    accw_t w = {{a, b}};
    return w;
}
#endif

// Layer kinds of the MAC schedule (xlic_model::layout::TileKind).
enum { KIND_CONV = 0, KIND_PHASES = 1, KIND_POINTWISE = 2 };

// One tap of a MAC call: which weight entry, which input row offset,
// plane and column offset (ex = 16 eq + er), which output phase
// (transposed convolution), which slot offset (folded: the pass), whether
// it is the first tap of its accumulators (which writes them instead of
// adding), and whether it meets no input (a phase without taps: zeros).
struct tap_t {
    ap_uint<7> w;
    ap_uint<8> ey;
    ap_uint<2> plane;
    ap_uint<4> eq;
    ap_uint<6> er;  // up to XLIC_POX - 1 (pox up to 32)
    ap_uint<4> ph;
    ap_uint<5> slot;  // up to XLIC_SLOTS - 1 (16 for pof 8)
    bool first, none;
};

// What one layer's schedule needs, computed once per start.
struct layer_t {
    int op, k, s, ls, cin, cout, in_h, in_w, out_h, out_w;
    int groups, out_groups, kind;
    bool norm, fold, pair;
    int fold_taps, fold_first, fold_channels;
    int passes, cpasses, ctiles, band_rows, lbr, bands, tile_rows, tile_cols;
    int last_rows, last_cols, row_tiles, col_tiles, steps_per_unit, units, steps;
    int planes, lplanes, plane_words, row_stride, scale, grid_h, grid_w;
    int row_words;  // output words per output row: out_groups x out_w
    int n_taps, calls;
    uint32_t status;  // XLIC_STATUS_* code (xlic_layer.h)
};

// Where a step is: its unit's tile and channel tile, and its input group.
struct step_t {
    int index, rt, ct, ctile, g;
    int y0, x0, rows, cols, ch0, npass, unit;
    bool valid;
};

static inline int min_int(int a, int b) { return a < b ? a : b; }
static inline int max_int(int a, int b) { return a > b ? a : b; }

// floor(a / 2^l) for a possibly negative a (arithmetic shift).
static inline int floor_shift(int a, int l) { return a >> l; }

// log2 of a power of two up to 4096 (strides, planes, tile sides).
static inline int log2_small(int v) {
    int l = 0;
log2_loop:
    for (int i = 1; i < 13; i++) {
#pragma HLS UNROLL
        if ((1 << i) <= v) l = i;
    }
    return l;
}

// A bus word from XLIC_LANES INT16 values.
static inline word_t pack(const lane_t v[XLIC_LANES]) {
#pragma HLS INLINE
#if XLIC_AP_DATAPATH
    word_t w;
pack_lanes:
    for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
        w.range(16 * l + 15, 16 * l) = ap_uint<16>(v[l]);
    }
    return w;
#else
    uint64_t half[2] = {0, 0};
    for (int l = 0; l < XLIC_LANES; l++) half[l >> 2] |= (uint64_t)(uint16_t)v[l] << (16 * (l & 3));
    word_t w;
    w.range(63, 0) = half[0];
    w.range(127, 64) = half[1];
    return w;
#endif
}

// The XLIC_LANES INT16 values of a bus word (lane l in bits 16l+15..16l).
static inline void unpack(const word_t &w, lane_t v[XLIC_LANES]) {
#pragma HLS INLINE
#if XLIC_AP_DATAPATH
unpack_lanes:
    for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
        v[l] = (ap_int<16>)w.range(16 * l + 15, 16 * l);
    }
#else
    const uint64_t half[2] = {w.range(63, 0).to_uint64(), w.range(127, 64).to_uint64()};
    for (int l = 0; l < XLIC_LANES; l++) v[l] = (int16_t)(uint16_t)(half[l >> 2] >> (16 * (l & 3)));
#endif
}

// An input plane's offset (plane x plane_words) is two shifted adds in
// put_input and mac_call: planes <= stride <= 4, so a plane index has two
// bits (tap_t::plane is an ap_uint<2>).
#if XLIC_MAX_STRIDE > 4
#error "XLIC_MAX_STRIDE > 4: a plane index needs more than two bits (put_input, mac_call, tap_t::plane)"
#endif

// A transposed convolution's stored tap t (row or column, padding pad)
// serves output phase tap_phase(t) = (pad - t) mod s, and reads the input
// floor((tap_phase(t) + t - pad) / s) rows (columns) from the output's
// grid pixel (xlic_model::geometry::tap_source).
static inline int tap_phase(int t, int pad, int s) {
#pragma HLS INLINE
    return (pad - t) & (s - 1);  // s is a power of two
}

static inline int tap_offset(int t, int pad, int s, int ls) {
#pragma HLS INLINE
    return floor_shift(tap_phase(t, pad, s) + t - pad, ls);
}

// ---------------------------------------------------------------------------
// The layer's schedule (xlic_model::layout::Tiling::with, PhaseFold::of).

static int input_extent(const layer_t &L, int t) {
#pragma HLS INLINE
    if (L.fold) return t + L.fold_taps - 1;
    if (L.kind == KIND_CONV) return (t - 1) * L.s + L.k;
    if (L.kind == KIND_PHASES) return floor_shift(t - 1 + 2 * (L.k / 2), L.ls) + 2;
    return t;
}

// Input columns the buffer holds for `in_cols` DDR columns: pairs of
// columns when a convolution with few input channels pairs them.
static int buffer_cols(const layer_t &L, int in_cols) {
#pragma HLS INLINE
    return L.pair ? (in_cols + 1) >> 1 : in_cols;
}

// Input-buffer words per bank and row parity a rows x cols tile needs.
static int input_words(const layer_t &L, int rows, int cols) {
#pragma HLS INLINE
    const int in_rows = (L.kind == KIND_POINTWISE) ? rows * L.groups : input_extent(L, rows);
    const int plane_cols = (buffer_cols(L, input_extent(L, cols)) + L.planes - 1) >> L.lplanes;
    return ((in_rows + 1) >> 1) * L.planes * ((plane_cols + XLIC_POX - 1) / XLIC_POX);
}

static inline bool pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

// Whether the tile in L (band_rows, bands, tile_cols, cpasses) follows the
// rules (xlic_model::layout::Tiling::needs) and fits the buffers
// (TileNeeds::fits).
static bool tile_fits(const layer_t &L, int row_step, int col_step) {
#pragma HLS INLINE
    const bool all_passes = L.kind == KIND_POINTWISE || L.fold;
    const bool shape = pow2(L.band_rows) && L.band_rows >= row_step && L.band_rows <= 4096 && pow2(L.bands) && L.bands <= 8 &&
                       (L.kind != KIND_POINTWISE || L.bands == 1) && L.tile_cols >= col_step && L.tile_cols <= 4096 &&
                       (L.tile_cols & (col_step - 1)) == 0 && (pow2(L.tile_cols) || L.tile_cols >= L.grid_w) && L.cpasses >= 1 &&
                       L.cpasses <= L.passes && (pow2(L.cpasses) || L.cpasses == L.passes) && (!all_passes || L.cpasses == L.passes);
    if (!shape) return false;
    const int vectors = (L.band_rows * L.tile_cols) / XLIC_POX;
    return vectors <= XLIC_VECS && L.bands * L.cpasses <= XLIC_SLOTS &&
           input_words(L, L.band_rows * L.bands, L.tile_cols) <= XLIC_IN_DEPTH &&
           (L.kind != KIND_POINTWISE || vectors * L.groups <= XLIC_ACC_DEPTH);
}

static layer_t schedule(uint32_t op, uint32_t kernel, uint32_t stride, uint32_t cin, uint32_t cout, uint32_t in_h,
                        uint32_t in_w, uint32_t out_h, uint32_t out_w, uint32_t band_rows, uint32_t bands,
                        uint32_t tile_cols, uint32_t unit_passes) {
    // Once per start, sequential: its run-time multiplies (its helpers
    // inlined) share two multipliers (xlic_model::resources counts 2).
#pragma HLS INLINE off
#pragma HLS ALLOCATION instances=mul limit=2 operation
    layer_t L;
    L.op = (int)op;
    L.norm = op == XLIC_OP_GDN || op == XLIC_OP_IGDN;
    L.k = L.norm ? 1 : (int)kernel;
    L.s = L.norm ? 1 : (int)stride;
    L.ls = log2_small(L.s);
    L.cin = (int)cin, L.cout = (int)cout;
    L.in_h = (int)in_h, L.in_w = (int)in_w, L.out_h = (int)out_h, L.out_w = (int)out_w;
    L.groups = (L.cin + XLIC_LANES - 1) / XLIC_LANES;
    L.out_groups = (L.cout + XLIC_LANES - 1) / XLIC_LANES;
    L.row_words = L.out_groups * L.out_w;
    // The phase fold (xlic_model::layout::PhaseFold::of).
    L.fold = false, L.fold_taps = 0, L.fold_first = 0, L.fold_channels = 0;
    if (op == XLIC_OP_TCONV && L.s > 1) {
        const int pad = L.k / 2;
        const int first = -(pad >> L.ls);
        const int last = floor_shift(L.s + L.k - 2 - pad, L.ls);
        const int taps = last - first + 1, channels = L.s * L.s * L.cout;
        const int ftiles = (channels + XLIC_POF - 1) / XLIC_POF;
        const bool fits = channels <= XLIC_MAX_CHANNELS && ftiles * taps * taps <= XLIC_MAX_TAPS;
        const bool cheaper = taps * taps * ftiles < L.k * L.k * ((L.cout + XLIC_POF - 1) / XLIC_POF);
        if (fits && cheaper) L.fold = true, L.fold_taps = taps, L.fold_first = first, L.fold_channels = channels;
    }
    L.kind = L.norm ? KIND_POINTWISE : (op == XLIC_OP_TCONV && !L.fold) ? KIND_PHASES : KIND_CONV;
    L.scale = L.fold ? L.s : 1;
    L.grid_h = L.fold ? L.in_h : L.out_h, L.grid_w = L.fold ? L.in_w : L.out_w;
    L.passes = ((L.fold ? L.fold_channels : L.cout) + XLIC_POF - 1) / XLIC_POF;
    // Few input channels (the image's 3) fill half a word: two adjacent
    // input columns share one (lanes 0-3 and 4-7), so a pair of kernel
    // columns is one MAC step (xlic_model::layout::Tiling::pair).
    L.pair = L.kind == KIND_CONV && !L.fold && L.cin <= XLIC_LANES / 2 && (L.s == 2 || L.s == 4) && L.k > 1;
    L.planes = (L.kind == KIND_CONV && !L.fold) ? (L.pair ? L.s >> 1 : L.s) : 1;
    L.lplanes = log2_small(L.planes);
    const int row_step = L.kind == KIND_PHASES ? L.s : 1;
    const int col_step = XLIC_POX * row_step;
    // The tile comes from the tile registers: the firmware chooses it per
    // layer (xlic_model::perf::plan) within the rules of
    // xlic_model::layout::Tiling, which tile_fits checks again. Every side
    // is a power of two, or the map's width in one column tile, so the
    // tile counts below are shifts: no divider in the kernel. A tile the
    // buffers cannot hold is refused: the layer runs no step and writes
    // nothing.
    L.band_rows = (int)band_rows, L.bands = (int)bands, L.tile_cols = (int)tile_cols, L.cpasses = (int)unit_passes;
    // The layer registers within what this kernel was built for: a layer
    // outside them is refused like a tile that does not fit.
    const bool side_ok = in_h >= 1 && in_h <= XLIC_MAX_SIDE && in_w >= 1 && in_w <= XLIC_MAX_SIDE && out_h >= 1 &&
                         out_h <= XLIC_MAX_SIDE && out_w >= 1 && out_w <= XLIC_MAX_SIDE;
    const bool conv_ok = L.norm || (kernel >= 1 && kernel <= XLIC_MAX_KERNEL && (kernel & 1) == 1 &&
                                    (stride == 1 || stride == 2 || stride == 4) && stride <= XLIC_MAX_STRIDE);
    const bool layer_ok = op <= XLIC_OP_IGDN && conv_ok && side_ok && cin >= 1 && cin <= XLIC_MAX_CHANNELS && cout >= 1 &&
                          cout <= XLIC_MAX_CHANNELS && (!L.norm || cin == cout);
    const bool fits = layer_ok && tile_fits(L, row_step, col_step);
    L.status = !layer_ok ? XLIC_STATUS_LAYER_REFUSED : !fits ? XLIC_STATUS_TILE_REFUSED : XLIC_STATUS_DONE;
    if (!fits) L.band_rows = row_step, L.bands = 1, L.tile_cols = col_step, L.cpasses = L.passes;
    L.lbr = log2_small(L.band_rows);
    L.tile_rows = L.band_rows * L.bands;
    const int lrows = log2_small(L.tile_rows);
    L.ctiles = L.cpasses == L.passes ? 1 : (L.passes + L.cpasses - 1) >> log2_small(L.cpasses);
    L.row_tiles = (L.grid_h + L.tile_rows - 1) >> lrows;
    L.col_tiles = L.tile_cols >= L.grid_w ? 1 : (L.grid_w + L.tile_cols - 1) >> log2_small(L.tile_cols);
    const int rest_rows = L.grid_h - ((L.row_tiles - 1) << lrows);
    const int rest_cols = L.grid_w - (L.col_tiles - 1) * L.tile_cols;
    L.last_rows = min_int((rest_rows + row_step - 1) & -row_step, L.tile_rows);
    L.last_cols = min_int((rest_cols + col_step - 1) & -col_step, L.tile_cols);
    L.steps_per_unit = L.kind == KIND_POINTWISE ? 1 : L.groups;
    L.units = fits ? L.row_tiles * L.col_tiles * L.ctiles : 0;
    L.steps = L.units * L.steps_per_unit;
    const int plane_cols = (buffer_cols(L, input_extent(L, L.tile_cols)) + L.planes - 1) >> L.lplanes;
    L.plane_words = (plane_cols + XLIC_POX - 1) / XLIC_POX;
    L.row_stride = L.planes * L.plane_words;
    // MAC calls per step: one per pass, or one for all passes of a fold.
    L.calls = L.fold ? 1 : L.cpasses;
    return L;
}

// The taps of one MAC call, in the order they are applied; returns their
// count. Conv: K x K; folded: fold taps^2 per pass, every pass; phases:
// phase by phase; GDN/IGDN: one per input group.
static int build_taps(const layer_t &L, tap_t taps[XLIC_MAX_TAPS]) {
    // Once per start, sequential: two multipliers (the resource model's 2).
#pragma HLS INLINE off
#pragma HLS ALLOCATION instances=mul limit=2 operation
    int n = 0;
    const tap_t blank = {0, 0, 0, 0, 0, 0, 0, false, false};
    if (L.kind == KIND_POINTWISE) {
    taps_norm:
        for (int g = 0; g < L.groups; g++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16
            tap_t t = blank;
            t.w = g, t.ey = g, t.first = g == 0;
            taps[n++] = t;
        }
    } else if (L.kind == KIND_CONV) {
        // A convolution over the grid: stride s (1 when folded), every pass
        // of a fold in one call; paired, column taps 2j and 2j + 1 as one.
        const int kk = L.fold ? L.fold_taps : L.k, fpasses = L.fold ? L.passes : 1;
        const int kcols = L.pair ? (L.k + 1) >> 1 : kk;
    taps_conv:
        for (int p = 0; p < fpasses; p++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=3
            for (int ky = 0; ky < kk; ky++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
                for (int kx = 0; kx < kcols; kx++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
                    tap_t t = blank;
                    const int ex = kx >> L.lplanes;
                    t.w = n, t.ey = ky, t.plane = kx & (L.planes - 1);
                    t.eq = ex / XLIC_POX, t.er = ex % XLIC_POX, t.slot = p, t.first = ky == 0 && kx == 0;
                    taps[n++] = t;
                }
            }
        }
    } else {
        // Phase by phase; offsets relative to the tile's first input row
        // floor((y0 - P) / s), y0 a multiple of s.
        const int pad = L.k / 2, base = floor_shift(-pad, L.ls);
    taps_phases:
        for (int ph = 0; ph < L.s * L.s; ph++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16
            const int py = ph >> L.ls, px = ph & (L.s - 1);
            bool first = true;
            for (int ky = 0; ky < L.k; ky++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
                if (tap_phase(ky, pad, L.s) != py) continue;
                for (int kx = 0; kx < L.k; kx++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
                    if (tap_phase(kx, pad, L.s) != px) continue;
                    tap_t t = blank;
                    const int ex = tap_offset(kx, pad, L.s, L.ls) - base;
                    t.w = ky * L.k + kx, t.ey = tap_offset(ky, pad, L.s, L.ls) - base;
                    t.eq = ex / XLIC_POX, t.er = ex % XLIC_POX, t.ph = ph, t.first = first;
                    taps[n++] = t;
                    first = false;
                }
            }
            if (first) {
                tap_t t = blank;
                t.ph = ph, t.first = true, t.none = true;
                taps[n++] = t;
            }
        }
    }
    return n;
}

// ---------------------------------------------------------------------------
// Steps: (unit, group) in order, by counters (no run-time division).

static void step_fill(const layer_t &L, step_t &st) {
#pragma HLS INLINE
    st.y0 = st.rt * L.tile_rows, st.x0 = st.ct * L.tile_cols;
    st.rows = st.rt + 1 == L.row_tiles ? L.last_rows : L.tile_rows;
    st.cols = st.ct + 1 == L.col_tiles ? L.last_cols : L.tile_cols;
    st.ch0 = st.ctile * L.cpasses * XLIC_POF;
    st.npass = min_int(L.cpasses, L.passes - st.ctile * L.cpasses);
}

static step_t first_step(const layer_t &L) {
#pragma HLS INLINE
    step_t st;
    st.rt = 0, st.ct = 0, st.ctile = 0, st.g = 0, st.unit = 0, st.index = 0;
    st.valid = L.steps > 0;
    step_fill(L, st);
    return st;
}

static step_t next_step(const layer_t &L, step_t st) {
#pragma HLS INLINE
    st.index++;
    st.valid = st.index < L.steps;
    if (++st.g == L.steps_per_unit) {
        st.g = 0, st.unit++;
        if (++st.ctile == L.ctiles) {
            st.ctile = 0;
            if (++st.ct == L.col_tiles) st.ct = 0, st.rt++;
        }
    }
    if (st.valid) step_fill(L, st);
    return st;
}

// Calls (MAC passes) of a step: one per pass of its channel tile, or one
// for all passes of a fold.
static int calls_of(const layer_t &L, const step_t &st) {
#pragma HLS INLINE
    return L.fold ? 1 : st.npass;
}

// ---------------------------------------------------------------------------
// Input: one port's rows of a step's input tile (hls-patterns 2.3). The
// tile's input rows (GDN/IGDN: row x group runs) alternate between the two
// ports: port P loads runs j = P (mod 2) into its own buffer at j / 2, so
// the two ports never write the same memory. Each run is one unconditional
// burst of the words inside the map; the halo outside it is zero-filled on
// chip. Input column x (relative to the run's first; paired: column pair
// x / 2) goes to plane x mod planes, plane column x / planes, bank (plane
// column) mod 16.

// Lanes 0-3 of `lo` and lanes 0-3 of `hi` as one word (a column pair).
static inline word_t pair_word(const word_t &lo, const word_t &hi) {
#pragma HLS INLINE
    word_t w;
    w.range(63, 0) = lo.range(63, 0);
    w.range(127, 64) = hi.range(63, 0);
    return w;
}

static void put_input(lane_t buf[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES], const layer_t &L, int abase, int x, const word_t &w,
                      word_t &hold) {
#pragma HLS INLINE
    // Paired: the even column writes its half, the odd one completes it.
    const int m = L.pair ? x >> 1 : x;
    const word_t v = !L.pair ? w : (x & 1) ? pair_word(hold, w) : pair_word(w, word_t(0));
    hold = w;
    const int pc = m >> L.lplanes, plane = m & (L.planes - 1);
    // plane x plane_words without a multiplier (plane < planes <=
    // XLIC_MAX_STRIDE <= 4: two shifted adds), in the burst loop and both
    // zero fills; mac_call reads with the same two adds.
    const int poff = ((plane & 1) ? L.plane_words : 0) + ((plane & 2) ? L.plane_words << 1 : 0);
    const int addr = abase + poff + pc / XLIC_POX;
    XLIC_ASSERT(addr >= 0 && addr < XLIC_IN_DEPTH);
    const int bank = pc & (XLIC_POX - 1);
    unpack(v, buf[addr][bank]);
}

static void zero_input(lane_t buf[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES], const layer_t &L, int abase, int from, int to,
                       word_t &hold) {
zero_cols:
    for (int x = from; x < to; x++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=0 max=517
        put_input(buf, L, abase, x, word_t(0), hold);
    }
}

// Port P's rows (P constant after inlining into the two wrappers below).
static void load_input_rows(const int P, const word_t *fm, lane_t buf[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES],
                            const layer_t &L, step_t st) {
#pragma HLS INLINE
    const bool pw = L.kind == KIND_POINTWISE;
    int in_rows, in_cols, iy0, ix0;
    if (pw) {
        in_rows = st.rows * L.groups, in_cols = st.cols, iy0 = st.y0, ix0 = st.x0;
    } else {
        in_rows = input_extent(L, st.rows), in_cols = input_extent(L, st.cols);
        if (L.fold) iy0 = st.y0 + L.fold_first, ix0 = st.x0 + L.fold_first;
        else if (L.kind == KIND_CONV) iy0 = st.y0 * L.s - L.k / 2, ix0 = st.x0 * L.s - L.k / 2;
        else iy0 = floor_shift(st.y0 - L.k / 2, L.ls), ix0 = floor_shift(st.x0 - L.k / 2, L.ls);
    }
    // Columns inside the map, relative to the run's first.
    const int xa = min_int(max_int(0, -ix0), in_cols), xb = max_int(xa, min_int(in_cols, L.in_w - ix0));
    // GDN/IGDN run j = r * groups + g.
    int r = 0, g = P;
runs_normalise:
    for (int i = 0; i < 2; i++) {
        if (g >= L.groups) g -= L.groups, r++;
    }
runs:
    for (int j = P; j < in_rows; j += 2) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=32
        const int y = pw ? iy0 + r : iy0 + j, grp = pw ? g : st.g;
        const bool row_in = y >= 0 && y < L.in_h;
        const int abase = (j >> 1) * L.row_stride;
        const int from = row_in ? xa : in_cols, to = row_in ? xb : in_cols;
        word_t hold = 0;
        zero_input(buf, L, abase, 0, from, hold);
        if (to > from) {
            const int base = (y * L.groups + grp) * L.in_w + ix0 + from;
        burst_in:
            for (int i = 0; i < to - from; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=517
                const word_t w = fm[base + i];
                put_input(buf, L, abase, from + i, w, hold);
            }
            XLIC_COUNT(input_words, to - from);
            XLIC_COUNT(input_runs, 1);
        }
        zero_input(buf, L, abase, to, in_cols, hold);
        g += 2;
    runs_wrap:
        for (int i = 0; i < 2; i++) {
            if (g >= L.groups) g -= L.groups, r++;
        }
    }
}

// The two input ports: even input rows on gmem_in0, odd on gmem_in1.
static void load_input_even(const word_t *fm, lane_t buf[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES], const layer_t &L,
                            step_t st, bool en) {
#pragma HLS INLINE off
    // Its multiplies are all in the per-run set-up (the burst and zero-fill
    // loops have none): two multipliers (the resource model's 2).
#pragma HLS ALLOCATION instances=mul limit=2 operation
    if (!en || !st.valid) return;
    load_input_rows(0, fm, buf, L, st);
}

static void load_input_odd(const word_t *fm, lane_t buf[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES], const layer_t &L,
                           step_t st, bool en) {
#pragma HLS INLINE off
#pragma HLS ALLOCATION instances=mul limit=2 operation
    if (!en || !st.valid) return;
    load_input_rows(1, fm, buf, L, st);
}

// ---------------------------------------------------------------------------
// Weights of one MAC call into one half of the weight buffer, while the
// other half feeds the MAC array: a pass's block (one burst, in the DDR
// order [tap][co]), GDN/IGDN a pass's gamma for every group (one burst),
// or a fold's blocks for one input group, rearranged as they arrive.

static void put_weight(lane_t wb[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES], int entry, int co, const word_t &w) {
#pragma HLS INLINE
    XLIC_ASSERT(entry >= 0 && entry < XLIC_MAX_TAPS);
    unpack(w, wb[entry][co]);
}

static void load_weights(const word_t *weights, lane_t wb[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES], const layer_t &L,
                         step_t st, int call, bool en) {
#pragma HLS INLINE off
    // Multipliers: burst_w's paired entry (1) and burst_fold's entry (3)
    // and channel (1) as the resource model counts them, plus 2 for the
    // sequential set-up, which shares them (no MAC here: every multiply is
    // an address).
#pragma HLS ALLOCATION instances=mul limit=7 operation
    if (!en || !st.valid) return;
    const int kk = L.k * L.k;
    if (!L.fold) {
        const int t = st.ctile * L.cpasses + call;
        const int base = (L.kind == KIND_POINTWISE ? t * L.groups : (t * L.groups + st.g) * kk) * XLIC_POF;
        const int n = (L.kind == KIND_POINTWISE ? L.groups : kk) * XLIC_POF;
        // Paired: taps (ky, 2j) and (ky, 2j + 1) share entry ky * kp + j,
        // lanes 0-3 and 4-7; the even tap's word waits in `hold`.
        const int kp = (L.k + 1) >> 1;
        word_t hold[XLIC_POF];
#pragma HLS ARRAY_PARTITION variable=hold complete dim=0
        int ky = 0, kx = 0;
    burst_w:
        for (int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=16 max=1296
            const word_t w = weights[base + i];
            const int co = i & (XLIC_POF - 1);
            if (!L.pair) {
                put_weight(wb, i / XLIC_POF, co, w);
            } else {
                put_weight(wb, ky * kp + (kx >> 1), co, (kx & 1) ? pair_word(hold[co], w) : pair_word(w, word_t(0)));
                hold[co] = w;
                if (co == XLIC_POF - 1) {
                    if (++kx == L.k) kx = 0, ky++;
                }
            }
        }
        XLIC_COUNT(weight_words, n);
        XLIC_COUNT(weight_runs, 1);
        return;
    }
    // Folded: pass p's tap (ty, tx) for folded channel p * 16 + j sits at
    // entry p * T * T + ty * T + tx, bank j; every stored tap (ky, kx) of
    // channel ch serves exactly one phase, the rest of the window is zero.
    const int T = L.fold_taps, pad = L.k / 2, entries = L.passes * T * T;
fold_zero:
    for (int e = 0; e < entries; e++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=4 max=81
        for (int co = 0; co < XLIC_POF; co++) {
#pragma HLS UNROLL
            put_weight(wb, e, co, word_t(0));
        }
    }
    const int tiles = (L.cout + XLIC_POF - 1) / XLIC_POF;
fold_tiles:
    for (int t = 0; t < tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=2
        const int base = (t * L.groups + st.g) * kk * XLIC_POF;
        int ky = 0, kx = 0;
    burst_fold:
        for (int i = 0; i < kk * XLIC_POF; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=144 max=1296
            const word_t w = weights[base + i];
            const int ch = t * XLIC_POF + (i & (XLIC_POF - 1));
            const int ty = tap_offset(ky, pad, L.s, L.ls) - L.fold_first, tx = tap_offset(kx, pad, L.s, L.ls) - L.fold_first;
            const int fch = ((tap_phase(ky, pad, L.s) << L.ls) + tap_phase(kx, pad, L.s)) * L.cout + ch;
            if (ch < L.cout) put_weight(wb, (fch / XLIC_POF) * T * T + ty * T + tx, fch & (XLIC_POF - 1), w);
            if ((i & (XLIC_POF - 1)) == XLIC_POF - 1) {
                if (++kx == L.k) kx = 0, ky++;
            }
        }
        XLIC_COUNT(weight_words, kk * XLIC_POF);
        XLIC_COUNT(weight_runs, 1);
    }
}

// The parameters, then the first call's weights: one user of the weights
// bundle.
static void load_constants(const word_t *params, const word_t *weights, bias_t pb[XLIC_SLOTS][XLIC_POF],
                           mult_t pm[XLIC_SLOTS][XLIC_POF], shift_t ps[XLIC_SLOTS][XLIC_POF],
                           lane_t wb[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES], const layer_t &L, step_t st) {
#pragma HLS INLINE off
    if (!st.valid) return;  // a refused tile: nothing to load
    const int n = L.passes * XLIC_POF;
burst_params:
    for (int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=16 max=128
        const word_t w = params[i];
        // {i64 bias, i32 mult, i32 shift}, little-endian (quant::ChannelParams)
        pb[i / XLIC_POF][i & (XLIC_POF - 1)] = (bias_t)w.range(63, 0).to_int64();
        pm[i / XLIC_POF][i & (XLIC_POF - 1)] = (mult_t)w.range(78, 64).to_uint();
        ps[i / XLIC_POF][i & (XLIC_POF - 1)] = (shift_t)w.range(101, 96).to_uint();
    }
    XLIC_COUNT(weight_words, n);
    XLIC_COUNT(weight_runs, 1);
    load_weights(weights, wb, L, st, 0, true);
}

// ---------------------------------------------------------------------------
// The MAC array: XLIC_POX pixels x XLIC_POF channels x XLIC_LANES inputs
// per cycle.

// A MAC operand: x, or |x| for GDN/IGDN (up to 32768: 17 bits).
#if XLIC_AP_DATAPATH
typedef absx_t mx_t;
#else
typedef int32_t mx_t;
#endif

// sum_l w[l] * x[l]: eight 16 x 17 products (one DSP48E2 each), chained
// (inlined into mac_call, whose EXPRESSION_BALANCE off keeps the chain a
// chain: balanced into a tree, its adders would leave the DSP48E2s'
// post-adders for fabric).
static inline acc_t dot8(const lane_t w[XLIC_LANES], const mx_t x[XLIC_LANES]) {
#pragma HLS INLINE
#if XLIC_AP_DATAPATH
    ap_int<35> s = 0;
dot_lanes:
    for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
        s += (ap_int<33>)(w[l] * x[l]);
    }
    return s;
#else
    // Products below 2^30: two of them sum in int32 (as pmaddwd does).
    int64_t s = 0;
    for (int l = 0; l < XLIC_LANES; l += 2) s += (int32_t)w[l] * x[l] + (int32_t)w[l + 1] * x[l + 1];
    return s;
#endif
}

// One MAC call: every tap of the table (one pass; a fold: every pass) over
// the step's pixel vectors, taps outer and vectors inner, so an
// accumulator is revisited only by the next tap, nve >= XLIC_ACC_DISTANCE
// iterations later (shorter passes are padded with idle vectors).
static void mac_call(const lane_t ib0[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES],
                     const lane_t ib1[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES],
                     const lane_t wb[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES],
                     accw_t acc[XLIC_ACC_DEPTH][XLIC_PAIRS][XLIC_POF],
                     lane_t xk[XLIC_ACC_DEPTH][XLIC_POX][XLIC_LANES], const tap_t taps[XLIC_MAX_TAPS],
                     const layer_t &L, step_t st, int call, bool en) {
#pragma HLS INLINE off
    // Integer expressions are balanced into trees by default; the MAC
    // chains must stay chains (DSP48E2 cascades, hls-patterns 2.5).
#pragma HLS EXPRESSION_BALANCE off
    if (!en || !st.valid) return;
    const bool ph = L.kind == KIND_PHASES, pw = L.kind == KIND_POINTWISE;
    // Pixel vectors of one tap: rows A x vectors per row B (per phase).
    const int A = ph ? st.rows >> L.ls : st.rows;
    const int B = (ph ? st.cols >> L.ls : st.cols) / XLIC_POX;
    const int nv = A * B, nve = max_int(nv, XLIC_ACC_DISTANCE);
    const int iters = L.n_taps * nve;
    // Input rows per pixel row; (phase) rows per band.
    const int rs = pw ? L.groups : (L.kind == KIND_CONV && !L.fold) ? L.s : 1;
    const int lapr = ph ? L.lbr - L.ls : L.lbr;
    const bool init_group = st.g == 0, keep = pw && call == 0;
    const int pass = L.fold ? 0 : call;
    int e = 0, v = 0, a = 0, b = 0;
    XLIC_COUNT(mac_iterations, iters);
#ifndef __SYNTHESIS__
    // The DEPENDENCE pragma's promise, checked: no accumulator is read
    // within XLIC_ACC_DISTANCE iterations of its last write.
    static int written_at[XLIC_ACC_DEPTH];
    for (int k = 0; k < XLIC_ACC_DEPTH; k++) written_at[k] = -XLIC_ACC_DISTANCE;
#endif
mac:
    for (int i = 0; i < iters; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=8 max=20736
        // Proof of the distance: the same (address, bank) is written by tap
        // e at vector v and read next by tap e+1 at vector v, nve >=
        // XLIC_ACC_DISTANCE iterations later (asserted below); idle padding
        // iterations write nothing.
#pragma HLS DEPENDENCE variable=acc inter RAW distance=XLIC_ACC_DISTANCE true
        const tap_t t = taps[e];
        const int er = t.er, wi = t.w;
        const bool none = t.none, live = v < nv;
        // Input: row y = a * rs + ey of the tile (GDN/IGDN: run a * groups
        // + group), its parity picks the port's half; column b * 16 + ex.
        const int y = a * rs + (int)t.ey;
        // The plane's offset as put_input computes it: two shifted adds
        // (plane < 4), no multiplier.
        const int poff = (t.plane[0] ? L.plane_words : 0) + (t.plane[1] ? L.plane_words << 1 : 0);
        const int ad = (y >> 1) * L.row_stride + poff + b + (int)t.eq;
        lane_t raw0[XLIC_POX][XLIC_LANES], raw1[XLIC_POX][XLIC_LANES], x[XLIC_POX][XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=raw0 complete dim=0
#pragma HLS ARRAY_PARTITION variable=raw1 complete dim=0
#pragma HLS ARRAY_PARTITION variable=x complete dim=0
    read_banks:
        for (int k = 0; k < XLIC_POX; k++) {
#pragma HLS UNROLL
            // Bank k holds pixel (k - er) mod 16 of the vector, one word
            // further on for the banks the offset wrapped past.
            const int adk = ad + (k < er ? 1 : 0);
            XLIC_ASSERT(!live || (adk >= 0 && adk < XLIC_IN_DEPTH));
            for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
                raw0[k][l] = ib0[adk & (XLIC_IN_DEPTH - 1)][k][l];
                raw1[k][l] = ib1[adk & (XLIC_IN_DEPTH - 1)][k][l];
            }
        }
        mx_t xm[XLIC_POX][XLIC_LANES];
        lane_t w[XLIC_POF][XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=xm complete dim=0
#pragma HLS ARRAY_PARTITION variable=w complete dim=0
    align:
        for (int u = 0; u < XLIC_POX; u++) {
#pragma HLS UNROLL
            const int k = (u + er) & (XLIC_POX - 1);
            for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
                x[u][l] = none ? lane_t(0) : (y & 1) ? raw1[k][l] : raw0[k][l];
                xm[u][l] = (L.norm && x[u][l] < 0) ? mx_t(-x[u][l]) : mx_t(x[u][l]);
            }
        }
    read_weights:
        for (int co = 0; co < XLIC_POF; co++) {
#pragma HLS UNROLL
            for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
                w[co][l] = wb[wi][co][l];
            }
        }
        // Accumulators: vector (a, b) of the tap's phase in its band.
        const int band = pw ? 0 : a >> lapr, arow = pw ? a : a & ((1 << lapr) - 1);
        const int vec = ph ? (((int)t.ph << lapr) + arow) * B + b : arow * B + b;
        const int slot = band * L.cpasses + pass + (int)t.slot;
        const int aad = vec * XLIC_SLOTS + slot;
        XLIC_ASSERT(!live || (vec < XLIC_VECS && slot < XLIC_SLOTS));
        const bool init = t.first && init_group;
#ifndef __SYNTHESIS__
        if (live) {
            assert(init || i - written_at[aad] >= XLIC_ACC_DISTANCE);
            written_at[aad] = i;
        }
#endif
    mac_pairs:
        for (int p = 0; p < XLIC_PAIRS; p++) {
#pragma HLS UNROLL
            for (int co = 0; co < XLIC_POF; co++) {
#pragma HLS UNROLL
                // One read and one write of the pair's 96-bit word (two
                // 48-bit sums): no part-word access to the bank.
                // The sums are checked one bit wider than they are stored:
                // a 48-bit sum would already have wrapped.
                const accw_t old = acc[aad & (XLIC_ACC_DEPTH - 1)][p][co];
                const accsum_t u0 = accsum_t(init ? acc_t(0) : acc_half(old, 0)) + accsum_t(dot8(w[co], xm[2 * p]));
                const accsum_t u1 = accsum_t(init ? acc_t(0) : acc_half(old, 1)) + accsum_t(dot8(w[co], xm[2 * p + 1]));
                XLIC_ASSERT(u0 < accsum_t(1LL << 47) && u0 >= accsum_t(-(1LL << 47)));
                XLIC_ASSERT(u1 < accsum_t(1LL << 47) && u1 >= accsum_t(-(1LL << 47)));
                if (live) acc[aad & (XLIC_ACC_DEPTH - 1)][p][co] = acc_pair(acc_t(u0), acc_t(u1));
            }
        }
        // GDN/IGDN keep x (not |x|) for the output rule: pixel u of group
        // g in bank u ^ (g & 1), at vec * groups + g.
        if (keep && live) {
            const int g = t.ey, xad = vec * L.groups + g;
            XLIC_ASSERT(xad < XLIC_ACC_DEPTH);
        keep_banks:
            for (int k = 0; k < XLIC_POX; k++) {
#pragma HLS UNROLL
                for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
                    xk[xad][k][l] = x[k ^ (g & 1)][l];
                }
            }
        }
        // Counters: vectors inner, taps outer; padding stays on vector 0.
        if (++v < nv) {
            if (++b == B) b = 0, a++;
        } else {
            a = 0, b = 0;
        }
        if (v == nve) v = 0, e++;
    }
}

// All MAC calls of a step; each call's weights were loaded during the
// previous call, and the next call's (possibly the next step's first)
// load into the other half of the weight buffer meanwhile: two calls in
// one basic block on different memories, which the scheduler overlaps.
static void compute_step(const lane_t ib0[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES],
                         const lane_t ib1[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES],
                         accw_t acc[XLIC_ACC_DEPTH][XLIC_PAIRS][XLIC_POF],
                         lane_t xk[XLIC_ACC_DEPTH][XLIC_POX][XLIC_LANES],
                         lane_t wa[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES], lane_t wb[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES],
                         const word_t *weights, const tap_t taps[XLIC_MAX_TAPS], const layer_t &L, step_t st,
                         step_t nxt, bool wsel, bool en) {
#pragma HLS INLINE off
    if (!en || !st.valid) return;
    // One MAC array and one weight loader, shared by both branches.
#pragma HLS ALLOCATION instances=mac_call limit=1 function
#pragma HLS ALLOCATION instances=load_weights limit=1 function
    bool ws = wsel;
calls:
    for (int c = 0; c < calls_of(L, st); c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8
        const bool last = c + 1 == calls_of(L, st);
        const step_t wst = last ? nxt : st;
        const int wc = last ? 0 : c + 1;
        if (ws) {
            mac_call(ib0, ib1, wb, acc, xk, taps, L, st, c, true);
            load_weights(weights, wa, L, wst, wc, true);
        } else {
            mac_call(ib0, ib1, wa, acc, xk, taps, L, st, c, true);
            load_weights(weights, wb, L, wst, wc, true);
        }
        ws = !ws;
    }
}

// ---------------------------------------------------------------------------
// Output: the previous unit's rows oy = c (mod C) (C = steps per unit, c =
// this step's group; the drain stores all), requantized from the other
// accumulator buffer. One engine makes two words per pixel (16 channels),
// which go to the two write ports (run (oy, og) to port (oy + og) & 1);
// each writer bursts its runs (hls-patterns 2.3, 2.8).

struct store_t {
    bool en;
    int rows, cols, ch0, oy0, ox0, srows, scols, og0, nog, c, C;
};

static store_t store_of(const layer_t &L, const step_t &u, int c, int C, bool en) {
#pragma HLS INLINE
    store_t S;
    S.en = en;
    S.rows = u.rows, S.cols = u.cols, S.ch0 = u.ch0;
    S.oy0 = u.y0 * L.scale, S.ox0 = u.x0 * L.scale;
    S.srows = min_int(u.rows * L.scale, L.out_h - S.oy0), S.scols = min_int(u.cols * L.scale, L.out_w - S.ox0);
    S.og0 = L.fold ? 0 : u.ch0 / XLIC_LANES;
    S.nog = L.fold ? L.out_groups : min_int(u.npass * (XLIC_POF / XLIC_LANES), L.out_groups - S.og0);
    S.c = c, S.C = C;
    return S;
}

#if XLIC_AP_DATAPATH
static inline ap_int<16> sat16(const ap_int<66> &v) {
#pragma HLS INLINE
    return v > 32767 ? ap_int<16>(32767) : v < -32768 ? ap_int<16>(-32768) : ap_int<16>(v);
}

// floor(v / 2^s + 1/2) (quant::rshift_round).
static inline ap_int<66> rshift_round(const ap_int<66> &v, shift_t s) {
#pragma HLS INLINE
    return s == 0 ? v : ap_int<66>((v + (ap_int<66>(1) << (s - 1))) >> s);
}

// sat16(floor((2n + d) / 2d)) with n = x << s, d = norm in [1, 2^47)
// (quant::gdn_out), without a wide division (hls-patterns 2.7): outside
// [-2^15 D, 2^15 D) it saturates; inside, N' = N + 2^15 D < 2^16 D, and a
// 16-step restoring divider gives floor(N' / D) = floor(N / D) + 2^15.
static ap_int<16> gdn_divide(lane_t x, shift_t s, ap_uint<47> d) {
#pragma HLS INLINE
    const ap_int<63> n = ap_int<63>(x) << s;
    const ap_int<65> N = (ap_int<65>(n) << 1) + d;
    const ap_uint<48> D = ap_uint<48>(d) << 1;
    const ap_int<65> lim = ap_int<65>(D) << 15;
    if (N >= lim) return 32767;
    if (N < -lim) return -32768;
    ap_uint<64> r = N + lim;
    XLIC_ASSERT(r < (ap_uint<65>(D) << 16));
    ap_uint<16> q = 0;
divide:
    for (int k = 15; k >= 0; k--) {
#pragma HLS UNROLL
        const ap_uint<64> t = ap_uint<64>(D) << k;
        if (r >= t) {
            r -= t;
            q[k] = 1;
        }
    }
    return ap_int<16>(ap_int<18>(q) - 32768);
}

// One output channel's INT16 (quant::requant_conv, gdn_out, igdn_out).
static lane_t finish(int op, const acc_t &a, lane_t x, bias_t bias, mult_t mult, shift_t shift) {
#pragma HLS INLINE
    const ap_int<49> v = ap_int<49>(a) + bias;
    if (op == XLIC_OP_CONV || op == XLIC_OP_TCONV) return sat16(rshift_round(ap_int<66>(v * mult), shift));
    if (op == XLIC_OP_IGDN) return sat16(rshift_round(ap_int<66>(v * x), shift));
    XLIC_ASSERT(v < (ap_int<49>(1) << 47));
    return gdn_divide(x, shift, v < 1 ? ap_uint<47>(1) : ap_uint<47>(v));
}
#else
// C-simulation: the same rules on native integers (quant's definitions).
static lane_t finish(int op, const acc_t &a, lane_t x, bias_t bias, mult_t mult, shift_t shift) {
    typedef __int128 wide;
    const int64_t v = a + bias;
    wide r;
    if (op == XLIC_OP_CONV || op == XLIC_OP_TCONV || op == XLIC_OP_IGDN) {
        r = (wide)v * (op == XLIC_OP_IGDN ? (int64_t)x : (int64_t)mult);
        if (shift > 0) r = (r + ((wide)1 << (shift - 1))) >> shift;
    } else {
        const wide d = v < 1 ? 1 : v, n = 2 * ((wide)x << shift) + d, dd = 2 * d;
        r = n >= 0 ? n / dd : -((-n + dd - 1) / dd);
    }
    return (lane_t)(r > 32767 ? 32767 : r < -32768 ? -32768 : r);
}
#endif

#ifndef __SYNTHESIS__
int16_t xlic_finish_rule(uint32_t op, int64_t acc, int16_t x, int64_t bias, int32_t mult, int32_t shift) {
    return (int16_t)finish((int)op, acc_t(acc), lane_t(x), bias_t(bias), mult_t(mult), shift_t(shift));
}
#endif

static void store_engine(const accw_t acc[XLIC_ACC_DEPTH][XLIC_PAIRS][XLIC_POF],
                         const lane_t xk[XLIC_ACC_DEPTH][XLIC_POX][XLIC_LANES], const bias_t pb[XLIC_SLOTS][XLIC_POF],
                         const mult_t pm[XLIC_SLOTS][XLIC_POF], const shift_t ps[XLIC_SLOTS][XLIC_POF],
                         hls::stream<word_t> &s0, hls::stream<word_t> &s1, const layer_t &L, store_t S) {
#pragma HLS INLINE off
    if (!S.en) return;
    const bool ph = L.kind == KIND_PHASES, pw = L.kind == KIND_POINTWISE;
    const int B = (ph ? S.cols >> L.ls : S.cols) / XLIC_POX;
    const int lapr = ph ? L.lbr - L.ls : L.lbr;
    const int fls = L.fold ? L.ls : 0;
    // Output rounds: XLIC_WPP words (groups) of a pixel per iteration.
    const int nrounds = (S.nog + XLIC_WPP - 1) / XLIC_WPP;
    // The lanes of the pixel being finished (registers).
    lane_t hold[XLIC_POF];
#pragma HLS ARRAY_PARTITION variable=hold complete dim=0
out_rows:
    for (int oy = S.c; oy < S.srows; oy += S.C) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
    out_pairs:
        for (int j = 0; j < nrounds; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16
            // Word A is group oga; with two words per pixel (pof 16), word
            // B is group oga + 1, if the unit has it.
            const int oga = S.og0 + XLIC_WPP * j;
            const bool hasb = XLIC_WPP == 2 && XLIC_WPP * j + 1 < S.nog;
            // The rules run on XLIC_OUT_LANES output lanes per cycle:
            // XLIC_OUT_SUBS cycles per pixel (counters, no division), lane
            // l = sub * XLIC_OUT_LANES + j on rule instance j (a constant
            // bank of the lane registers and of the parameters for each
            // sub); the pixel's words leave on its last sub-cycle.
            int oc = 0, sub = 0;
        out_pixels:
            for (int it = 0; it < S.scols * XLIC_OUT_SUBS; it++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=16 max=4096
                // Where output pixel (oy, oc) accumulated.
                const int r = oy >> fls, cg = oc >> fls;
                const int a = ph ? r >> L.ls : r, bcol = ph ? cg >> L.ls : cg;
                const int phase = ph ? ((r & (L.s - 1)) << L.ls) + (cg & (L.s - 1)) : 0;
                const int band = pw ? 0 : a >> lapr, arow = pw ? a : a & ((1 << lapr) - 1);
                // (Signed values known >= 0 are divided by shifts: a signed
                // `/` by a power of two would add a rounding correction.)
                const int vec = ((phase << lapr) + arow) * B + (bcol >> XLIC_LOG2(XLIC_POX)), u = bcol & (XLIC_POX - 1);
                // First channel of word A among the unit's accumulated ones.
                const int f0 = L.fold ? (((oy & (L.s - 1)) << L.ls) + (oc & (L.s - 1))) * L.cout + oga * XLIC_LANES
                                      : oga * XLIC_LANES - S.ch0;
                acc_t v[XLIC_POF];
#pragma HLS ARRAY_PARTITION variable=v complete dim=0
            read_acc:
                for (int bk = 0; bk < XLIC_POF; bk++) {
#pragma HLS UNROLL
                    // Bank bk holds the one channel f0 <= f < f0 + 16 with
                    // f = bk (mod 16), in slot f / 16 of the pixel's band.
                    const int f = f0 + ((bk - f0) & (XLIC_POF - 1));
                    const int aad = vec * XLIC_SLOTS + band * L.cpasses + (f >> XLIC_LOG2(XLIC_POF));
                    acc_t px[XLIC_PAIRS][2];
#pragma HLS ARRAY_PARTITION variable=px complete dim=0
                    for (int p = 0; p < XLIC_PAIRS; p++) {
#pragma HLS UNROLL
                        const accw_t wd = acc[aad & (XLIC_ACC_DEPTH - 1)][p][bk];
                        px[p][0] = acc_half(wd, 0);
                        px[p][1] = acc_half(wd, 1);
                    }
                    v[bk] = px[u >> 1][u & 1];
                }
                // GDN/IGDN inputs: group oga of pixel u in bank u, group
                // oga + 1 in bank u ^ 1 (each bank at its own address).
                lane_t xr[XLIC_POX][XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=xr complete dim=0
            read_x:
                for (int k = 0; k < XLIC_POX; k++) {
#pragma HLS UNROLL
                    // Bank k holds, for pixel u, the group of parity
                    // (k ^ u) & 1: of oga and oga + 1, that one.
                    const int xad = vec * L.groups + oga + ((k ^ u ^ oga) & 1);
                    for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
                        xr[k][l] = xk[xad & (XLIC_ACC_DEPTH - 1)][k][l];
                    }
                }
                // oga is a multiple of XLIC_WPP: its channels are lanes
                // 0.. of parameter slot oga / XLIC_WPP.
                const int slot = oga >> XLIC_LOG2(XLIC_WPP);
            lanes:
                for (int j = 0; j < XLIC_OUT_LANES; j++) {
#pragma HLS UNROLL
                    // Lane l: channel l of the XLIC_POF (word A's, then B's);
                    // its GDN input is group oga + grp (l's word) of pixel u,
                    // in bank u ^ that group's parity.
                    // 0 <= l < XLIC_POF: unsigned, its word (0 or 1) a
                    // shift, not a signed division.
                    const unsigned l = sub * XLIC_OUT_LANES + j, grp = l >> XLIC_LOG2(XLIC_LANES);
                    XLIC_ASSERT(l < XLIC_POF && grp < XLIC_WPP);
                    const int ch = oga * XLIC_LANES + (int)l;
                    const lane_t xin = pw ? xr[u ^ ((oga + grp) & 1)][l & (XLIC_LANES - 1)] : lane_t(0);
                    const bool real = ch < L.cout && (grp == 0 || hasb);
                    // The lane's parameters: bank q * XLIC_OUT_LANES + j on
                    // sub-cycle q, every bank read at a constant index into
                    // registers, then one XLIC_OUT_SUBS:1 mux on sub.
                    bias_t cb[XLIC_OUT_SUBS];
                    mult_t cm[XLIC_OUT_SUBS];
                    shift_t cs[XLIC_OUT_SUBS];
#pragma HLS ARRAY_PARTITION variable=cb complete dim=0
#pragma HLS ARRAY_PARTITION variable=cm complete dim=0
#pragma HLS ARRAY_PARTITION variable=cs complete dim=0
                params_of_sub:
                    for (int q = 0; q < XLIC_OUT_SUBS; q++) {
#pragma HLS UNROLL
                        cb[q] = pb[slot][q * XLIC_OUT_LANES + j];
                        cm[q] = pm[slot][q * XLIC_OUT_LANES + j];
                        cs[q] = ps[slot][q * XLIC_OUT_LANES + j];
                    }
                    hold[l] = real ? finish(L.op, v[(f0 + l) & (XLIC_POF - 1)], xin, cb[sub], cm[sub], cs[sub]) : lane_t(0);
                }
                if (sub == XLIC_OUT_SUBS - 1) {
                    lane_t lanes_a[XLIC_LANES], lanes_b[XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=lanes_a complete dim=0
#pragma HLS ARRAY_PARTITION variable=lanes_b complete dim=0
                words:
                    for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
                        lanes_a[l] = hold[l];
                        lanes_b[l] = XLIC_WPP == 2 ? hold[(XLIC_WPP - 1) * XLIC_LANES + l] : lane_t(0);  // pof 8: no word B
                    }
                    // Word A goes to port (oy + og) & 1, word B to the other:
                    // one write site per stream, the data chosen by a mux.
                    const word_t wa = pack(lanes_a), wb = pack(lanes_b);
                    const bool pa = (oy + oga) & 1;
                    const word_t w0 = pa ? wb : wa, w1 = pa ? wa : wb;
                    if (!pa || hasb) s0.write(w0);
                    if (pa || hasb) s1.write(w1);
                }
                // Counters: sub-cycles inner, pixels outer.
                if (++sub == XLIC_OUT_SUBS) sub = 0, oc++;
            }
        }
    }
}

template <int P>
static void store_writer(word_t *fm, hls::stream<word_t> &s, const layer_t &L, store_t S) {
#pragma HLS INLINE off
    // The loops below have no multiplier (run addresses by counters); the
    // set-up's three run-time multiplies are sequential code and share one
    // (UG902 v2019.2, "pragma HLS allocation": operation mul, limit 1; the
    // resource model counts one per writer).
#pragma HLS ALLOCATION instances=mul limit=1 operation
    if (!S.en) return;
    const int nrounds = (S.nog + XLIC_WPP - 1) / XLIC_WPP;
    // The first row's base, the step to the next row of this chunk (C rows
    // on), and a group's offset, set up once per call (L.row_words =
    // out_groups x out_w comes from schedule()).
    const int row_step = S.C * L.row_words, group_step = XLIC_WPP * L.out_w;
    int row_base = (S.oy0 + S.c) * L.row_words + S.og0 * L.out_w + S.ox0;
w_rows:
    for (int oy = S.c; oy < S.srows; oy += S.C) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
        int group_base = row_base;
    w_pairs:
        for (int j = 0; j < nrounds; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16
            // Run (oy, og) goes to port (oy + og) & 1: word A to port
            // (oy + oga) & 1, word B (pof 16) to the other.
            const int oga = S.og0 + XLIC_WPP * j;
            const bool mine_a = ((oy + oga) & 1) == P, hasb = XLIC_WPP == 2 && XLIC_WPP * j + 1 < S.nog;
            if (mine_a || hasb) {
                const int base = group_base + (mine_a ? 0 : L.out_w);
                XLIC_ASSERT(base == ((S.oy0 + oy) * L.out_groups + (mine_a ? oga : oga + 1)) * L.out_w + S.ox0);
            burst_out:
                for (int i = 0; i < S.scols; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=16 max=512
                    fm[base + i] = s.read();
                }
                XLIC_COUNT(output_words, S.scols);
                XLIC_COUNT(output_runs, 1);
            }
            group_base += group_step;
        }
        row_base += row_step;
    }
}

static void store_chunk(const accw_t acc[XLIC_ACC_DEPTH][XLIC_PAIRS][XLIC_POF],
                        const lane_t xk[XLIC_ACC_DEPTH][XLIC_POX][XLIC_LANES], const bias_t pb[XLIC_SLOTS][XLIC_POF],
                        const mult_t pm[XLIC_SLOTS][XLIC_POF], const shift_t ps[XLIC_SLOTS][XLIC_POF],
                        word_t *fm_out, word_t *fm_out2, const layer_t &L, store_t S) {
#pragma HLS INLINE off
#pragma HLS DATAFLOW
    hls::stream<word_t> s0, s1;
#pragma HLS STREAM variable=s0 depth=64
#pragma HLS STREAM variable=s1 depth=64
#pragma HLS RESOURCE variable=s0 core=FIFO_SRL
#pragma HLS RESOURCE variable=s1 core=FIFO_SRL
    store_engine(acc, xk, pb, pm, ps, s0, s1, L, S);
    store_writer<0>(fm_out, s0, L, S);
    store_writer<1>(fm_out2, s1, L, S);
}

// ---------------------------------------------------------------------------

uint32_t xlic_layer(const word_t *fm_in, const word_t *weights, const word_t *params, word_t *fm_out,
                uint32_t op, uint32_t kernel, uint32_t stride, uint32_t cin, uint32_t cout,
                uint32_t in_h, uint32_t in_w, uint32_t out_h, uint32_t out_w, const word_t *fm_in2,
                word_t *fm_out2, uint32_t band_rows, uint32_t bands, uint32_t tile_cols, uint32_t unit_passes) {
// One bundle per concurrent user; the unused direction kept minimal; depth
// only sizes co-simulation memories (hls-patterns 2.9).
#pragma HLS INTERFACE m_axi port=fm_in offset=slave bundle=gmem_in0 depth=65536 latency=64 num_read_outstanding=XLIC_AXI_OUTSTANDING max_read_burst_length=XLIC_AXI_BURST num_write_outstanding=XLIC_AXI_IDLE_OUTSTANDING max_write_burst_length=XLIC_AXI_IDLE_BURST
#pragma HLS INTERFACE m_axi port=fm_in2 offset=slave bundle=gmem_in1 depth=65536 latency=64 num_read_outstanding=XLIC_AXI_OUTSTANDING max_read_burst_length=XLIC_AXI_BURST num_write_outstanding=XLIC_AXI_IDLE_OUTSTANDING max_write_burst_length=XLIC_AXI_IDLE_BURST
#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=gmem_w depth=65536 latency=64 num_read_outstanding=XLIC_AXI_OUTSTANDING max_read_burst_length=XLIC_AXI_BURST num_write_outstanding=XLIC_AXI_IDLE_OUTSTANDING max_write_burst_length=XLIC_AXI_IDLE_BURST
#pragma HLS INTERFACE m_axi port=params offset=slave bundle=gmem_w depth=128 latency=64 num_read_outstanding=XLIC_AXI_OUTSTANDING max_read_burst_length=XLIC_AXI_BURST num_write_outstanding=XLIC_AXI_IDLE_OUTSTANDING max_write_burst_length=XLIC_AXI_IDLE_BURST
#pragma HLS INTERFACE m_axi port=fm_out offset=slave bundle=gmem_out0 depth=65536 latency=64 num_write_outstanding=XLIC_AXI_OUTSTANDING max_write_burst_length=XLIC_AXI_BURST num_read_outstanding=XLIC_AXI_IDLE_OUTSTANDING max_read_burst_length=XLIC_AXI_IDLE_BURST
#pragma HLS INTERFACE m_axi port=fm_out2 offset=slave bundle=gmem_out1 depth=65536 latency=64 num_write_outstanding=XLIC_AXI_OUTSTANDING max_write_burst_length=XLIC_AXI_BURST num_read_outstanding=XLIC_AXI_IDLE_OUTSTANDING max_read_burst_length=XLIC_AXI_IDLE_BURST
#pragma HLS INTERFACE s_axilite port=fm_in bundle=control
#pragma HLS INTERFACE s_axilite port=weights bundle=control
#pragma HLS INTERFACE s_axilite port=params bundle=control
#pragma HLS INTERFACE s_axilite port=fm_out bundle=control
#pragma HLS INTERFACE s_axilite port=op bundle=control
#pragma HLS INTERFACE s_axilite port=kernel bundle=control
#pragma HLS INTERFACE s_axilite port=stride bundle=control
#pragma HLS INTERFACE s_axilite port=cin bundle=control
#pragma HLS INTERFACE s_axilite port=cout bundle=control
#pragma HLS INTERFACE s_axilite port=in_h bundle=control
#pragma HLS INTERFACE s_axilite port=in_w bundle=control
#pragma HLS INTERFACE s_axilite port=out_h bundle=control
#pragma HLS INTERFACE s_axilite port=out_w bundle=control
#pragma HLS INTERFACE s_axilite port=fm_in2 bundle=control
#pragma HLS INTERFACE s_axilite port=fm_out2 bundle=control
#pragma HLS INTERFACE s_axilite port=band_rows bundle=control
#pragma HLS INTERFACE s_axilite port=bands bundle=control
#pragma HLS INTERFACE s_axilite port=tile_cols bundle=control
#pragma HLS INTERFACE s_axilite port=unit_passes bundle=control
#pragma HLS INTERFACE s_axilite port=return bundle=control

    // Input tile, ping-pong (a, b) x row parity (0: port gmem_in0, 1:
    // gmem_in1): 16 banks of XLIC_IN_DEPTH 128-bit words each.
    static lane_t ibuf_a0[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES], ibuf_a1[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES];
    static lane_t ibuf_b0[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES], ibuf_b1[XLIC_IN_DEPTH][XLIC_POX][XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=ibuf_a0 complete dim=2
#pragma HLS ARRAY_PARTITION variable=ibuf_a1 complete dim=2
#pragma HLS ARRAY_PARTITION variable=ibuf_b0 complete dim=2
#pragma HLS ARRAY_PARTITION variable=ibuf_b1 complete dim=2
#pragma HLS ARRAY_RESHAPE variable=ibuf_a0 complete dim=3
#pragma HLS ARRAY_RESHAPE variable=ibuf_a1 complete dim=3
#pragma HLS ARRAY_RESHAPE variable=ibuf_b0 complete dim=3
#pragma HLS ARRAY_RESHAPE variable=ibuf_b1 complete dim=3
    // Simple dual-port (one read, one write port per bank): the 512 x 36
    // shape the resource model counts exists only in SDP mode; latency 2
    // uses the block RAM's output register (4 ns).
#pragma HLS RESOURCE variable=ibuf_a0 core=RAM_S2P_BRAM latency=2
#pragma HLS RESOURCE variable=ibuf_a1 core=RAM_S2P_BRAM latency=2
#pragma HLS RESOURCE variable=ibuf_b0 core=RAM_S2P_BRAM latency=2
#pragma HLS RESOURCE variable=ibuf_b1 core=RAM_S2P_BRAM latency=2
    // Weights of one MAC call, ping-pong: 16 banks (one per output
    // channel) of up to 81 words, in LUTRAM.
    static lane_t wbuf_a[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES], wbuf_b[XLIC_MAX_TAPS][XLIC_POF][XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=wbuf_a complete dim=2
#pragma HLS ARRAY_PARTITION variable=wbuf_b complete dim=2
#pragma HLS ARRAY_RESHAPE variable=wbuf_a complete dim=3
#pragma HLS ARRAY_RESHAPE variable=wbuf_b complete dim=3
#pragma HLS RESOURCE variable=wbuf_a core=RAM_S2P_LUTRAM
#pragma HLS RESOURCE variable=wbuf_b core=RAM_S2P_LUTRAM
    // Accumulators, ping-pong (compute one unit, store the previous): one
    // bank per pixel pair and channel, 96-bit words (two 48-bit sums).
    static accw_t acc_a[XLIC_ACC_DEPTH][XLIC_PAIRS][XLIC_POF], acc_b[XLIC_ACC_DEPTH][XLIC_PAIRS][XLIC_POF];
#pragma HLS ARRAY_PARTITION variable=acc_a complete dim=2
#pragma HLS ARRAY_PARTITION variable=acc_a complete dim=3
#pragma HLS ARRAY_PARTITION variable=acc_b complete dim=2
#pragma HLS ARRAY_PARTITION variable=acc_b complete dim=3
    // One read port (the MAC loop or the output engine, never both on one
    // half: ping-pong) and one write port (the MAC loop).
#if XLIC_ACC_URAM
    // UltraRAM (4K x 72 blocks, xlic_model::resources counts them).
#pragma HLS RESOURCE variable=acc_a core=RAM_S2P_URAM
#pragma HLS RESOURCE variable=acc_b core=RAM_S2P_URAM
#else
#pragma HLS RESOURCE variable=acc_a core=RAM_S2P_BRAM latency=2
#pragma HLS RESOURCE variable=acc_b core=RAM_S2P_BRAM latency=2
#endif
    // GDN/IGDN inputs of a unit, ping-pong with the accumulators.
    static lane_t xk_a[XLIC_ACC_DEPTH][XLIC_POX][XLIC_LANES], xk_b[XLIC_ACC_DEPTH][XLIC_POX][XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=xk_a complete dim=2
#pragma HLS ARRAY_PARTITION variable=xk_b complete dim=2
#pragma HLS ARRAY_RESHAPE variable=xk_a complete dim=3
#pragma HLS ARRAY_RESHAPE variable=xk_b complete dim=3
#if XLIC_XKEEP_URAM
#pragma HLS RESOURCE variable=xk_a core=RAM_S2P_URAM
#pragma HLS RESOURCE variable=xk_b core=RAM_S2P_URAM
#else
#pragma HLS RESOURCE variable=xk_a core=RAM_S2P_BRAM latency=2
#pragma HLS RESOURCE variable=xk_b core=RAM_S2P_BRAM latency=2
#endif
    // Per-channel parameters: channel c in bank c mod 16 at c / 16.
    static bias_t pbias[XLIC_SLOTS][XLIC_POF];
    static mult_t pmult[XLIC_SLOTS][XLIC_POF];
    static shift_t pshift[XLIC_SLOTS][XLIC_POF];
#pragma HLS ARRAY_PARTITION variable=pbias complete dim=2
#pragma HLS ARRAY_PARTITION variable=pmult complete dim=2
#pragma HLS ARRAY_PARTITION variable=pshift complete dim=2
    // 8-deep banks: LUTRAM, as the resource model counts them (left to
    // itself HLS may bind a block RAM per bank).
#pragma HLS RESOURCE variable=pbias core=RAM_S2P_LUTRAM
#pragma HLS RESOURCE variable=pmult core=RAM_S2P_LUTRAM
#pragma HLS RESOURCE variable=pshift core=RAM_S2P_LUTRAM
    static tap_t taps[XLIC_MAX_TAPS];
#pragma HLS DATA_PACK variable=taps
#pragma HLS RESOURCE variable=taps core=RAM_S2P_LUTRAM
    // The four branches of the step loop choose halves; one instance of
    // each function serves them all (else each call site is its own
    // hardware: four MAC arrays).
#pragma HLS ALLOCATION instances=load_input_even limit=1 function
#pragma HLS ALLOCATION instances=load_input_odd limit=1 function
#pragma HLS ALLOCATION instances=compute_step limit=1 function
#pragma HLS ALLOCATION instances=store_chunk limit=1 function
    // The top's own code (the step loop's set-up: step_fill, store_of;
    // not the functions kept apart by INLINE off) is sequential and shares
    // two multipliers (xlic_model::resources counts 2).
#pragma HLS ALLOCATION instances=mul limit=2 operation

#ifndef __SYNTHESIS__
    xlic_counts = xlic_counts_t();
#endif
    layer_t L = schedule(op, kernel, stride, cin, cout, in_h, in_w, out_h, out_w, band_rows, bands, tile_cols, unit_passes);
    // A refused layer runs no step (and its registers may not even bound
    // the tap table): no taps.
    L.n_taps = L.units > 0 ? build_taps(L, taps) : 0;

    // Prologue: the first step's input, and on the weights bundle the
    // parameters then the first call's weights.
    const step_t first = first_step(L);
    load_input_even(fm_in, ibuf_a0, L, first, true);
    load_input_odd(fm_in2, ibuf_a1, L, first, true);
    load_constants(params, weights, pbias, pmult, pshift, wbuf_a, L, first);

    step_t st = first, prev = first;
    bool wsel = false;
steps:
    for (int i = 0; i <= L.steps; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
        const step_t nxt = next_step(L, st);
        // The previous unit's rows for this step (the drain: all of it).
        const bool drain = i == L.steps;
        const int unit = drain ? L.units : st.unit;
        const store_t S = store_of(L, prev, drain ? 0 : st.g, drain ? 1 : L.steps_per_unit, unit > 0);
        const bool ib = i & 1, ab = unit & 1;
        if (!ib && !ab) {
            load_input_even(fm_in, ibuf_b0, L, nxt, true);
            load_input_odd(fm_in2, ibuf_b1, L, nxt, true);
            compute_step(ibuf_a0, ibuf_a1, acc_a, xk_a, wbuf_a, wbuf_b, weights, taps, L, st, nxt, wsel, true);
            store_chunk(acc_b, xk_b, pbias, pmult, pshift, fm_out, fm_out2, L, S);
        } else if (!ib && ab) {
            load_input_even(fm_in, ibuf_b0, L, nxt, true);
            load_input_odd(fm_in2, ibuf_b1, L, nxt, true);
            compute_step(ibuf_a0, ibuf_a1, acc_b, xk_b, wbuf_a, wbuf_b, weights, taps, L, st, nxt, wsel, true);
            store_chunk(acc_a, xk_a, pbias, pmult, pshift, fm_out, fm_out2, L, S);
        } else if (ib && !ab) {
            load_input_even(fm_in, ibuf_a0, L, nxt, true);
            load_input_odd(fm_in2, ibuf_a1, L, nxt, true);
            compute_step(ibuf_b0, ibuf_b1, acc_a, xk_a, wbuf_a, wbuf_b, weights, taps, L, st, nxt, wsel, true);
            store_chunk(acc_b, xk_b, pbias, pmult, pshift, fm_out, fm_out2, L, S);
        } else {
            load_input_even(fm_in, ibuf_a0, L, nxt, true);
            load_input_odd(fm_in2, ibuf_a1, L, nxt, true);
            compute_step(ibuf_b0, ibuf_b1, acc_b, xk_b, wbuf_a, wbuf_b, weights, taps, L, st, nxt, wsel, true);
            store_chunk(acc_a, xk_a, pbias, pmult, pshift, fm_out, fm_out2, L, S);
        }
        if (st.valid && (calls_of(L, st) & 1)) wsel = !wsel;
        // The unit whose rows the next steps store.
        if (st.valid && (nxt.unit != st.unit || !nxt.valid)) prev = st;
        st = nxt;
    }
    // The status register: what happened, and the configuration this
    // kernel was built with (xlic_layer.h).
    return L.status | (uint32_t)XLIC_CONFIG_ID << XLIC_STATUS_CONFIG_SHIFT;
}
