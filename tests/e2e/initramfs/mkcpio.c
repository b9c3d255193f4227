/*
 * Writes a cpio "newc" archive holding INIT as /init (mode 0100755) and
 * each NAME=PATH as /NAME: the initramfs for the Linux e2e test, built
 * without host cpio tools.  Usage: mkcpio INIT OUT [NAME=PATH...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pad4(FILE *f, long n)
{
	while (n++ % 4)
		fputc(0, f);
}

static void entry(FILE *f, const char *name, unsigned mode, const char *data, long size)
{
	long namesz = (long)strlen(name) + 1;
	fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08lX%08X%08X%08X%08X%08lX%08X",
		1u, mode, 0u, 0u, 1u, 0u, (unsigned long)size, 0u, 0u, 0u, 0u, (unsigned long)namesz, 0u);
	fwrite(name, 1, (size_t)namesz, f);
	pad4(f, 110 + namesz);
	if (size) {
		fwrite(data, 1, (size_t)size, f);
		pad4(f, size);
	}
}

/* Reads all of @path; NULL (after a message) on failure. */
static char *slurp(const char *path, long *size)
{
	FILE *in = fopen(path, "rb");
	if (!in) {
		perror(path);
		return NULL;
	}
	fseek(in, 0, SEEK_END);
	*size = ftell(in);
	rewind(in);
	char *buf = malloc(*size > 0 ? (size_t)*size : 1);
	if (!buf || *size < 0 || fread(buf, 1, (size_t)*size, in) != (size_t)*size) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		buf = NULL;
	}
	fclose(in);
	return buf;
}

/* Adds @path as /@name (mode 0100644, or 0100755 for /init). */
static int add(FILE *out, const char *name, const char *path)
{
	long size;
	char *buf = slurp(path, &size);
	if (!buf)
		return 1;
	entry(out, name, strcmp(name, "init") ? 0100644 : 0100755, buf, size);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s INIT OUT [NAME=PATH...]\n", argv[0]);
		return 2;
	}
	FILE *out = fopen(argv[2], "wb");
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	int rc = add(out, "init", argv[1]);
	for (int i = 3; i < argc && !rc; i++) {
		char *eq = strchr(argv[i], '='), *slash = strchr(argv[i], '/');
		if (!eq || eq == argv[i] || (slash && slash < eq)) {
			fprintf(stderr, "%s: want NAME=PATH, NAME without '/'\n", argv[i]);
			rc = 2;
			break;
		}
		*eq = '\0';
		rc = add(out, argv[i], eq + 1);
	}
	entry(out, "TRAILER!!!", 0, NULL, 0);
	if (fclose(out) != 0) {
		perror(argv[2]);
		return 1;
	}
	if (rc)
		remove(argv[2]);
	return rc;
}
