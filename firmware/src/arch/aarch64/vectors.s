// Exception vector table: 16 entries of 0x80 bytes. Every entry saves the
// full register state on SP_EL1 (the per-core exception stack) and calls
// `exception_handler(ctx, kind)`; if Rust returns, the state is restored,
// so a handled exception (the semihosting probe, a probe site, an SError in
// a write guard) resumes where it was.
//
// "Full" includes FP/SIMD: q0-q31, FPSR and FPCR. The handler is Rust and
// may use q registers (copies, formatting); an SError is asynchronous and
// can interrupt `serror_guarded`'s closure at any instruction, with vector
// registers live that no call boundary told the compiler to give up. The
// synchronous resumes would be safe by the calling convention alone (each
// probe site is a function call), the asynchronous one is not.

.equ CTX_SIZE, 288                      // 31 GPRs + ELR, SPSR, ESR, FAR, SP_EL0
.equ FP_CTX_SIZE, 528                   // FPSR and FPCR, then q0-q31

.macro VECTOR kind
.balign 0x80
    sub     sp, sp, #CTX_SIZE
    stp     x0, x1, [sp, #16 * 0]
    mov     x1, #\kind
    b       .Lsave_and_handle
.endm

.section .text.vectors, "ax"
.balign 0x800
.global __exception_vectors
__exception_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

.Lsave_and_handle:
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x2, elr_el1
    stp     x30, x2, [sp, #16 * 15]
    mrs     x2, spsr_el1
    mrs     x3, esr_el1
    stp     x2, x3, [sp, #16 * 16]
    mrs     x2, far_el1
    mrs     x3, sp_el0
    stp     x2, x3, [sp, #16 * 17]

    sub     sp, sp, #FP_CTX_SIZE
    stp     q0, q1, [sp, #16 + 32 * 0]
    stp     q2, q3, [sp, #16 + 32 * 1]
    stp     q4, q5, [sp, #16 + 32 * 2]
    stp     q6, q7, [sp, #16 + 32 * 3]
    stp     q8, q9, [sp, #16 + 32 * 4]
    stp     q10, q11, [sp, #16 + 32 * 5]
    stp     q12, q13, [sp, #16 + 32 * 6]
    stp     q14, q15, [sp, #16 + 32 * 7]
    stp     q16, q17, [sp, #16 + 32 * 8]
    stp     q18, q19, [sp, #16 + 32 * 9]
    stp     q20, q21, [sp, #16 + 32 * 10]
    stp     q22, q23, [sp, #16 + 32 * 11]
    stp     q24, q25, [sp, #16 + 32 * 12]
    stp     q26, q27, [sp, #16 + 32 * 13]
    stp     q28, q29, [sp, #16 + 32 * 14]
    stp     q30, q31, [sp, #16 + 32 * 15]
    mrs     x2, fpsr
    mrs     x3, fpcr
    stp     x2, x3, [sp]

    add     x0, sp, #FP_CTX_SIZE        // the ExceptionContext above
    bl      exception_handler

    ldp     x2, x3, [sp]
    msr     fpsr, x2
    msr     fpcr, x3
    ldp     q0, q1, [sp, #16 + 32 * 0]
    ldp     q2, q3, [sp, #16 + 32 * 1]
    ldp     q4, q5, [sp, #16 + 32 * 2]
    ldp     q6, q7, [sp, #16 + 32 * 3]
    ldp     q8, q9, [sp, #16 + 32 * 4]
    ldp     q10, q11, [sp, #16 + 32 * 5]
    ldp     q12, q13, [sp, #16 + 32 * 6]
    ldp     q14, q15, [sp, #16 + 32 * 7]
    ldp     q16, q17, [sp, #16 + 32 * 8]
    ldp     q18, q19, [sp, #16 + 32 * 9]
    ldp     q20, q21, [sp, #16 + 32 * 10]
    ldp     q22, q23, [sp, #16 + 32 * 11]
    ldp     q24, q25, [sp, #16 + 32 * 12]
    ldp     q26, q27, [sp, #16 + 32 * 13]
    ldp     q28, q29, [sp, #16 + 32 * 14]
    ldp     q30, q31, [sp, #16 + 32 * 15]
    add     sp, sp, #FP_CTX_SIZE

    ldp     x2, x3, [sp, #16 * 16]
    msr     spsr_el1, x2
    ldp     x30, x2, [sp, #16 * 15]
    msr     elr_el1, x2
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    add     sp, sp, #CTX_SIZE
    eret
