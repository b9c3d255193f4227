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

/* Any interrupt: end it at the local APIC and return (the driver re-reads
 * its device state after every wakeup). */
	.text
	.global irq_stub
irq_stub:
	push	%rax
	mov	$0xfee000b0, %eax	/* LAPIC EOI; a 32-bit mov zero-extends */
	movl	$0, (%rax)
	pop	%rax
	iretq

/* Any exception: say so on the console and power off, rather than hang. */
	.global fault_stub
fault_stub:
	mov	$0x3f8, %dx
	mov	$'!', %al
	out	%al, %dx
	mov	$0x604, %dx
	mov	$0x2000, %ax
	out	%ax, %dx
2:	hlt
	jmp	2b

	.section .bss
	.balign 16
	.skip	16384
stack_top:
	.section .note.GNU-stack, "", @progbits
