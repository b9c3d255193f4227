/*
 * Records this host's facts to a file (or stdout), the way
 * `modvm caps --record FILE` will: how tests/fixtures/hosts/this-host.facts
 * was made.  Not a test.
 */
#include <stdio.h>
#include <modvm/hostfacts.h>

int main(int argc, char **argv)
{
	struct modvm_host_facts f;

	if (argc > 2 || modvm_host_facts_read(&f) < 0)
		return 1;
	if (argc == 2)
		return modvm_host_facts_save(&f, argv[1]) < 0;
	return modvm_host_facts_write(&f, stdout) < 0;
}
