// X-LIC accelerator: every size and parallelism factor, in one place.
//
// accel-regs/build.rs reads the plain-number XLIC_* defines below into
// Rust constants (accel_regs::limits, accel_regs::HW_LIMITS); the tiling,
// performance and resource models (xlic_model::layout, perf, resources)
// are functions of those, and the model package records the ones that
// shape data in DDR, so the firmware refuses a package built for another
// configuration. Change a value here and everything follows;
// `cargo xtask dse --board B --write` writes the values the design-space
// explorer picks for a board.
#ifndef XLIC_CONFIG_H
#define XLIC_CONFIG_H

// INT16 values per 128-bit bus word; input-channel parallelism (Pif).
#define XLIC_LANES 8
// Output channels computed in parallel (Pof).
#define XLIC_POF 16
// Output pixels computed in parallel (Pox): one pixel vector.
#define XLIC_POX 16
// Output lanes the output engine finishes per cycle (requantization,
// GDN divider, IGDN: one instance of each rule per lane): XLIC_POF / this
// cycles per output pixel. A divisor of XLIC_POF, at least 2.
#define XLIC_OUT_LANES 16
// One accumulator band: rows x columns of the layer's grid. A tile is one
// or more bands (see xlic_model::layout::Tiling).
#define XLIC_TILE_ROWS 8
#define XLIC_TILE_COLS 128
// Largest kernel side, stride, channel count and image side supported.
#define XLIC_MAX_KERNEL 9
#define XLIC_MAX_STRIDE 4
#define XLIC_MAX_CHANNELS 128
#define XLIC_MAX_SIDE 4096
// Words per bank of the input tile buffer for each input-row parity (one
// per input port): 512 x 128 bits is four RAMB18 in 512x36 mode.
#define XLIC_IN_DEPTH 512
// Pixel vectors a MAC pass walks before it returns to the same
// accumulators (shorter passes are padded with idle vectors): at least
// the read-add-write latency of the accumulator pipeline.
#define XLIC_ACC_DISTANCE 8
// m_axi ports: outstanding transactions and burst length (words) in the
// working direction, and in the unused one.
#define XLIC_AXI_OUTSTANDING 4
#define XLIC_AXI_BURST 64
#define XLIC_AXI_IDLE_OUTSTANDING 1
#define XLIC_AXI_IDLE_BURST 2
// The accumulators, and the saved GDN/IGDN inputs, in UltraRAM (1) or
// block RAM (0); UltraRAM only on devices that have it (xlic_model::device).
#define XLIC_ACC_URAM 0
#define XLIC_XKEEP_URAM 0
// The board this configuration is for (xlic_model::device::Board), the
// part script.tcl synthesizes for, and the target clock: 250 MHz
// (script.tcl: the period, 12.5 % uncertainty).
#define XLIC_BOARD "zcu102"
#define XLIC_PART "xczu9eg-ffvb1156-2-e"
#define XLIC_CLOCK_PERIOD_PS 4000

// Derived sizes.
#define XLIC_MAX_TAPS (XLIC_MAX_KERNEL * XLIC_MAX_KERNEL)
#define XLIC_MAX_GROUPS (XLIC_MAX_CHANNELS / XLIC_LANES)
#define XLIC_PAIRS (XLIC_POX / 2)
// Output words (XLIC_LANES channels each) of one pass: 1 or 2.
#define XLIC_WPP (XLIC_POF / XLIC_LANES)
// Cycles of the output engine per output pixel.
#define XLIC_OUT_SUBS (XLIC_POF / XLIC_OUT_LANES)
#if XLIC_OUT_LANES < 2 || XLIC_POF % XLIC_OUT_LANES != 0
#error "XLIC_OUT_LANES must divide XLIC_POF and be at least 2"
#endif
// Pixel vectors of one accumulator slot, slots (XLIC_POF channels each),
// and words per accumulator bank.
#define XLIC_VECS (XLIC_TILE_ROWS * XLIC_TILE_COLS / XLIC_POX)
#define XLIC_SLOTS (XLIC_MAX_CHANNELS / XLIC_POF)
#define XLIC_ACC_DEPTH (XLIC_VECS * XLIC_SLOTS)

#endif
