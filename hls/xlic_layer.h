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

// The status the kernel returns (AP_RETURN, valid after ap_done): a code in
// bits 3..0 and the configuration the kernel was built with in bits 31..4,
// so a caller built for another configuration sees that it is not talking
// to its accelerator. accel-regs/build.rs reads the XLIC_STATUS_* defines
// into `accel_regs::status`; xlic_model::layout::HwLimits::config_id
// computes the same configuration word (the C-simulation checks the two
// agree on every vector).
//   DONE           the layer ran; its output is written
//   TILE_REFUSED   the tile registers ask for a tile this kernel's buffers
//                  cannot hold (or that breaks Tiling's rules): nothing ran,
//                  nothing was written
//   LAYER_REFUSED  the layer registers are outside this kernel's limits
//                  (op, kernel, stride, channels, sides): nothing written
// A code of 0 is never returned: a register reading 0 after ap_done is not
// this kernel.
#define XLIC_STATUS_DONE 1
#define XLIC_STATUS_TILE_REFUSED 2
#define XLIC_STATUS_LAYER_REFUSED 3
#define XLIC_STATUS_CODE_MASK 15
#define XLIC_STATUS_CONFIG_SHIFT 4
// The configuration word (28 bits): log2 of pof (bits 2..0), pox (5..3),
// tile rows (9..6), tile columns (13..10), input depth (17..14), output
// lanes (20..18), in bits 26..21 a 6-bit check of the rest (lanes,
// channels, kernel, stride, side, dependence distance), bit 27 zero: all
// shape what the firmware plans (perf::plan uses the output lanes).
#define XLIC_LOG2(v)                                                                                                    \
    ((v) >= 32768 ? 15 : (v) >= 16384 ? 14 : (v) >= 8192 ? 13 : (v) >= 4096 ? 12 : (v) >= 2048 ? 11 : (v) >= 1024 ? 10 \
     : (v) >= 512 ? 9 : (v) >= 256 ? 8 : (v) >= 128 ? 7 : (v) >= 64 ? 6 : (v) >= 32 ? 5 : (v) >= 16 ? 4 : (v) >= 8 ? 3 \
     : (v) >= 4 ? 2 : (v) >= 2 ? 1 : 0)
#define XLIC_CONFIG_CHECK                                                                                               \
    ((XLIC_LANES * 7 + XLIC_MAX_CHANNELS * 5 + XLIC_MAX_KERNEL * 3 + XLIC_MAX_STRIDE * 11 + XLIC_LOG2(XLIC_MAX_SIDE) * 13 + \
      XLIC_ACC_DISTANCE) & 63)
#define XLIC_CONFIG_ID                                                                                                  \
    (XLIC_LOG2(XLIC_POF) | XLIC_LOG2(XLIC_POX) << 3 | XLIC_LOG2(XLIC_TILE_ROWS) << 6 | XLIC_LOG2(XLIC_TILE_COLS) << 10 | \
     XLIC_LOG2(XLIC_IN_DEPTH) << 14 | XLIC_LOG2(XLIC_OUT_LANES) << 18 | XLIC_CONFIG_CHECK << 21)

// fm_in and fm_in2 are the same input map (two read ports: even and odd
// input rows); fm_out and fm_out2 the same output map (two write ports).
// band_rows, bands, tile_cols, unit_passes: the layer's tile
// (xlic_model::layout::TileChoice); one the buffers cannot hold is refused
// (the layer writes nothing, and the status says so).
uint32_t xlic_layer(const word_t *fm_in, const word_t *weights, const word_t *params, word_t *fm_out,
                uint32_t op, uint32_t kernel, uint32_t stride, uint32_t cin, uint32_t cout,
                uint32_t in_h, uint32_t in_w, uint32_t out_h, uint32_t out_w, const word_t *fm_in2,
                word_t *fm_out2, uint32_t band_rows, uint32_t bands, uint32_t tile_cols, uint32_t unit_passes);

#endif
