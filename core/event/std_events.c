/*
 * The SDK's standard event catalogue (modvm/events.h), which the core
 * registers when a host is made.  Otherwise the first plugin to subscribe
 * or publish one registered its layout: one built against a reordered copy
 * took the name, and the plugin built right was refused and blamed.
 */
#include <modvm/events.h>

#include "event/event.h"

MODVM_INTERNAL struct modvm_event_desc *const modvm__std_events[] = {
	&modvm_event_vm_lifecycle, &modvm_event_cpu_caps, &modvm_event_vcpu_stats,
	&modvm_event_host_cpu_load, &modvm_event_power_core_state, &modvm_event_mem_pressure,
	&modvm_event_mem_guest_stats, &modvm_event_mem_balloon_target,
	&modvm_event_mem_balloon_actual, &modvm_event_mem_balloon_state, &modvm_event_net_nic,
	&modvm_event_net_queue_assigned, NULL,
};

MODVM_INTERNAL int modvm__std_events_register(void)
{
	for (size_t i = 0; modvm__std_events[i]; i++) {
		int r = modvm_bus_register(modvm__std_events[i]);
		if (r < 0)
			return r;
	}
	return 0;
}
