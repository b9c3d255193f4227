#include <modvm/cpu.h>

MODVM_EXPORT const char *modvm_cpu_exit_name(uint32_t kind)
{
	static const char *const names[] = {
		[MODVM_EXIT_NONE] = "none",
		[MODVM_EXIT_PIO] = "pio",
		[MODVM_EXIT_MMIO] = "mmio",
		[MODVM_EXIT_HLT] = "hlt",
		[MODVM_EXIT_SHUTDOWN] = "shutdown",
		[MODVM_EXIT_SYSTEM_RESET] = "system-reset",
		[MODVM_EXIT_SYSTEM_OFF] = "system-off",
		[MODVM_EXIT_INTERNAL_ERROR] = "internal-error",
		[MODVM_EXIT_FAIL_ENTRY] = "fail-entry",
		[MODVM_EXIT_INTR] = "interrupted",
		[MODVM_EXIT_UNKNOWN] = "unknown",
	};
	if (kind >= sizeof(names) / sizeof(names[0]) || !names[kind])
		return "unknown";
	return names[kind];
}
