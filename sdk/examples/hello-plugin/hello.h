/*
 * hello.h — the event the hello plugin publishes, for anyone who wants to
 * listen to it.  Publishing plugins ship such a header; the bus checks the
 * payload size and version at runtime, so a listener built against another
 * layout is refused (-EPROTO) instead of being fed bytes it cannot read.
 */
#ifndef HELLO_H
#define HELLO_H

#include <modvm/bus.h>

/* hello.greeting — the plugin greeted a VM that started running. */
struct hello_greeting {
	uint32_t vm_id;
	uint32_t count;		/* greetings so far, across all VMs */
	char text[64];
};
MODVM_EVENT(hello_greeting, "hello.greeting", struct hello_greeting, 1)

#endif
