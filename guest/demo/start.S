/*
 * Entry of the demo guest.  modvm's loader enters here in 64-bit long mode
 * (the Linux 64-bit boot protocol: identity-mapped page tables, flat
 * segments, interrupts off) with RSI = the boot_params ("zero page") GPA.
 */
	.section .text.start, "ax"
	.global _start
	.code64
_start:
	cli
	lea	stack_top(%rip), %rsp
	mov	%rsi, %rdi
	call	demo_main
1:	hlt
	jmp	1b

	.section .bss
	.balign 16
	.skip	16384
stack_top:
	.section .note.GNU-stack, "", @progbits
