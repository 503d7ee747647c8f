// Entry of every A53 core. QEMU starts all four here; on the board the FSBL
// starts core 0 at EL3 and the PMU holds the others in reset.
//
// Whatever the entry level (EL3 as FSBL hands over, EL2, or EL1), each core
// drops to EL1, enables FP/SIMD before any Rust code runs (the compiler uses
// q registers for copies), installs the vectors and its stacks, unmasks
// SError, then core 0 zeroes .bss and enters Rust while the others park.
//
// Cortex-A53 erratum 835769 (r0p0-r0p4; the ZynqMP's A53 is r0p4): a 64-bit
// multiply-accumulate directly after a load or store may compute a wrong
// result. The compiler avoids the pair (+fix-cortex-a53-835769 in
// .cargo/config.toml); hand-written code here puts a `nop` between them, and
// `cargo xtask test` scans the release ELF for the pair (xtask/src/erratum.rs).

.equ SCR_EL3_VALUE,   0x430        // RW: EL1 is AArch64; bits 5:4 RES1; NS=0 -> secure EL1
.equ HCR_EL2_VALUE,   (1 << 31)    // RW: EL1 is AArch64
.equ CPTR_EL2_VALUE,  0x33ff       // RES1 bits, TFP=0: no FP/SIMD trap
.equ SPSR_EL1H_DAIF,  0x3c5        // return to EL1h with D, A, I, F masked
.equ SCTLR_EL1_RESET, 0x30d00800   // RES1 bits only: MMU and caches off
.equ CPACR_FPEN,      (3 << 20)

.equ IOU_SCNTRS_BASE,          0xff260000  // system counter, secure control frame (UG1087)
.equ SCNTRS_COUNTER_CONTROL,   0x00        // bit 0 EN: the counter runs
.equ SCNTRS_BASE_FREQUENCY_ID, 0x20        // the counter's frequency in Hz, as psu_init wrote it
// The ZCU102 design's timestamp clock (XPAR_CPU_CORTEXA53_0_TIMESTAMP_CLK_FREQ
// of its BSP), for a system counter whose frequency register nobody wrote.
.equ ZCU102_TIMESTAMP_HZ,      99999001

.section .text._start, "ax"
.global _start
_start:
    b       .Lreset
    // Image header at a fixed place (the load address + 8), so a debugger
    // can set boot options after downloading the ELF and before `con`
    // (boot/jtag.tcl does). Read by firmware/src/arch/aarch64/boot_options.rs.
    .word   0
    .ascii  "XLICBOOT"                   // +0x08 magic
.global __boot_options
__boot_options:
    .word   {BOOT_OPTIONS}               // +0x10 boot options (bit 0: skip the semihosting probe)
    .word   1                            // +0x14 header version
.Lreset:
    mrs     x19, mpidr_el1
    and     x19, x19, #0xff              // x19 = core number (Aff0)
    mrs     x20, CurrentEL
    ubfx    x20, x20, #2, #2             // x20 = exception level at entry
    cmp     x20, #3
    b.eq    .Lfrom_el3
    cmp     x20, #2
    b.eq    .Lfrom_el2
    b       .Lel1_entry

.Lfrom_el3:
    bl      __xlic_el3_entry_hook        // weak: a test entry may change the boot state here
    bl      el3_counter_init
    msr     cptr_el3, xzr
    mov     x0, #SCR_EL3_VALUE
    msr     scr_el3, x0
    mov     x0, #SPSR_EL1H_DAIF
    msr     spsr_el3, x0
    adr     x0, .Lel1_entry
    msr     elr_el3, x0
    eret

.Lfrom_el2:
    bl      __xlic_el2_entry_hook        // weak: a test entry may install an EL2 service here
    mov     x0, #HCR_EL2_VALUE
    msr     hcr_el2, x0
    mov     x0, #CPTR_EL2_VALUE
    msr     cptr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #3                   // EL1PCTEN | EL1PCEN: counter and timer at EL1
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mrs     x0, midr_el1
    msr     vpidr_el2, x0
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    mov     x0, #SPSR_EL1H_DAIF
    msr     spsr_el2, x0
    adr     x0, .Lel1_entry
    msr     elr_el2, x0
    eret

.Lel1_entry:
    ldr     x0, =SCTLR_EL1_RESET
    msr     sctlr_el1, x0
    mov     x0, #CPACR_FPEN
    msr     cpacr_el1, x0
    isb
    ldr     x0, =__exception_vectors
    msr     vbar_el1, x0

    // This core's stack block: [guard][exception stack][guard][main stack]
    ldr     x1, =__stacks_start
    ldr     x2, =__core_stacks_size
    nop                                  // erratum 835769: no load directly before a 64-bit madd
    madd    x1, x19, x2, x1
    ldr     x3, =__stack_guard_size
    ldr     x4, =__exc_stack_size
    ldr     x5, =__main_stack_size
    add     x1, x1, x3
    add     x1, x1, x4
    mov     sp, x1                       // SP_EL1: exception stack top
    add     x1, x1, x3
    add     x1, x1, x5
    msr     sp_el0, x1                   // SP_EL0: main stack top
    msr     spsel, #0                    // run on SP_EL0, take exceptions on SP_EL1
    isb
    // SError on from here (vectors and the exception stack are in place):
    // an AXI SLVERR/DECERR on a write is reported instead of vanishing.
    // Xilinx's boot.S unmasks it the same way after its vector base.
    msr     daifclr, #4

    cbnz    x19, .Lpark

    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
.Lzero_bss:
    cmp     x0, x1
    b.hs    .Lbss_done
    stp     xzr, xzr, [x0], #16
    b       .Lzero_bss
.Lbss_done:
    mov     x0, x20                      // entry EL
    mrs     x1, mpidr_el1
    bl      _start_rust
    b       .Lhalt

    // Secondary cores check in (entry EL | 0x100) and wait for a start
    // address in their mailbox; both arrays live in .data, not .bss, so core
    // 0 zeroing .bss cannot race with them.
.Lpark:
    ldr     x0, =PARKED_CORES
    orr     x1, x20, #0x100
    str     x1, [x0, x19, lsl #3]
    dsb     sy
    ldr     x0, =CORE_MAILBOX
.Lwait:
    wfe
    ldr     x1, [x0, x19, lsl #3]
    cbz     x1, .Lwait
    br      x1

.Lhalt:
    wfe
    b       .Lhalt
.ltorg

// At EL3, as Xilinx's boot.S and XTime_StartTimer do for every loader:
// - the system counter (IOU_SCNTRS) must run: if its EN bit is clear, give
//   it a frequency (its BASE_FREQUENCY_ID, or the ZCU102 timestamp clock
//   when that reads 0) and set EN (xtime_l.c XTime_StartTimer);
// - CNTFRQ_EL0 (writable at EL3 only) is always written from
//   BASE_FREQUENCY_ID when that is non-zero (boot.S writes the design's
//   timestamp frequency unconditionally; psu_init writes the same value to
//   BASE_FREQUENCY_ID), so a stale value a loader left is replaced.
// Where the register reads 0 even after the write (QEMU models no
// IOU_SCNTRS), a CNTFRQ_EL0 already set is kept and one that is 0 gets the
// ZCU102 value, so no deadline expires at once. What was written to
// CNTFRQ_EL0 is recorded in CNTFRQ_SET_AT_EL3 (.data) for `diag`.
// Clobbers x0-x2. `el3_counter_init_at` takes the counter's register frame
// in x1 (a test entry hands it one in RAM: QEMU has no IOU_SCNTRS).
el3_counter_init:
    ldr     x1, =IOU_SCNTRS_BASE
.global el3_counter_init_at
el3_counter_init_at:
    ldr     w2, [x1, #SCNTRS_COUNTER_CONTROL]
    tbnz    w2, #0, 1f                   // running: its frequency register stays
    ldr     w0, [x1, #SCNTRS_BASE_FREQUENCY_ID]
    cbnz    w0, 0f
    ldr     w0, =ZCU102_TIMESTAMP_HZ
    str     w0, [x1, #SCNTRS_BASE_FREQUENCY_ID]
0:  orr     w2, w2, #1                   // EN
    str     w2, [x1, #SCNTRS_COUNTER_CONTROL]
1:  ldr     w0, [x1, #SCNTRS_BASE_FREQUENCY_ID]
    cbnz    w0, 2f
    mrs     x0, cntfrq_el0
    cbnz    x0, 3f                       // no counter register here: keep what is set
    ldr     w0, =ZCU102_TIMESTAMP_HZ
2:  msr     cntfrq_el0, x0
    ldr     x1, =CNTFRQ_SET_AT_EL3
    str     w0, [x1]
3:  ret
.ltorg

// Defaults of the test hooks: nothing to change.
.weak __xlic_el3_entry_hook
__xlic_el3_entry_hook:
    ret
.weak __xlic_el2_entry_hook
__xlic_el2_entry_hook:
    ret
