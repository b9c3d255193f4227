/*
 * LIST options: which declared options are element fields, and the element
 * table a list's groups are validated against.
 *
 * A table stays one flat array (struct modvm_option never grows within a
 * major): the fields of the list "disks" are the options "disks.path",
 * "disks.readonly", ….  An element group is validated by the same code as
 * any group, against a table made here of those fields by their short names,
 * so elements get unknown-key, type, range and default handling, nested
 * groups and nested lists for free.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_impl.h"

static bool is_field_of(const char *list, const char *name)
{
	size_t n = strlen(list);

	return !strncmp(list, name, n) && name[n] == '.';
}

size_t modvm__cfg_list_of(const struct modvm_option *table, size_t i)
{
	size_t n = modvm__cfg_table_len(table), best = SIZE_MAX;

	for (size_t k = 0; k < n; k++)
		if (k != i && table[k].type == MODVM_OPT_LIST &&
		    is_field_of(table[k].name, table[i].name) &&
		    (best == SIZE_MAX || strlen(table[k].name) < strlen(table[best].name)))
			best = k;
	return best;
}

struct modvm_option *modvm__cfg_elem_table(const struct modvm_option *table, size_t list)
{
	size_t n = modvm__cfg_table_len(table), m = 0, plen = strlen(table[list].name) + 1;
	struct modvm_option *elem = calloc(n + 1, sizeof(*elem));

	if (!elem)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		if (!is_field_of(table[list].name, table[k].name))
			continue;
		elem[m] = table[k];
		elem[m].name = table[k].name + plen;
		m++;
	}
	elem[m] = (struct modvm_option)MODVM_OPTIONS_END;
	return elem;
}
