/*
 * Writes a cpio "newc" archive holding one file as /init (mode 0100755):
 * the initramfs for the Linux e2e test, built without host cpio tools.
 * Usage: mkcpio INIT OUT
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

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s INIT OUT\n", argv[0]);
		return 2;
	}
	FILE *in = fopen(argv[1], "rb");
	if (!in) {
		perror(argv[1]);
		return 1;
	}
	fseek(in, 0, SEEK_END);
	long size = ftell(in);
	rewind(in);
	char *buf = malloc(size > 0 ? (size_t)size : 1);
	if (!buf || size < 0 || fread(buf, 1, (size_t)size, in) != (size_t)size) {
		fprintf(stderr, "%s: read failed\n", argv[1]);
		fclose(in);
		free(buf);
		return 1;
	}
	fclose(in);
	FILE *out = fopen(argv[2], "wb");
	if (!out) {
		perror(argv[2]);
		free(buf);
		return 1;
	}
	entry(out, "init", 0100755, buf, size);
	entry(out, "TRAILER!!!", 0, NULL, 0);
	free(buf);
	if (fclose(out) != 0) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
