// X-LIC accelerator: every size and parallelism factor, in one place.
//
// accel-regs/build.rs reads the XLIC_* defines below into Rust constants
// (accel_regs::limits), and the model package records the ones that shape
// data in DDR, so the firmware refuses a package built for another
// configuration. Change a value here and everything follows.
#ifndef XLIC_CONFIG_H
#define XLIC_CONFIG_H

// INT16 values per 128-bit bus word; input-channel parallelism (Pif).
#define XLIC_LANES 8
// Output channels computed in parallel (Pof).
#define XLIC_POF 16
// Output pixels computed in parallel (Pox).
#define XLIC_POX 12
// Output tile: rows x columns. Multiples of every stride (1, 2, 4) and of
// XLIC_POX per phase, so each transposed-conv phase is whole.
#define XLIC_TILE_ROWS 16
#define XLIC_TILE_COLS 96
// Largest kernel side, stride, channel count and image side supported.
#define XLIC_MAX_KERNEL 9
#define XLIC_MAX_STRIDE 4
#define XLIC_MAX_CHANNELS 128
#define XLIC_MAX_SIDE 4096
// Target clock (the ZCU102 reference design's 3.2 ns; script.tcl uses it).
#define XLIC_CLOCK_PERIOD_PS 3200

// Derived sizes of the on-chip buffers.
#define XLIC_MAX_TAPS (XLIC_MAX_KERNEL * XLIC_MAX_KERNEL)
#define XLIC_MAX_GROUPS (XLIC_MAX_CHANNELS / XLIC_LANES)
// Input rows one output tile reads, worst case over the layer types: a
// convolution reads (T - 1) * s + K.
#define XLIC_IN_TILE_ROWS ((XLIC_TILE_ROWS - 1) * XLIC_MAX_STRIDE + XLIC_MAX_KERNEL)
// Input columns are held in XLIC_MAX_STRIDE planes (column x in plane
// x % s at x / s); a plane holds the most any layer type needs, a
// stride-1 transposed convolution's T + K.
#define XLIC_IN_PLANE_COLS (XLIC_TILE_COLS + XLIC_MAX_KERNEL)

#endif
