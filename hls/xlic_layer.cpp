// X-LIC accelerator kernel: one layer of bls2017 per start.
//
// Schedule for one layer (all loop bounds fixed by xlic_config.h):
//
//   for each step (tile of rows x cols pixels of the layer's grid, input
//   group g of 8 channels = one bus word), concurrently:
//     compute: for each pass t (XLIC_POF output channels)
//                load pass t+1's weight block      -> wbuf[(t+1) % 2]
//                while for each tap of the layer's tap table and each
//                pixel vector: accumulate XLIC_POX pixels x XLIC_POF
//                channels x XLIC_LANES inputs per cycle into acc
//     load:    the next step's input tile         -> ibuf[other half]
//   after a tile's last group: requantize acc, store the tile's words
//
// All output channels stay on chip, so each input tile is read once.
// Concurrency is the usual HLS ping-pong: the calls in one loop body touch
// different halves of the buffers, so the scheduler overlaps them.
//
// The rules that shape tiles are xlic_model::layout's (Tiling, PhaseFold),
// which the performance model uses too:
//
// - The grid is the output map, except for a folded transposed convolution
//   (below). The last column tile is trimmed to the map, in whole pixel
//   vectors (per phase for a transposed convolution).
// - A layer with few output channels takes tiles `bands` times taller than
//   XLIC_TILE_ROWS, the extra rows held in the accumulator's unused channel
//   slots: row r, channel ch lives at acc[r % XLIC_TILE_ROWS][.][(r /
//   XLIC_TILE_ROWS) * cpad + ch]. Fewer, taller tiles reload the weights
//   less often.
// - A transposed convolution runs phase by phase: the outputs of phase
//   (py, px) only meet the taps with ky = P - py (mod s), so no work is
//   spent on the zeros a zero-stuffed input would contain.
// - A transposed convolution with few output channels (syn_2: 3) would use
//   3 of the XLIC_POF output lanes that way. It is folded instead: a
//   stride-1 convolution over its input grid with T x T taps whose output
//   channels are the s x s phases of every channel ((py * s + px) * cout +
//   ch); its weight blocks are rearranged on chip as they arrive.
// - GDN and IGDN are a 1x1 pass over |x| with gamma as weights, followed by
//   one division or multiplication per output.
//
// Arithmetic: exactly xlic_model::quant (model/PACKAGE.md).
#include "xlic_layer.h"

#ifndef __SYNTHESIS__
xlic_counts_t xlic_counts;
#endif

typedef int64_t acc_t;  // 48 bits suffice (|acc| < 2^47); int64 in C-sim.

struct chan_params {
    int64_t bias;
    int32_t mult;
    int32_t shift;
};

// One tap of a pass: which weight word, which input row/plane/column
// offset, which output phase it feeds, and whether it is the first tap of
// that phase (which writes the accumulators instead of adding to them).
// A transposed convolution's phase that meets no tap (k < s) gets one
// `none` entry, which only writes zeros.
struct tap_entry {
    int w;
    int ey, plane, ex;
    int py, px;
    bool first, none;
};

static inline int64_t rshift_round(int64_t v, int32_t s) {
    return s == 0 ? v : (v + ((int64_t)1 << (s - 1))) >> s;
}

// floor((2n + d) / 2d) for d > 0.
static inline int64_t div_round(int64_t n, int64_t d) {
    const int64_t a = 2 * n + d, b = 2 * d;
    const int64_t q = a / b, r = a % b;
    return (r < 0) ? q - 1 : q;
}

static inline int16_t sat16(int64_t v) {
    return v > 32767 ? (int16_t)32767 : v < -32768 ? (int16_t)-32768 : (int16_t)v;
}

static inline int floor_div(int a, int b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static inline int min_int(int a, int b) {
    return a < b ? a : b;
}

static chan_params unpack_params(const wide_t &w) {
    uint64_t b = 0;
    for (int i = 0; i < 4; i++) b |= (uint64_t)(uint16_t)w.v[i] << (16 * i);
    const uint32_t m = (uint32_t)(uint16_t)w.v[4] | ((uint32_t)(uint16_t)w.v[5] << 16);
    const uint32_t s = (uint32_t)(uint16_t)w.v[6] | ((uint32_t)(uint16_t)w.v[7] << 16);
    chan_params p;
    p.bias = (int64_t)b;
    p.mult = (int32_t)m;
    p.shift = (int32_t)s;
    return p;
}

// On-chip memories.
//
// Input tile: rows x column planes x plane columns. A strided convolution's
// pixel vector (consecutive output columns c) reads input columns c*s + kx
// at tap kx; those sit in plane kx % s at c + kx / s: XLIC_POX consecutive
// words of one plane, which the cyclic partition puts in distinct banks.
static wide_t ibuf[2][XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS];
// Weights: one pass's block per half, loaded while the other half's pass
// computes; a folded layer's rearranged blocks, one input group per half.
static wide_t wbuf[2][XLIC_MAX_TAPS][XLIC_POF];
static wide_t wfold[2][XLIC_MAX_TAPS][XLIC_POF];
// Accumulators: [row][column slot][channel]. A transposed convolution's
// pixel vector holds one phase's columns (c = b*s + px), kept phase-major
// (slot px * cols/s + b) so that the vector, too, meets distinct banks.
static acc_t acc[XLIC_TILE_ROWS][XLIC_TILE_COLS][XLIC_MAX_CHANNELS];
// GDN/IGDN inputs of one tile, one word per pixel and group.
static wide_t xkeep[XLIC_TILE_ROWS][XLIC_TILE_COLS][XLIC_MAX_GROUPS];
static chan_params pbuf[XLIC_MAX_CHANNELS];
static tap_entry taps_tbl[XLIC_MAX_TAPS];

// A transposed convolution's stored tap t (row or column, padding pad)
// serves output phase tap_phase(t) = (pad - t) mod s, and reads the input
// tap_offset(t) = (tap_phase(t) + t - pad) / s rows (columns) from the
// output's grid pixel.
static inline int tap_phase(int t, int pad, int s) {
    return ((pad - t) % s + s) % s;
}

static inline int tap_offset(int t, int pad, int s) {
    return (tap_phase(t, pad, s) + t - pad) / s;
}

// The phase fold of a transposed convolution (xlic_model::layout::PhaseFold::of):
// returns whether to fold, and its taps per side, first input offset and
// folded channel count.
static bool phase_fold(uint32_t op, int k, int s, int cout, int *taps, int *first, int *channels) {
    if (op != XLIC_OP_TCONV || s <= 1) return false;
    const int pad = k / 2;
    *first = -(pad / s);
    const int last = (s + k - 2 - pad) / s;
    *taps = last - *first + 1;
    *channels = s * s * cout;
    const int passes = (*channels + XLIC_POF - 1) / XLIC_POF;
    const bool fits = *channels <= XLIC_MAX_CHANNELS && passes * *taps * *taps <= XLIC_MAX_TAPS;
    const bool cheaper = *taps * *taps * passes < k * k * ((cout + XLIC_POF - 1) / XLIC_POF);
    return fits && cheaper;
}

// Input rows (columns) t grid rows (columns) read, with the halo.
static int input_extent(uint32_t op, bool fold, int fold_taps, int t, int k, int s) {
    if (fold) return t + fold_taps - 1;
    const int pad = k / 2;
    if (op == XLIC_OP_CONV) return (t - 1) * s + k;
    if (op == XLIC_OP_TCONV) return (t - 1 + 2 * pad) / s + 2;
    return t;
}

// First input row (column) a tile starting at grid row o0 reads.
static int input_origin(uint32_t op, bool fold, int fold_first, int o0, int k, int s) {
    if (fold) return o0 + fold_first;
    const int p = k / 2;
    if (op == XLIC_OP_CONV) return o0 * s - p;
    if (op == XLIC_OP_TCONV) return floor_div(o0 - p, s);
    return o0;
}

// The taps of one pass, in the order they are applied; returns their count.
static int build_taps(uint32_t op, bool fold, int fold_taps, int k, int s) {
    int n = 0;
    if (op == XLIC_OP_GDN || op == XLIC_OP_IGDN) {
        const tap_entry t = {0, 0, 0, 0, 0, 0, true, false};
        taps_tbl[n++] = t;
    } else if (fold || op == XLIC_OP_CONV) {
        // A convolution over the grid: stride s (1 when folded).
        const int kk = fold ? fold_taps : k, ss = fold ? 1 : s;
    taps_conv:
        for (int ky = 0; ky < kk; ky++) {
            for (int kx = 0; kx < kk; kx++) {
                const tap_entry t = {ky * kk + kx, ky, kx % ss, kx / ss, 0, 0, n == 0, false};
                taps_tbl[n++] = t;
            }
        }
    } else {
        // Phase by phase; row offsets relative to the tile's first input
        // row floor((y0 - P) / s), y0 a multiple of s.
        const int pad = k / 2, base = floor_div(-pad, s);
    taps_tconv:
        for (int py = 0; py < s; py++) {
            for (int px = 0; px < s; px++) {
                bool first = true;
                for (int ky = 0; ky < k; ky++) {
                    if (tap_phase(ky, pad, s) != py) continue;
                    for (int kx = 0; kx < k; kx++) {
                        if (tap_phase(kx, pad, s) != px) continue;
                        const tap_entry t = {ky * k + kx, tap_offset(ky, pad, s) - base, 0, tap_offset(kx, pad, s) - base,
                                             py, px, first, false};
                        taps_tbl[n++] = t;
                        first = false;
                    }
                }
                if (first) {
                    const tap_entry t = {0, 0, 0, 0, py, px, true, true};
                    taps_tbl[n++] = t;
                }
            }
        }
    }
    return n;
}

// Input column x (relative to the tile's first) goes to plane x % ps, at x / ps.
static void load_input(const wide_t *fm_in, wide_t buf[XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS], int g,
                       int groups, int y0, int x0, int rows, int cols, int ps, int in_h, int in_w) {
    static const wide_t zero = {{0}};
    int r = 0, c = 0, plane = 0, pc = 0;
load_words:
    for (int i = 0; i < rows * cols; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1536 max=26841
#pragma HLS PIPELINE II=1
        const int y = y0 + r, x = x0 + c;
        const bool inside = y >= 0 && y < in_h && x >= 0 && x < in_w;
        buf[r][plane][pc] = inside ? fm_in[((int64_t)y * groups + g) * in_w + x] : zero;
        XLIC_COUNT(input_words, 1);
        c++;
        if (++plane == ps) {
            plane = 0;
            pc++;
        }
        if (c == cols) {
            c = 0, plane = 0, pc = 0;
            r++;
        }
    }
}

static void load_weights(const wide_t *weights, wide_t buf[XLIC_MAX_TAPS][XLIC_POF], int t, int g, int groups, int taps) {
    const int64_t base = ((int64_t)t * groups + g) * taps * XLIC_POF;
load_taps:
    for (int i = 0; i < taps * XLIC_POF; i++) {
#pragma HLS LOOP_TRIPCOUNT min=16 max=1296
#pragma HLS PIPELINE II=1
        buf[i / XLIC_POF][i % XLIC_POF] = weights[base + i];
        XLIC_COUNT(weight_words, 1);
    }
}

// The weights of group g rearranged for a folded transposed convolution:
// pass p's tap (ty, tx) for folded channel p * XLIC_POF + j sits at
// buf[p * T * T + ty * T + tx][j]; every stored tap (ky, kx) of channel ch
// serves exactly one phase, the rest of the window is zero.
static void load_weights_folded(const wide_t *weights, wide_t buf[XLIC_MAX_TAPS][XLIC_POF], int g, int groups, int k,
                                int s, int cout, int fold_taps, int fold_first, int passes) {
    static const wide_t zero = {{0}};
    const int pad = k / 2, taps = k * k, tiles = (cout + XLIC_POF - 1) / XLIC_POF;
fold_zero:
    for (int i = 0; i < passes * fold_taps * fold_taps; i++) {
#pragma HLS LOOP_TRIPCOUNT min=4 max=81
#pragma HLS PIPELINE II=1
        for (int j = 0; j < XLIC_POF; j++) buf[i][j] = zero;
    }
fold_tiles:
    for (int t = 0; t < tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=2
        const int64_t base = ((int64_t)t * groups + g) * taps * XLIC_POF;
    fold_words:
        for (int i = 0; i < taps * XLIC_POF; i++) {
#pragma HLS LOOP_TRIPCOUNT min=144 max=1296
#pragma HLS PIPELINE II=1
            const wide_t word = weights[base + i];
            XLIC_COUNT(weight_words, 1);
            const int tap = i / XLIC_POF, ch = t * XLIC_POF + i % XLIC_POF;
            const int ky = tap / k, kx = tap % k;
            const int ty = tap_offset(ky, pad, s) - fold_first, tx = tap_offset(kx, pad, s) - fold_first;
            const int fch = (tap_phase(ky, pad, s) * s + tap_phase(kx, pad, s)) * cout + ch;
            if (ch < cout) buf[(fch / XLIC_POF) * fold_taps * fold_taps + ty * fold_taps + tx][fch % XLIC_POF] = word;
        }
    }
}

// acc[co] (+)= sum_l w[co][l] * x[l] (or |x[l]|) for XLIC_POF channels.
static inline void mac(acc_t *a, const wide_t w[XLIC_POF], const wide_t &x, bool absolute, bool init, bool none) {
    int32_t xv[XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=xv complete
    for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
        const int32_t v = none ? 0 : x.v[l];
        xv[l] = absolute && v < 0 ? -v : v;
    }
mac_pof:
    for (int co = 0; co < XLIC_POF; co++) {
#pragma HLS UNROLL
        int64_t sum = 0;
        for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
            sum += (int64_t)((int32_t)w[co].v[l] * xv[l]);
        }
        a[co] = (init ? 0 : a[co]) + sum;
    }
}

// One pass of the MAC array over a tile for XLIC_POF channels (co0..):
// every tap of the table over a rows x cols grid of pixel vectors, as one
// flattened pipelined loop. Grid pixel (a, b) reads input row a * rs + ey,
// plane `plane`, column b + ex, and accumulates into row a * os + py, slot
// px * cols + b. norm: |x| and the 1x1 GDN tap; keep: save the inputs.
static void compute_pass(const wide_t in[XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS],
                         const wide_t w[XLIC_MAX_TAPS][XLIC_POF], int w_base, int n_taps, int rows, int cols, int rs,
                         int os, int co0, int cpad, int g, bool norm, bool keep) {
    int e = 0, a = 0, b = 0;
pass:
    for (int i = 0; i < n_taps * rows * (cols / XLIC_POX); i++) {
        // 81 taps x 128 vectors (ana_0) down to 1 tap (GDN).
#pragma HLS LOOP_TRIPCOUNT min=128 max=20736
#pragma HLS PIPELINE II=1
        XLIC_COUNT(mac_iterations, 1);
        const tap_entry t = taps_tbl[e];
        const bool init = t.first && g == 0;
        const int r = a * os + t.py;
        const int band = r / XLIC_TILE_ROWS;
    pass_pox:
        for (int u = 0; u < XLIC_POX; u++) {
#pragma HLS UNROLL
            const wide_t &x = in[a * rs + t.ey][t.plane][b + u + t.ex];
            mac(&acc[r % XLIC_TILE_ROWS][t.px * cols + b + u][band * cpad + co0], w[w_base + t.w], x, norm, init, t.none);
            if (keep) xkeep[a][b + u][g] = x;
        }
        b += XLIC_POX;
        if (b == cols) {
            b = 0;
            if (++a == rows) {
                a = 0;
                e++;
            }
        }
    }
}

static int16_t finish(uint32_t op, const chan_params &p, acc_t a, int16_t x) {
    if (op == XLIC_OP_CONV || op == XLIC_OP_TCONV) return sat16(rshift_round((a + p.bias) * p.mult, p.shift));
    const int64_t norm = p.bias + a;
    if (op == XLIC_OP_GDN) return sat16(div_round((int64_t)x * ((int64_t)1 << p.shift), norm));
    return sat16(rshift_round((int64_t)x * norm, p.shift));
}

// What one layer's schedule needs, computed once per start.
struct layer_t {
    uint32_t op;
    int k, s, cout, in_h, in_w, out_h, out_w;
    int in_groups, out_groups, out_tiles;
    bool norm, fold, phases;
    int fold_taps, fold_first, fold_channels;
    int n_taps, passes, cpad, scale, grid_h, grid_w, col_step, rows, in_rows, rs, os, planes;
};

// Where a step (one input group of one tile) is.
struct step_t {
    int y0, x0, g;
};

static step_t next_step(const layer_t &L, step_t st) {
    if (++st.g == L.in_groups) {
        st.g = 0;
        st.x0 += XLIC_TILE_COLS;
        if (st.x0 >= L.grid_w) {
            st.x0 = 0;
            st.y0 += L.rows;
        }
    }
    return st;
}

// Grid columns of the tile at x0: the last one trimmed to the map, in
// whole pixel vectors (per phase).
static int tile_cols(const layer_t &L, int x0) {
    return min_int(XLIC_TILE_COLS, (L.grid_w - x0 + L.col_step - 1) / L.col_step * L.col_step);
}

// The loads of one step: its input tile, and a folded layer's weights.
static void load_step(const layer_t &L, const wide_t *fm_in, const wide_t *weights, step_t st,
                      wide_t in[XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS], wide_t w[XLIC_MAX_TAPS][XLIC_POF]) {
#pragma HLS INLINE off
    const int cols = tile_cols(L, st.x0);
    const int in_cols = input_extent(L.op, L.fold, L.fold_taps, cols, L.k, L.s);
    const int iy0 = input_origin(L.op, L.fold, L.fold_first, st.y0, L.k, L.s);
    const int ix0 = input_origin(L.op, L.fold, L.fold_first, st.x0, L.k, L.s);
    load_input(fm_in, in, st.g, L.in_groups, iy0, ix0, L.in_rows, in_cols, L.planes, L.in_h, L.in_w);
    if (L.fold) load_weights_folded(weights, w, st.g, L.in_groups, L.k, L.s, L.cout, L.fold_taps, L.fold_first, L.passes);
}

// Pass t of a step from the weights in w (at w_base), while pass t+1's
// block (unless folded: those came with the step) loads into w_next: two
// calls on different memories, which the scheduler runs concurrently.
static void pass_and_prefetch(const layer_t &L, const wide_t *weights, step_t st, int t,
                              const wide_t in[XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS],
                              const wide_t w[XLIC_MAX_TAPS][XLIC_POF], int w_base, wide_t w_next[XLIC_MAX_TAPS][XLIC_POF]) {
#pragma HLS INLINE off
    const int cols = tile_cols(L, st.x0);
    // A pass walks rows x cols pixels; phase by phase, each phase's.
    const int pass_rows = L.phases ? L.rows / L.s : L.rows, pass_cols = L.phases ? cols / L.s : cols;
    compute_pass(in, w, w_base, L.n_taps, pass_rows, pass_cols, L.rs, L.os, t * XLIC_POF, L.cpad, st.g, L.norm,
                 L.norm && t == 0);
    if (!L.fold && t + 1 < L.passes) load_weights(weights, w_next, t + 1, st.g, L.in_groups, L.k * L.k);
}

// All passes of one step. Folded: the step's rearranged weights are in
// wf. Otherwise each pass's weight block is loaded into one half of wbuf
// while the previous pass computes from the other.
static void compute_step(const layer_t &L, const wide_t *weights, step_t st,
                         const wide_t in[XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS],
                         const wide_t wf[XLIC_MAX_TAPS][XLIC_POF]) {
#pragma HLS INLINE off
    if (!L.fold) load_weights(weights, wbuf[0], 0, st.g, L.in_groups, L.k * L.k);
passes_loop:
    for (int t = 0; t < L.passes; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8
        if (L.fold) pass_and_prefetch(L, weights, st, t, in, wf, t * L.fold_taps * L.fold_taps, wbuf[1]);
        else if (t & 1) pass_and_prefetch(L, weights, st, t, in, wbuf[1], 0, wbuf[0]);
        else pass_and_prefetch(L, weights, st, t, in, wbuf[0], 0, wbuf[1]);
    }
}

// One step from the `cur` halves while the next step's loads (if any)
// fill the `next` halves: concurrent, as above.
static void step_and_prefetch(const layer_t &L, const wide_t *fm_in, const wide_t *weights, step_t st, step_t next,
                              bool more, const wide_t in[XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS],
                              const wide_t wf[XLIC_MAX_TAPS][XLIC_POF],
                              wide_t in_next[XLIC_IN_TILE_ROWS][XLIC_MAX_STRIDE][XLIC_IN_PLANE_COLS],
                              wide_t wf_next[XLIC_MAX_TAPS][XLIC_POF]) {
#pragma HLS INLINE off
    compute_step(L, weights, st, in, wf);
    if (more) load_step(L, fm_in, weights, next, in_next, wf_next);
}

// Requantize the tile at (y0, x0) and store the output pixels that lie in
// the map, as row bursts of one channel group.
static void store_tile(const layer_t &L, wide_t *fm_out, int y0, int x0) {
#pragma HLS INLINE off
    const int cols = tile_cols(L, x0), pass_cols = L.phases ? cols / L.s : cols;
    const int oy0 = y0 * L.scale, ox0 = x0 * L.scale;
    const int srows = min_int(L.rows * L.scale, L.out_h - oy0), scols = min_int(cols * L.scale, L.out_w - ox0);
    int r = 0, og = 0, c = 0;
store:
    for (int i = 0; i < srows * L.out_groups * scols; i++) {
#pragma HLS LOOP_TRIPCOUNT min=96 max=24576
#pragma HLS PIPELINE II=1
        // Where output pixel (r, c) of this tile accumulated.
        int arow = r, slot = c, chbase = 0;
        if (L.fold) {
            arow = r / L.s, slot = c / L.s, chbase = ((r % L.s) * L.s + c % L.s) * L.cout;
        } else if (L.phases) {
            slot = (c % L.s) * pass_cols + c / L.s;
        }
        wide_t word;
        for (int l = 0; l < XLIC_LANES; l++) {
            const int ch = og * XLIC_LANES + l;
            const acc_t a = acc[arow % XLIC_TILE_ROWS][slot][(arow / XLIC_TILE_ROWS) * L.cpad + chbase + ch];
            const int16_t x = L.norm ? xkeep[r][c][og].v[l] : (int16_t)0;
            word.v[l] = ch < L.cout ? finish(L.op, pbuf[ch], a, x) : (int16_t)0;
        }
        fm_out[((int64_t)(oy0 + r) * L.out_groups + og) * L.out_w + (ox0 + c)] = word;
        XLIC_COUNT(output_words, 1);
        if (++c == scols) {
            c = 0;
            if (++og == L.out_groups) {
                og = 0;
                r++;
            }
        }
    }
}

void xlic_layer(const wide_t *fm_in, const wide_t *weights, const wide_t *params, wide_t *fm_out,
                uint32_t op, uint32_t kernel, uint32_t stride, uint32_t cin, uint32_t cout,
                uint32_t in_h, uint32_t in_w, uint32_t out_h, uint32_t out_w) {
#pragma HLS INTERFACE m_axi port=fm_in offset=slave bundle=gmem_in depth=65536 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=gmem_w depth=65536 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=params offset=slave bundle=gmem_w depth=128
#pragma HLS INTERFACE m_axi port=fm_out offset=slave bundle=gmem_out depth=65536 max_write_burst_length=256
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
#pragma HLS INTERFACE s_axilite port=return bundle=control
#pragma HLS DATA_PACK variable=fm_in
#pragma HLS DATA_PACK variable=weights
#pragma HLS DATA_PACK variable=params
#pragma HLS DATA_PACK variable=fm_out
#pragma HLS ARRAY_PARTITION variable=ibuf complete dim=1
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=1
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=3
#pragma HLS ARRAY_PARTITION variable=wfold complete dim=1
#pragma HLS ARRAY_PARTITION variable=wfold complete dim=3
#pragma HLS ARRAY_PARTITION variable=ibuf cyclic factor=12 dim=4
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=12 dim=2
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=16 dim=3
#pragma HLS ARRAY_PARTITION variable=xkeep cyclic factor=12 dim=2
#pragma HLS ARRAY_PARTITION variable=taps_tbl complete
#pragma HLS DEPENDENCE variable=ibuf inter false
#pragma HLS DEPENDENCE variable=wbuf inter false
#pragma HLS DEPENDENCE variable=wfold inter false
// A tap's pixels are at least XLIC_TILE_ROWS / XLIC_MAX_STRIDE = 4 vectors
// apart from the next tap's writes to the same accumulators: more than the
// read-add-write latency.
#pragma HLS DEPENDENCE variable=acc inter false

#ifndef __SYNTHESIS__
    xlic_counts = xlic_counts_t();
#endif
    layer_t L = {};
    L.op = op;
    L.norm = op == XLIC_OP_GDN || op == XLIC_OP_IGDN;
    L.k = L.norm ? 1 : (int)kernel, L.s = L.norm ? 1 : (int)stride;
    L.cout = (int)cout, L.in_h = (int)in_h, L.in_w = (int)in_w, L.out_h = (int)out_h, L.out_w = (int)out_w;
    L.in_groups = (int)((cin + XLIC_LANES - 1) / XLIC_LANES);
    L.out_groups = (int)((cout + XLIC_LANES - 1) / XLIC_LANES);
    L.out_tiles = (int)((cout + XLIC_POF - 1) / XLIC_POF);

load_params:
    for (int ch = 0; ch < L.out_tiles * XLIC_POF; ch++) {
#pragma HLS LOOP_TRIPCOUNT min=16 max=128
#pragma HLS PIPELINE II=1
        pbuf[ch] = unpack_params(params[ch]);
    }

    L.fold = phase_fold(op, L.k, L.s, L.cout, &L.fold_taps, &L.fold_first, &L.fold_channels);
    L.n_taps = build_taps(op, L.fold, L.fold_taps, L.k, L.s);
    // The grid the MAC array walks, and output pixels per grid pixel.
    L.scale = L.fold ? L.s : 1;
    L.grid_h = L.fold ? L.in_h : L.out_h, L.grid_w = L.fold ? L.in_w : L.out_w;
    L.passes = L.fold ? (L.fold_channels + XLIC_POF - 1) / XLIC_POF : L.out_tiles;
    L.cpad = L.passes * XLIC_POF;
    L.phases = op == XLIC_OP_TCONV && !L.fold;
    L.col_step = L.phases ? XLIC_POX * L.s : XLIC_POX;
    // Tile height: as many bands as the accumulator's channel slots hold
    // and the input tile buffer allows (GDN/IGDN: one, for xkeep).
    int bands = L.norm ? 1 : XLIC_MAX_CHANNELS / L.cpad;
    while (bands > 1 && input_extent(op, L.fold, L.fold_taps, XLIC_TILE_ROWS * bands, L.k, L.s) > XLIC_IN_TILE_ROWS) bands--;
    L.rows = XLIC_TILE_ROWS * bands;
    L.in_rows = input_extent(op, L.fold, L.fold_taps, L.rows, L.k, L.s);
    // How pass pixels map to input rows (rs) and accumulator rows (os), and
    // how many planes input columns are dealt into.
    L.rs = (op == XLIC_OP_CONV) ? L.s : 1, L.os = L.phases ? L.s : 1;
    L.planes = (op == XLIC_OP_CONV) ? L.s : 1;

    // Steps: (tile, input group) in order. Each step computes from one half
    // of ibuf (and, folded, of wbuf) while the next step's loads fill the
    // other half; a tile's outputs leave after its last group.
    const int steps = (L.grid_h + L.rows - 1) / L.rows * ((L.grid_w + XLIC_TILE_COLS - 1) / XLIC_TILE_COLS) * L.in_groups;
    step_t st = {0, 0, 0};
    load_step(L, fm_in, weights, st, ibuf[0], wfold[0]);
    int sel = 0;
steps_loop:
    for (int i = 0; i < steps; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=11008
        const step_t next = next_step(L, st);
        const bool more = i + 1 < steps;
        if (sel == 0) step_and_prefetch(L, fm_in, weights, st, next, more, ibuf[0], wfold[0], ibuf[1], wfold[1]);
        else step_and_prefetch(L, fm_in, weights, st, next, more, ibuf[1], wfold[1], ibuf[0], wfold[0]);
        if (st.g == L.in_groups - 1) store_tile(L, fm_out, st.y0, st.x0);
        st = next;
        sel ^= 1;
    }
}
