// X-LIC co-simulation: where the accelerator lives under QEMU, and the
// block the bridge publishes beside its registers.
//
// Under QEMU there is no PL. QEMU's DDR is a shared file; the bridge
// (xlic_cosim.cpp) maps it and serves the kernel's AXI-Lite register block
// (the layout of xxlic_layer_hw.h) at XLIC_COSIM_REGS in guest physical
// memory, a DDR window the firmware's linker script reserves for it. The
// info block tells the firmware that a bridge is there and alive.
//
// accel-regs/build.rs reads the XLIC_COSIM_* defines into
// `accel_regs::cosim`, so the firmware and the bridge share these numbers.
#ifndef XLIC_COSIM_H
#define XLIC_COSIM_H

// Guest physical address of the register block (start of the window).
#define XLIC_COSIM_REGS 0x7FE00000
// Info block, 4 KiB above the registers (u32 words, little-endian):
#define XLIC_COSIM_INFO 0x7FE01000
//   word 0, 1   magic "XLICCSIM"
#define XLIC_COSIM_MAGIC_LO 0x43494c58
#define XLIC_COSIM_MAGIC_HI 0x4d495343
//   word 2      version of this block
#define XLIC_COSIM_VERSION 1
#define XLIC_COSIM_WORD_VERSION 2
//   word 3      heartbeat: incremented by the bridge every millisecond
//               (also while the kernel runs)
#define XLIC_COSIM_WORD_HEARTBEAT 3
//   word 4      time scale: how many times slower than the modelled IP the
//               C-simulation may run (timeouts are multiplied by it)
#define XLIC_COSIM_WORD_TIME_SCALE 4
//   word 5      starts accepted since the bridge came up
#define XLIC_COSIM_WORD_STARTS 5
//   word 6      reset request: the firmware writes 1, the bridge abandons
//               a hung layer, returns to idle and writes 0 (the co-sim
//               stand-in for pulsing the PL reset)
#define XLIC_COSIM_WORD_RESET 6
//   word 7      fault injected (XLIC_COSIM_FAULT_*), so logs explain it
#define XLIC_COSIM_WORD_FAULT 7
#define XLIC_COSIM_FAULT_NONE 0
#define XLIC_COSIM_FAULT_NEVER 1
#define XLIC_COSIM_FAULT_LATE 2
#define XLIC_COSIM_FAULT_CORRUPT 3
//   word 8      microseconds the kernel took for the last layer (host time)
#define XLIC_COSIM_WORD_LAST_MICROS 8
#endif
