/* maildir_bench.c: delivery throughput of commit-per-message against
 * stage + sync, on a real disk (tmpfs hides fsync costs).
 *
 *	maildir_bench DIR [COUNT [SIZE [BATCH]]]
 *
 * Delivers COUNT messages (default 2000) of SIZE bytes (default 51200) in
 * 8 KB writes, once with maildir_deliver_commit for each, once with
 * maildir_deliver_stage and a maildir_sync every BATCH messages (default
 * COUNT: one sync). DIR must not exist; it is left for inspection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maildir.h"

#define CHUNK	8192

/* Seconds since an arbitrary origin. */
static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Writes one message of size bytes in CHUNK pieces. */
static struct maildir_delivery *
write_one(struct maildir *md, const char *buf, size_t size)
{
	struct maildir_delivery	*d;
	char			*cause;
	size_t			 off, n;

	if ((d = maildir_deliver_begin(md, &cause)) == NULL)
		goto fail;
	for (off = 0; off < size; off += n) {
		n = size - off < CHUNK ? size - off : CHUNK;
		if (maildir_deliver_write(d, buf + off, n, &cause) != 0)
			goto fail;
	}
	return (d);
fail:
	fprintf(stderr, "maildir_bench: %s\n", cause);
	exit(1);
}

/* Runs one mode; batch 0 is commit per message. Returns seconds. */
static double
run(const char *root, const char *buf, size_t size, int count, int batch)
{
	struct maildir	*md;
	char		*cause;
	double		 t0;
	int		 i, rv;

	if ((md = maildir_open(root, NULL, &cause)) == NULL)
		goto fail;
	t0 = now();
	for (i = 0; i < count; i++) {
		if (batch == 0)
			rv = maildir_deliver_commit(write_one(md, buf, size),
			    NULL, NULL, &cause);
		else {
			rv = maildir_deliver_stage(write_one(md, buf, size),
			    NULL, NULL, &cause);
			if (rv == 0 && ((i + 1) % batch == 0 || i + 1 == count))
				rv = maildir_sync(md, &cause);
		}
		if (rv != 0)
			goto fail;
	}
	t0 = now() - t0;
	maildir_close(md);
	return (t0);
fail:
	fprintf(stderr, "maildir_bench: %s\n", cause);
	exit(1);
}

int
main(int argc, char **argv)
{
	char	*buf, *root;
	size_t	 size = 51200, i;
	int	 count = 2000, batch;
	double	 t;

	if (argc < 2 || argc > 5) {
		fprintf(stderr, "usage: maildir_bench dir [count [size "
		    "[batch]]]\n");
		return (2);
	}
	if (argc > 2)
		count = atoi(argv[2]);
	if (argc > 3)
		size = strtoul(argv[3], NULL, 10);
	batch = argc > 4 ? atoi(argv[4]) : count;
	if (count <= 0 || batch <= 0)
		return (2);
	if ((buf = malloc(size)) == NULL)
		return (1);
	for (i = 0; i < size; i++)
		buf[i] = (i % 77 == 76) ? '\n' : 'a' + i % 26;

	if (asprintf(&root, "%s/commit", argv[1]) == -1)
		return (1);
	t = run(root, buf, size, count, 0);
	printf("commit per message: %d x %zu B in %.2f s (%.0f msg/s)\n",
	    count, size, t, count / t);
	free(root);
	if (asprintf(&root, "%s/stage", argv[1]) == -1)
		return (1);
	t = run(root, buf, size, count, batch);
	printf("stage + sync/%-5d: %d x %zu B in %.2f s (%.0f msg/s)\n",
	    batch, count, size, t, count / t);
	free(root);
	free(buf);
	return (0);
}
