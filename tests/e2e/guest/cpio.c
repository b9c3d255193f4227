/* The newc cpio writer (see cpio.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpio.h"

#define MAX_DIRS 64

struct cpio {
	FILE *f;
	unsigned ino;
	size_t ndirs;
	char *dirs[MAX_DIRS];
	int err;
};

static void pad4(struct cpio *c, size_t n)
{
	while (n++ % 4)
		fputc(0, c->f);
}

static void entry(struct cpio *c, const char *name, unsigned mode, const void *data, size_t size)
{
	size_t namesz = strlen(name) + 1;

	fprintf(c->f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ++c->ino,
		mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namesz, 0u);
	fwrite(name, 1, namesz, c->f);
	pad4(c, 110 + namesz);
	if (size) {
		fwrite(data, 1, size, c->f);
		pad4(c, size);
	}
}

struct cpio *cpio_open(const char *path)
{
	struct cpio *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->f = fopen(path, "wb");
	if (!c->f) {
		free(c);
		return NULL;
	}
	return c;
}

static bool have_dir(struct cpio *c, const char *path)
{
	for (size_t i = 0; i < c->ndirs; i++)
		if (strcmp(c->dirs[i], path) == 0)
			return true;
	return false;
}

/* Every parent of @path, outermost first. */
static int parents(struct cpio *c, const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (cpio_dir(c, buf) < 0)
			return -1;
		*s = '/';
	}
	return 0;
}

int cpio_dir(struct cpio *c, const char *path)
{
	if (have_dir(c, path))
		return 0;
	if (c->ndirs == MAX_DIRS) {
		fprintf(stderr, "cpio: more than %d directories\n", MAX_DIRS);
		return c->err = -1;
	}
	if (parents(c, path) < 0)
		return -1;
	c->dirs[c->ndirs++] = strdup(path);
	entry(c, path, 040755, NULL, 0);
	return 0;
}

int cpio_data(struct cpio *c, const char *path, unsigned mode, const void *data, size_t len)
{
	if (parents(c, path) < 0)
		return -1;
	entry(c, path, 0100000 | mode, data, len);
	return 0;
}

int cpio_file(struct cpio *c, const char *path, const char *src)
{
	FILE *in = fopen(src, "rb");
	struct stat st;

	if (!in || fstat(fileno(in), &st) < 0) {
		fprintf(stderr, "cpio: %s: %s\n", src, strerror(errno));
		if (in)
			fclose(in);
		return c->err = -1;
	}
	char *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	size_t n = buf ? fread(buf, 1, (size_t)st.st_size, in) : 0;
	fclose(in);
	if (!buf || n != (size_t)st.st_size) {
		fprintf(stderr, "cpio: %s: short read\n", src);
		free(buf);
		return c->err = -1;
	}
	int r = cpio_data(c, path, (st.st_mode & 0111) ? 0755 : 0644, buf, n);
	free(buf);
	return r;
}

int cpio_symlink(struct cpio *c, const char *path, const char *target)
{
	if (parents(c, path) < 0)
		return -1;
	entry(c, path, 0120777, target, strlen(target));
	return 0;
}

int cpio_close(struct cpio *c)
{
	entry(c, "TRAILER!!!", 0, NULL, 0);
	int r = c->err;
	if (fclose(c->f) != 0)
		r = -1;
	for (size_t i = 0; i < c->ndirs; i++)
		free(c->dirs[i]);
	free(c);
	return r;
}
