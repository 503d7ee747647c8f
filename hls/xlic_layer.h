// X-LIC accelerator: one layer of the bls2017 codec per start.
// The arithmetic is the one defined by the xlic-model crate
// (model/PACKAGE.md); the testbench checks it bit for bit.
#ifndef XLIC_LAYER_H
#define XLIC_LAYER_H

#include <stdint.h>
#include "xlic_config.h"

// One 128-bit bus word: XLIC_LANES INT16 values, lane 0 in the low bits.
// (Packed into one m_axi word by DATA_PACK; standard C++ for C-simulation.)
struct wide_t {
    int16_t v[XLIC_LANES];
};

// Layer types (the `op` register), as xlic_model::Op::code.
enum xlic_op : uint32_t {
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
// its last start, so the testbench can check the model against the code.
struct xlic_counts_t {
    uint64_t mac_iterations, input_words, weight_words, output_words;
};
extern xlic_counts_t xlic_counts;
#define XLIC_COUNT(field, n) (xlic_counts.field += (n))
#else
#define XLIC_COUNT(field, n) ((void)0)
#endif

void xlic_layer(const wide_t *fm_in, const wide_t *weights, const wide_t *params, wide_t *fm_out,
                uint32_t op, uint32_t kernel, uint32_t stride, uint32_t cin, uint32_t cout,
                uint32_t in_h, uint32_t in_w, uint32_t out_h, uint32_t out_w);

#endif
