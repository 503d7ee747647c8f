// X-LIC accelerator kernel: one layer of bls2017 per start.
//
// Schedule for one layer (all loop bounds fixed by xlic_config.h):
//
//   for each output tile of rows x XLIC_TILE_COLS pixels
//     for each input-channel group g (8 channels, one bus word)
//       load the input tile of group g          -> ibuf[g % 2] (ping-pong)
//       for each output-channel tile (XLIC_POF channels)
//         load its weight block for group g      -> wbuf[t % 2] (ping-pong)
//         accumulate XLIC_POX pixels x XLIC_POF channels x XLIC_LANES
//         inputs per cycle into acc (all output channels stay on chip,
//         so the input tile is read once per group)
//     requantize acc and store the tile's output words
//
// A layer with few output channels (syn_2: 3) takes tiles `bands` times
// taller than XLIC_TILE_ROWS (rows = XLIC_TILE_ROWS * bands), keeping the
// extra rows in the accumulator's unused channel slots: output row r,
// channel ch lives at acc[r % XLIC_TILE_ROWS][c][(r / XLIC_TILE_ROWS) *
// cpad + ch]. Fewer, taller tiles reload its weights far less often. The
// rule is xlic_model::layout::Tiling's (the performance model's).
//
// A transposed convolution runs phase by phase: the outputs of phase
// (py, px) only meet the kernel taps with ky = P - py (mod s), so no work
// is spent on the zeros a zero-stuffed input would contain. GDN and IGDN
// are a 1x1 pass over |x| with gamma as weights, followed by one division
// or multiplication per output.
//
// Arithmetic: exactly xlic_model::quant (model/PACKAGE.md).
#include "xlic_layer.h"

typedef int64_t acc_t;  // 48 bits suffice (|acc| < 2^47); int64 in C-sim.

struct chan_params {
    int64_t bias;
    int32_t mult;
    int32_t shift;
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
static wide_t ibuf[2][XLIC_IN_TILE_ROWS][XLIC_IN_TILE_COLS];
static wide_t wbuf[2][XLIC_MAX_TAPS][XLIC_POF];
static acc_t acc[XLIC_TILE_ROWS][XLIC_TILE_COLS][XLIC_MAX_CHANNELS];
static int16_t xkeep[XLIC_TILE_ROWS][XLIC_TILE_COLS][XLIC_MAX_CHANNELS];
static chan_params pbuf[XLIC_MAX_CHANNELS];

// The accumulator of output row r (of a tile of `bands` bands), column c,
// channel ch, where cpad is the layer's padded output channel count.
static inline acc_t *acc_at(int r, int c, int ch, int cpad) {
    return &acc[r % XLIC_TILE_ROWS][c][(r / XLIC_TILE_ROWS) * cpad + ch];
}

// Input rows (columns) t output rows (columns) read, with the halo.
static int input_extent(uint32_t op, int t, int k, int s) {
    const int pad = k / 2;
    if (op == XLIC_OP_CONV) return (t - 1) * s + k;
    if (op == XLIC_OP_TCONV) return (t - 1 + 2 * pad) / s + 2;
    return t;
}

// First input row (column) an output tile starting at o0 reads.
static int input_origin(uint32_t op, int o0, int k, int s) {
    const int p = k / 2;
    if (op == XLIC_OP_CONV) return o0 * s - p;
    if (op == XLIC_OP_TCONV) return floor_div(o0 - p, s);
    return o0;
}

static void load_input(const wide_t *fm_in, wide_t buf[XLIC_IN_TILE_ROWS][XLIC_IN_TILE_COLS], int g, int groups,
                       int y0, int x0, int rows, int cols, int in_h, int in_w) {
    static const wide_t zero = {{0}};
load_rows:
    for (int r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=16 max=69
        const int y = y0 + r;
    load_cols:
        for (int c = 0; c < cols; c++) {
#pragma HLS LOOP_TRIPCOUNT min=96 max=389
#pragma HLS PIPELINE II=1
            const int x = x0 + c;
            const bool inside = y >= 0 && y < in_h && x >= 0 && x < in_w;
            buf[r][c] = inside ? fm_in[((int64_t)y * groups + g) * in_w + x] : zero;
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
    }
}

// acc[r][c][co0 + co] += sum_l w[co][l] * x[l] (or |x[l]|).
static inline void mac(acc_t *a, const wide_t w[XLIC_POF], const wide_t &x, bool absolute) {
    int32_t xv[XLIC_LANES];
#pragma HLS ARRAY_PARTITION variable=xv complete
    for (int l = 0; l < XLIC_LANES; l++) {
#pragma HLS UNROLL
        const int32_t v = x.v[l];
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
        a[co] += sum;
    }
}

static void compute_conv(const wide_t in[XLIC_IN_TILE_ROWS][XLIC_IN_TILE_COLS], const wide_t w[XLIC_MAX_TAPS][XLIC_POF],
                         int co0, int k, int s, int rows, int cpad) {
conv_ky:
    for (int ky = 0; ky < k; ky++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
    conv_kx:
        for (int kx = 0; kx < k; kx++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
        conv_pixels:
            for (int p = 0; p < rows * XLIC_TILE_COLS; p += XLIC_POX) {
        // 16..64 rows (a narrow conv stacks up to 4 bands within the input tile).
#pragma HLS LOOP_TRIPCOUNT min=128 max=512
#pragma HLS PIPELINE II=1
            conv_pox:
                for (int u = 0; u < XLIC_POX; u++) {
#pragma HLS UNROLL
                    const int r = (p + u) / XLIC_TILE_COLS, c = (p + u) % XLIC_TILE_COLS;
                    mac(acc_at(r, c, co0, cpad), w[ky * k + kx], in[r * s + ky][c * s + kx], false);
                }
            }
        }
    }
}

static void compute_tconv(const wide_t in[XLIC_IN_TILE_ROWS][XLIC_IN_TILE_COLS], const wide_t w[XLIC_MAX_TAPS][XLIC_POF],
                          int co0, int k, int s, int y0, int x0, int iy0, int ix0, int rows, int cpad) {
    const int pad = k / 2;
    const int prow = rows / s, pcol = XLIC_TILE_COLS / s;
tconv_py:
    for (int py = 0; py < s; py++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=4
    tconv_px:
        for (int px = 0; px < s; px++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=4
        tconv_ky:
            for (int ky = 0; ky < k; ky++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
                if ((py + ky + XLIC_MAX_STRIDE * XLIC_MAX_KERNEL - pad) % s != 0) continue;
            tconv_kx:
                for (int kx = 0; kx < k; kx++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=9
                    if ((px + kx + XLIC_MAX_STRIDE * XLIC_MAX_KERNEL - pad) % s != 0) continue;
                tconv_pixels:
                    for (int p = 0; p < prow * pcol; p += XLIC_POX) {
#pragma HLS LOOP_TRIPCOUNT min=96 max=12288
#pragma HLS PIPELINE II=1
                    tconv_pox:
                        for (int u = 0; u < XLIC_POX; u++) {
#pragma HLS UNROLL
                            const int r = ((p + u) / pcol) * s + py, c = ((p + u) % pcol) * s + px;
                            const int iy = floor_div(y0 + r + ky - pad, s) - iy0;
                            const int ix = floor_div(x0 + c + kx - pad, s) - ix0;
                            mac(acc_at(r, c, co0, cpad), w[ky * k + kx], in[iy][ix], false);
                        }
                    }
                }
            }
        }
    }
}

static void compute_norm(const wide_t in[XLIC_IN_TILE_ROWS][XLIC_IN_TILE_COLS], const wide_t w[XLIC_MAX_TAPS][XLIC_POF],
                         int co0, int g, bool keep) {
norm_pixels:
    for (int p = 0; p < XLIC_TILE_ROWS * XLIC_TILE_COLS; p += XLIC_POX) {
#pragma HLS PIPELINE II=1
    norm_pox:
        for (int u = 0; u < XLIC_POX; u++) {
#pragma HLS UNROLL
            const int r = (p + u) / XLIC_TILE_COLS, c = (p + u) % XLIC_TILE_COLS;
            mac(&acc[r][c][co0], w[0], in[r][c], true);
            if (keep) {
                for (int l = 0; l < XLIC_LANES; l++) xkeep[r][c][g * XLIC_LANES + l] = in[r][c].v[l];
            }
        }
    }
}

static int16_t finish(uint32_t op, int ch, int r, int c, int cpad) {
    const chan_params &p = pbuf[ch];
    const acc_t a = *acc_at(r, c, ch, cpad);
    if (op == XLIC_OP_CONV || op == XLIC_OP_TCONV) return sat16(rshift_round((a + p.bias) * p.mult, p.shift));
    const int64_t norm = p.bias + a;
    const int64_t x = xkeep[r][c][ch];
    if (op == XLIC_OP_GDN) return sat16(div_round(x * ((int64_t)1 << p.shift), norm));
    return sat16(rshift_round(x * norm, p.shift));
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
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=3
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=12 dim=2
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=16 dim=3
#pragma HLS ARRAY_PARTITION variable=ibuf cyclic factor=12 dim=3
#pragma HLS DEPENDENCE variable=ibuf inter false
#pragma HLS DEPENDENCE variable=wbuf inter false

    const bool norm = op == XLIC_OP_GDN || op == XLIC_OP_IGDN;
    const int k = norm ? 1 : (int)kernel, s = norm ? 1 : (int)stride;
    const int taps = k * k;
    const int in_groups = (int)((cin + XLIC_LANES - 1) / XLIC_LANES);
    const int out_groups = (int)((cout + XLIC_LANES - 1) / XLIC_LANES);
    const int out_tiles = (int)((cout + XLIC_POF - 1) / XLIC_POF);

load_params:
    for (int ch = 0; ch < out_tiles * XLIC_POF; ch++) {
#pragma HLS LOOP_TRIPCOUNT min=16 max=128
#pragma HLS PIPELINE II=1
        pbuf[ch] = unpack_params(params[ch]);
    }

    // Tile height: as many bands as the accumulator's channel slots hold
    // and the input tile buffer allows (GDN/IGDN: one, for xkeep).
    const int cpad = out_tiles * XLIC_POF;
    int bands = norm ? 1 : XLIC_MAX_CHANNELS / cpad;
    while (bands > 1 && input_extent(op, XLIC_TILE_ROWS * bands, k, s) > XLIC_IN_TILE_ROWS) bands--;
    const int rows = XLIC_TILE_ROWS * bands;
    // Input rows/columns one output tile reads.
    const int in_rows = input_extent(op, rows, k, s);
    const int in_cols = input_extent(op, XLIC_TILE_COLS, k, s);

tile_rows:
    for (int y0 = 0; y0 < (int)out_h; y0 += rows) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=256
    tile_cols:
        for (int x0 = 0; x0 < (int)out_w; x0 += XLIC_TILE_COLS) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=43
        clear_acc:
            for (int i = 0; i < XLIC_TILE_ROWS * XLIC_TILE_COLS; i++) {
#pragma HLS PIPELINE II=1
                for (int ch = 0; ch < XLIC_MAX_CHANNELS; ch++) acc[i / XLIC_TILE_COLS][i % XLIC_TILE_COLS][ch] = 0;
            }
            const int iy0 = input_origin(op, y0, k, s), ix0 = input_origin(op, x0, k, s);
            int wsel = 0;
        groups:
            for (int g = 0; g < in_groups; g++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16
                const int isel = g & 1;
                load_input(fm_in, ibuf[isel], g, in_groups, iy0, ix0, in_rows, in_cols, (int)in_h, (int)in_w);
            out_tiles_loop:
                for (int t = 0; t < out_tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8
                    load_weights(weights, wbuf[wsel], t, g, in_groups, taps);
                    const int co0 = t * XLIC_POF;
                    if (op == XLIC_OP_CONV) compute_conv(ibuf[isel], wbuf[wsel], co0, k, s, rows, cpad);
                    else if (op == XLIC_OP_TCONV) compute_tconv(ibuf[isel], wbuf[wsel], co0, k, s, y0, x0, iy0, ix0, rows, cpad);
                    else compute_norm(ibuf[isel], wbuf[wsel], co0, g, t == 0);
                    wsel ^= 1;
                }
            }
        store_rows:
            for (int r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=16 max=128
            store_cols:
                for (int c = 0; c < XLIC_TILE_COLS; c++) {
                    // Edge tiles: outputs beyond the map are computed, not stored.
                    if (y0 + r >= (int)out_h || x0 + c >= (int)out_w) continue;
                store_groups:
                    for (int og = 0; og < out_groups; og++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16
#pragma HLS PIPELINE II=1
                        wide_t word;
                        for (int l = 0; l < XLIC_LANES; l++) {
                            const int ch = og * XLIC_LANES + l;
                            word.v[l] = ch < (int)cout ? finish(op, ch, r, c, cpad) : (int16_t)0;
                        }
                        fm_out[(((int64_t)(y0 + r)) * out_groups + og) * out_w + (x0 + c)] = word;
                    }
                }
            }
        }
    }
}
