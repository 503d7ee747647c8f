// Entry of every A53 core. The FSBL (or QEMU) starts core 0 here at EL3;
// cores 1-3 are held in reset until core 0 releases them with this address
// as their reset vector (bsp/zcu102/apu.rs) when it owns EL3, or starts
// them here with PSCI CPU_ON when it was entered below EL3 (psci.rs).
//
// Whatever the entry level (EL3 as FSBL hands over, EL2, or EL1), each core
// drops to EL1, enables FP/SIMD before any Rust code runs (the compiler uses
// q registers for copies), sets its stacks, installs the vectors, cleans its
// caches; core 0 then unmasks SError, zeroes .bss and enters Rust, a
// secondary core turns its MMU on with core 0's tables, unmasks SError and
// enters its job loop. A secondary stores nothing to memory before its MMU,
// caches and SMPEN are on (it uses registers only; its stack is first used
// in Rust).
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
    bl      el3_core_init
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

    // This core's stack block: [guard][exception stack][guard][main stack].
    // The stacks come first, before the vector base and anything that can
    // fault: an exception taken here would otherwise store its context
    // wherever SP_EL1 happened to point out of reset (UNKNOWN, ARM ARM
    // D1.6.2). Registers only: nothing is stored to memory here.
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
    ldr     x0, =__exception_vectors
    msr     vbar_el1, x0
    isb
    bl      core_cache_init

    // A secondary core unmasks SError only once its MMU and caches are on
    // (secondary_entry): with them off, the vectors' stores of an SError's
    // context would be non-cacheable writes to lines core 0 may hold.
    cbnz    x19, secondary_entry

    // Core 0: SError on from here (vectors and the exception stack are in
    // place): an AXI SLVERR/DECERR on a write is reported instead of
    // vanishing. Xilinx's boot.S unmasks it the same way after its vector
    // base.
    msr     daifclr, #4

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
    // Only core 0 records it: a secondary runs this with its MMU and
    // caches off, and its store would be a non-cacheable write under a
    // line core 0 may hold in its cache (lost, or lost later when core 0
    // evicts the line). The value is the same on every core.
    cbnz    x19, 3f
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

// ---------------------------------------------------------------------------
// Per-core initialisation (every core runs it; the release and the job
// loop are in src/smp.rs).

// CPUACTLR_EL1: the workaround of Cortex-A53 erratum 855873 (Arm's
// Cortex-A53 Software Developers Errata Notice, 855873 "an eviction might
// overtake a cache clean operation", r0p3/r0p4; Xilinx xil_errata.h
// CONFIG_ARM_ERRATA_855873): ENDCCASCI, bit 44 (Cortex-A53 TRM 4.3.64
// CPUACTLR_EL1), makes data cache clean operations clean and invalidate.
// The ZynqMP's A53 is r0p4. Read-modify-write, only that bit: the register
// holds other IMPLEMENTATION DEFINED controls (prefetch, the workaround
// bits TF-A or the FSBL set for other errata, e.g. 836870's DTAH, bit 24)
// that a blind write of Xilinx boot.S's 0x80CA000 would clear. The TRM
// asks for writes to CPUACTLR_EL1 before the caches and MMU are on, as
// here.
.equ CPUACTLR_ENDCCASCI, (1 << 44)
.equ CPUECTLR_SMPEN,     (1 << 6)

// At EL3 only: these IMPLEMENTATION DEFINED registers are writable from
// EL1 only if EL3 (ACTLR_EL3) allows, so a lower entry level leaves them to
// the firmware that owns EL3. SMPEN (CPUECTLR_EL1 bit 6, TRM 4.3.65) puts
// the core in the cluster's coherency domain; the A53 TRM requires it set
// before the caches and MMU are enabled. Clobbers x0 only.
el3_core_init:
    mrs     x0, s3_1_c15_c2_0            // CPUACTLR_EL1
    orr     x0, x0, #CPUACTLR_ENDCCASCI
    msr     s3_1_c15_c2_0, x0
    mrs     x0, s3_1_c15_c2_1            // CPUECTLR_EL1
    orr     x0, x0, #CPUECTLR_SMPEN
    msr     s3_1_c15_c2_1, x0
    isb
    ret

// Before this core enables its MMU: clean and invalidate its data caches
// by set/way (the CLIDR/CCSIDR walk of Xilinx's invalidate_dcaches and
// ARM ARM D4.4.8), then invalidate the instruction cache and the EL1 TLB.
// Core 0 walks every level up to the point of coherency, so nothing the
// loader left dirty in L1 or L2 is lost and no stale line shadows memory
// written while the caches are off. A secondary core walks only up to
// the Level of Unification Inner Shareable (its own L1): the L2 is shared
// with core 0, which is running with it by then, and set/way operations
// are not coherent across cores. Clobbers x0-x10; x19 = core number.
core_cache_init:
    dmb     ish
    mrs     x0, clidr_el1
    ubfx    x2, x0, #24, #3              // LoC
    cbz     x19, 1f
    ubfx    x2, x0, #21, #3              // LoUIS
1:  mov     x1, #0                       // level - 1
2:  cmp     x1, x2
    b.ge    6f
    add     x3, x1, x1, lsl #1           // 3 * level: CLIDR Ctype field
    lsr     x3, x0, x3
    and     x3, x3, #7
    cmp     x3, #2                       // 0: none, 1: I only
    b.lt    5f
    lsl     x4, x1, #1
    msr     csselr_el1, x4               // data/unified cache at this level
    isb
    mrs     x4, ccsidr_el1
    and     x3, x4, #7
    add     x3, x3, #4                   // log2(line bytes)
    ubfx    x5, x4, #3, #10              // ways - 1
    ubfx    x6, x4, #13, #15             // sets - 1
    clz     w7, w5                       // way field shift (32 - log2 ways)
3:  mov     x8, x5                       // way
4:  lsl     x9, x8, x7
    lsl     x10, x6, x3
    orr     x9, x9, x10
    orr     x9, x9, x1, lsl #1
    dc      cisw, x9
    subs    x8, x8, #1
    b.ge    4b
    subs    x6, x6, #1
    b.ge    3b
5:  add     x1, x1, #1
    b       2b
6:  dsb     sy
    ic      iallu
    tlbi    vmalle1
    dsb     sy
    isb
    ret

// A secondary core, on its stacks at EL1 with clean caches: turn the MMU
// and caches on with the configuration core 0 published (MAIR, TCR, TTBR0,
// SCTLR; cleaned to memory before the release, so it reads right with the
// caches off), then enter its job loop in Rust. Never returns.
secondary_entry:
    ldr     x0, =SECONDARY_MMU
    ldr     x1, [x0, #0]
    msr     mair_el1, x1
    ldr     x1, [x0, #8]
    msr     tcr_el1, x1
    ldr     x1, [x0, #16]
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x1, [x0, #24]
    msr     sctlr_el1, x1
    isb
    // MMU, caches and SMPEN on: coherent with core 0 from here, so an
    // SError's report can use the stack and the console (see .Lel1_entry).
    msr     daifclr, #4
    mov     x0, x19
    mov     x1, x20
    bl      _secondary_rust
    b       .Lhalt
.ltorg
