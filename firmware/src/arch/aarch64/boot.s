// Entry of every A53 core. QEMU starts all four here; on the board the FSBL
// starts core 0 at EL3 and the PMU holds the others in reset.
//
// Whatever the entry level (EL3 as FSBL hands over, EL2, or EL1), each core
// drops to EL1, enables FP/SIMD before any Rust code runs (the compiler uses
// q registers for copies), installs the vectors and its stacks, then core 0
// zeroes .bss and enters Rust while the others park.

.equ SCR_EL3_VALUE,   0x430        // RW: EL1 is AArch64; bits 5:4 RES1; NS=0 -> secure EL1
.equ HCR_EL2_VALUE,   (1 << 31)    // RW: EL1 is AArch64
.equ CPTR_EL2_VALUE,  0x33ff       // RES1 bits, TFP=0: no FP/SIMD trap
.equ SPSR_EL1H_DAIF,  0x3c5        // return to EL1h with D, A, I, F masked
.equ SCTLR_EL1_RESET, 0x30d00800   // RES1 bits only: MMU and caches off
.equ CPACR_FPEN,      (3 << 20)

.section .text._start, "ax"
.global _start
_start:
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
    msr     cptr_el3, xzr
    mov     x0, #SCR_EL3_VALUE
    msr     scr_el3, x0
    mov     x0, #SPSR_EL1H_DAIF
    msr     spsr_el3, x0
    adr     x0, .Lel1_entry
    msr     elr_el3, x0
    eret

.Lfrom_el2:
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
