/*
 * Entry of the benchmark guest.  modvm's loader enters here in 64-bit long
 * mode (Linux 64-bit boot protocol, interrupts off) with RSI = boot_params.
 */
	.section .text.start, "ax"
	.global _start
	.code64
_start:
	cli
	lea	stack_top(%rip), %rsp
	mov	%rsi, %rdi
	call	bench_main
1:	hlt
	jmp	1b

	.section .bss
	.balign 16
	.skip	4096
stack_top:
	.section .note.GNU-stack, "", @progbits
