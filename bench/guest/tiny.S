/*
 * The side-by-side benchmark guest (bench/run): the same bytes are the first
 * instructions under modvm and under QEMU.  modvm enters an ELF vmlinux at
 * e_entry in 64-bit long mode; QEMU microvm enters through the Xen PVH note
 * in 32-bit flat protected mode.  Both point at `entry`, and every
 * instruction below encodes identically in 32- and 64-bit mode, so neither
 * VMM runs a single guest instruction the other does not (firmware aside).
 *
 * It prints '\n' on COM1 (modvm's console is line-buffered), writes the
 * UART scratch register TINY_LOOPS times (a PIO exit into each VMM's 16550
 * model), prints '\n' again and halts with interrupts off: an idle VM.
 */
#ifndef TINY_LOOPS
#define TINY_LOOPS 0
#endif
#define COM1 0x3f8
#define COM1_SCR (COM1 + 7)

	.section .text.entry, "ax"
	.global entry
entry:
	mov	$COM1, %dx
	mov	$0x0a, %al
	outb	%al, %dx		/* the first guest instruction that exits */
#if TINY_LOOPS > 0
	mov	$COM1_SCR, %dx
	mov	$TINY_LOOPS, %ecx
1:	outb	%al, %dx
	loop	1b
	mov	$COM1, %dx
	outb	%al, %dx
#endif
	cli
2:	hlt
	jmp	2b

	/* XEN_ELFNOTE_PHYS32_ENTRY (18): QEMU's PVH loader and modvm's both read it. */
	.section .note.Xen, "a", @note
	.balign 4
	.long	4, 4, 18
	.asciz	"Xen"
	.long	entry
	.section .note.GNU-stack, "", @progbits
