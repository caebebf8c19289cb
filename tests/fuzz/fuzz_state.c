/* fuzz_state.c: libFuzzer target for the state-file reader. The input is
 * written as ACCOUNT.state into a temp directory made once and loaded with
 * state_open, the real entry point (lock, stale temp files, reader): it
 * must end in a state or a cause, never a crash or a leak.
 *
 * A mutated file almost never carries a valid end line (record count and
 * SHA-256), so it would only exercise the reader up to the checksum. An
 * input that fails as is is therefore tried a second time "signed": its
 * last line dropped if it is an end line, and a correct end line appended,
 * so that every record parser is driven to success too.
 *
 * Whenever a load succeeds, the state is walked through the public API,
 * saved, and opened again: what the writer produced must load, and saving
 * the reloaded state must give the very same bytes (abort otherwise). It
 * is then changed through the setters, saved and loaded once more. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "state.h"

#define FUZZ_ACCOUNT	"fuzz"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	fuzz_dir[256];
static char	fuzz_path[512];

/* Removes the temp directory (the lock and state file in it) after each
 * input: libFuzzer ends with _Exit when its time is up, so an atexit
 * handler would leave it behind. */
static void
fuzz_cleanup(void)
{
	char	path[512];

	unlink(fuzz_path);
	snprintf(path, sizeof path, "%s/%s.lock", fuzz_dir, FUZZ_ACCOUNT);
	unlink(path);
	rmdir(fuzz_dir);
}

/* Picks a fresh temp directory name, on tmpfs when there is one: every
 * successful load saves three times, and each save fsyncs. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*base = "/dev/shm";
	struct stat	 sb;

	(void)argc;
	(void)argv;
	if (stat(base, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
	    access(base, W_OK) != 0)
		base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz_state.XXXXXX", base);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror(fuzz_dir);
		abort();
	}
	snprintf(fuzz_path, sizeof fuzz_path, "%s/%s.state", fuzz_dir,
	    FUZZ_ACCOUNT);
	rmdir(fuzz_dir);	/* made again for each input */
	return (0);
}

/* Replaces the state file by len bytes of buf. */
static void
fuzz_write(const void *buf, size_t len)
{
	int	fd;

	if (mkdir(fuzz_dir, 0700) == -1 && errno != EEXIST)
		abort();
	if ((fd = open(fuzz_path, O_WRONLY|O_CREAT|O_TRUNC, 0600)) == -1 ||
	    (len > 0 && write(fd, buf, len) != (ssize_t)len))
		abort();
	close(fd);
}

/* The whole state file, malloc'ed, its length in *len. */
static char *
fuzz_read(size_t *len)
{
	struct stat	 sb;
	char		*buf;
	int		 fd;

	if ((fd = open(fuzz_path, O_RDONLY)) == -1 || fstat(fd, &sb) != 0)
		abort();
	if ((buf = malloc(sb.st_size + 1)) == NULL ||
	    read(fd, buf, sb.st_size) != sb.st_size)
		abort();
	close(fd);
	*len = sb.st_size;
	return (buf);
}

/* The input with a correct end line in place of its last line (if that is
 * one): the record count is every line but the first. */
static char *
fuzz_sign(const uint8_t *data, size_t size, size_t *len)
{
	EVP_MD_CTX	*ctx;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen, i;
	char		*buf, *p;
	size_t		 body, lines = 0, n;

	body = size;
	if (body > 0 && data[body - 1] == '\n')
		body--;
	p = memrchr(data, '\n', body);
	n = p == NULL ? 0 : (size_t)(p - (const char *)data) + 1;
	if (body - n >= 4 && memcmp(data + n, "end ", 4) == 0)
		body = n;		/* drop the old end line */
	else
		body = size;
	if ((buf = malloc(body + 1 + 4 + 24 + 1 + 64 + 2)) == NULL)
		abort();
	memcpy(buf, data, body);
	if (body > 0 && buf[body - 1] != '\n')
		buf[body++] = '\n';
	for (n = 0; n < body; n++)
		lines += buf[n] == '\n';
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, buf, body) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	n = body;
	n += sprintf(buf + n, "end %zu ", lines > 0 ? lines - 1 : 0);
	for (i = 0; i < mdlen; i++)
		n += sprintf(buf + n, "%02x", md[i]);
	buf[n++] = '\n';
	*len = n;
	return (buf);
}

/* Walks a loaded state through the public API, checking what it says. */
static void
fuzz_walk(struct state *st)
{
	struct state_folder		*f, *prev = NULL;
	const struct state_inflight	*in;
	const char			*budget;
	size_t				 i, n;

	n = state_folder_count(st);
	for (i = 0; i < n; i++) {
		if ((f = state_folder_at(st, i)) == NULL || *f->name == '\0' ||
		    strlen(f->name) > 2048 ||
		    state_folder_get(st, f->name, 0) != f ||
		    (prev != NULL && strcmp(prev->name, f->name) >= 0) ||
		    (f->pending != NULL && *f->pending == '\0'))
			abort();
		prev = f;
	}
	if (state_folder_at(st, n) != NULL)
		abort();
	n = state_inflight_count(st);
	for (i = 0; i < n; i++) {
		if ((in = state_inflight_at(st, i)) == NULL ||
		    *in->folder == '\0' || *in->id == '\0' || *in->file == '\0')
			abort();
	}
	if (state_inflight_at(st, n) != NULL)
		abort();
	if ((budget = state_budget_get(st)) != NULL &&
	    (*budget == '\0' || strlen(budget) > 4096))
		abort();
	if (state_uidl_has(st, "") || state_uidl_has(st, "a\nb"))
		abort();
	(void)state_uidl_count(st);
}

/* Saves st, returning the bytes written; aborts if it cannot. */
static char *
fuzz_save(struct state *st, size_t *len)
{
	char	*cause = NULL;

	if (state_save(st, &cause) != 0) {
		fprintf(stderr, "state_save: %s\n", cause);
		abort();
	}
	return (fuzz_read(len));
}

/* Changes a loaded state through the setters (UIDLs pruned to the journal's
 * ids, the first journal folder cleared, the first folder removed, the
 * budget dropped), then saves and reloads it: the writer must still
 * produce a file that loads, holding what the setters left. */
static void
fuzz_mutate(struct state *st)
{
	const struct state_inflight	*in;
	const char			**ids;
	char				*name, *cause = NULL;
	size_t				 i, n, uidls, dropped, folders, inflight;

	n = state_inflight_count(st);
	if ((ids = calloc(n + 1, sizeof *ids)) == NULL)
		abort();
	for (i = 0; i < n; i++)
		ids[i] = state_inflight_at(st, i)->id;
	uidls = state_uidl_count(st);
	dropped = state_uidl_prune(st, ids, n);
	if (dropped > uidls || state_uidl_count(st) != uidls - dropped)
		abort();
	for (i = 0; i < n; i++) {
		if (state_uidl_add(st, ids[i]) == 0 && !state_uidl_has(st,
		    ids[i]))
			abort();
	}
	free(ids);
	if ((in = state_inflight_at(st, 0)) != NULL) {
		if ((name = strdup(in->folder)) == NULL)
			abort();
		state_inflight_clear(st, name);
		for (i = 0; (in = state_inflight_at(st, i)) != NULL; i++) {
			if (strcmp(in->folder, name) == 0)
				abort();
		}
		free(name);
	}
	if (state_folder_count(st) > 0) {
		if ((name = strdup(state_folder_at(st, 0)->name)) == NULL)
			abort();
		state_folder_remove(st, name);
		if (state_folder_get(st, name, 0) != NULL)
			abort();
		free(name);
	}
	state_budget_set(st, NULL);
	folders = state_folder_count(st);
	uidls = state_uidl_count(st);
	inflight = state_inflight_count(st);
	if (state_save(st, &cause) != 0) {
		fprintf(stderr, "state_save: %s\n", cause);
		abort();
	}
	state_close(st);
	if ((st = state_open(fuzz_dir, FUZZ_ACCOUNT, &cause)) == NULL) {
		fprintf(stderr, "reload after changes failed: %s\n", cause);
		abort();
	}
	fuzz_walk(st);
	if (state_folder_count(st) != folders ||
	    state_uidl_count(st) != uidls ||
	    state_inflight_count(st) != inflight ||
	    state_budget_get(st) != NULL)
		abort();
	state_close(st);
}

/* Loads the file in place; 1 when it loaded (and round-tripped), 0 when it
 * was refused with a cause. */
static int
fuzz_load(void)
{
	struct state	*st;
	char		*cause = NULL, *first, *second;
	size_t		 flen, slen, uidls, folders, inflight;

	if ((st = state_open(fuzz_dir, FUZZ_ACCOUNT, &cause)) == NULL) {
		if (cause == NULL)
			abort();	/* an error must say why */
		free(cause);
		return (0);
	}
	fuzz_walk(st);
	folders = state_folder_count(st);
	uidls = state_uidl_count(st);
	inflight = state_inflight_count(st);
	first = fuzz_save(st, &flen);
	state_close(st);

	/* What the writer produced must load, and be written identically. */
	if ((st = state_open(fuzz_dir, FUZZ_ACCOUNT, &cause)) == NULL) {
		fprintf(stderr, "reload failed: %s\n", cause);
		abort();
	}
	fuzz_walk(st);
	if (state_folder_count(st) != folders ||
	    state_uidl_count(st) != uidls ||
	    state_inflight_count(st) != inflight)
		abort();
	second = fuzz_save(st, &slen);
	if (flen != slen || memcmp(first, second, flen) != 0) {
		fprintf(stderr, "saved state differs after a reload\n");
		abort();
	}
	free(first);
	free(second);
	fuzz_mutate(st);
	return (1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*signed_buf;
	size_t	 len;

	fuzz_write(data, size);
	if (fuzz_load()) {
		fuzz_cleanup();
		return (0);
	}
	signed_buf = fuzz_sign(data, size, &len);
	fuzz_write(signed_buf, len);
	free(signed_buf);
	fuzz_load();
	fuzz_cleanup();
	return (0);
}
