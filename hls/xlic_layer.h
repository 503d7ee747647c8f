// X-LIC accelerator: one layer of the bls2017 codec per start.
// The arithmetic is the one defined by the xlic-model crate
// (model/PACKAGE.md); the testbench checks it bit for bit.
#ifndef XLIC_LAYER_H
#define XLIC_LAYER_H

#include <stdint.h>
#include <ap_int.h>
#include "xlic_config.h"

// One 128-bit bus word: XLIC_LANES INT16 values, lane l in bits
// 16l+15..16l (the DDR layout of xlic_model::layout).
typedef ap_uint<16 * XLIC_LANES> word_t;

// Layer types (the `op` register), as xlic_model::Op::code. A plain enum:
// the kernel is C++98 (what Vivado HLS 2019.2 compiles by default).
enum xlic_op {
    XLIC_OP_CONV = 0,
    XLIC_OP_TCONV = 1,
    XLIC_OP_GDN = 2,
    XLIC_OP_IGDN = 3,
};

// The op's name, for the host programs' reports (testbench, bridge).
static inline const char *xlic_op_name(uint32_t op) {
    static const char *const names[] = {"conv", "tconv", "gdn", "igdn"};
    return op <= XLIC_OP_IGDN ? names[op] : "?";
}

#ifndef __SYNTHESIS__
// C-simulation only: the trip counts the performance model
// (xlic_model::perf::LoopCounts) is built from, counted by the kernel for
// its last start, so the testbench can check the model against the code:
// iterations of the pipelined MAC loop (idle padding included), words
// read from DDR into the input buffer and into the weight buffer, words
// written to DDR, and the bursts (mover loop runs) of each.
struct xlic_counts_t {
    uint64_t mac_iterations, input_words, weight_words, output_words;
    uint64_t input_runs, weight_runs, output_runs;
};
extern xlic_counts_t xlic_counts;
#define XLIC_COUNT(field, n) (xlic_counts.field += (n))

// Host helpers: a bus word from and to XLIC_LANES INT16 values.
static inline word_t xlic_word(const int16_t v[XLIC_LANES]) {
    word_t w = 0;
    for (int l = 0; l < XLIC_LANES; l++) w.range(16 * l + 15, 16 * l) = (uint16_t)v[l];
    return w;
}
static inline int16_t xlic_lane(const word_t &w, int l) {
    return (int16_t)(uint16_t)w.range(16 * l + 15, 16 * l).to_uint();
}
// A bus word from and to 16 little-endian bytes (DDR).
static inline word_t xlic_word_le(const uint8_t *b) {
    uint64_t lo = 0, hi = 0;
    for (int i = 7; i >= 0; i--) lo = lo << 8 | b[i], hi = hi << 8 | b[8 + i];
    word_t w;
    w.range(63, 0) = lo;
    w.range(127, 64) = hi;
    return w;
}
static inline void xlic_word_store_le(const word_t &w, uint8_t *b) {
    const uint64_t lo = w.range(63, 0).to_uint64(), hi = w.range(127, 64).to_uint64();
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(lo >> (8 * i)), b[8 + i] = (uint8_t)(hi >> (8 * i));
}
// The per-output rule of `op` (xlic_model::quant::requant_conv, gdn_out,
// igdn_out) as the kernel computes it, for the testbench's boundary cases.
int16_t xlic_finish_rule(uint32_t op, int64_t acc, int16_t x, int64_t bias, int32_t mult, int32_t shift);
#else
#define XLIC_COUNT(field, n) ((void)0)
#endif

// fm_in and fm_in2 are the same input map (two read ports: even and odd
// input rows); fm_out and fm_out2 the same output map (two write ports).
// band_rows, bands, tile_cols, unit_passes: the layer's tile
// (xlic_model::layout::TileChoice); one the buffers cannot hold is refused
// (the layer writes nothing).
void xlic_layer(const word_t *fm_in, const word_t *weights, const word_t *params, word_t *fm_out,
                uint32_t op, uint32_t kernel, uint32_t stride, uint32_t cin, uint32_t cout,
                uint32_t in_h, uint32_t in_w, uint32_t out_h, uint32_t out_w, const word_t *fm_in2,
                word_t *fm_out2, uint32_t band_rows, uint32_t bands, uint32_t tile_cols, uint32_t unit_passes);

#endif
