/* msgids.c: the delivered-message log for UIDVALIDITY recovery. */
#include "msgids.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fdio.h"
#include "xmalloc.h"

#define MSGIDS_LINE	34	/* 16 + 1 + 16 + '\n' */

struct msgids {
	char	*path;
	int	 fd;
	char	*queue;
	size_t	 qlen;
	size_t	 qalloc;
};

/* The first 64 bits of SHA-256 over the parts, NUL-separated. */
static uint64_t
msgids_hash(const char *a, const char *b)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen;
	EVP_MD_CTX	*ctx;
	uint64_t	v = 0;
	int		i;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort();
	EVP_DigestUpdate(ctx, a, strlen(a) + 1);
	if (b != NULL)
		EVP_DigestUpdate(ctx, b, strlen(b));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return (v);
}

static uint64_t
msgids_key(const char *msgid, uint64_t size)
{
	char	buf[32];

	snprintf(buf, sizeof buf, "%" PRIu64, size);
	return (msgids_hash(msgid, buf));
}

struct msgids *
msgids_open(const char *state_dir, const char *account, char **cause)
{
	struct msgids	*m;
	const char	*p;
	char		*name;
	size_t		 o = 0;

	/* The same file-name rule as the state file: nothing escapes. */
	name = xmalloc(strlen(account) * 3 + 1);
	for (p = account; *p != '\0'; p++) {
		if (isalnum((unsigned char)*p) || *p == '_' || *p == '-' ||
		    (*p == '.' && p != account))
			name[o++] = *p;
		else
			o += sprintf(name + o, "%%%02X", (unsigned char)*p);
	}
	name[o] = '\0';
	m = xcalloc(1, sizeof *m);
	xasprintf(&m->path, "%s/%s.ids", state_dir, name);
	free(name);
	m->fd = open(m->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (m->fd == -1) {
		xasprintf(cause, "%s: %s", m->path, strerror(errno));
		msgids_close(m);
		return (NULL);
	}
	return (m);
}

void
msgids_close(struct msgids *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	free(m->queue);
	free(m->path);
	free(m);
}

void
msgids_add(struct msgids *m, const char *folder, const char *msgid,
    uint64_t size)
{
	if (msgid == NULL || *msgid == '\0')
		return;
	if (m->qlen + MSGIDS_LINE + 1 > m->qalloc) {
		m->qalloc = m->qalloc == 0 ? 4096 : m->qalloc * 2;
		m->queue = xreallocarray(m->queue, m->qalloc, 1);
	}
	m->qlen += snprintf(m->queue + m->qlen, m->qalloc - m->qlen,
	    "%016" PRIx64 " %016" PRIx64 "\n", msgids_hash(folder, NULL),
	    msgids_key(msgid, size));
}

int
msgids_flush(struct msgids *m, char **cause)
{
	if (fdio_write_all(m->fd, m->queue, m->qlen) == -1) {
		xasprintf(cause, "%s: write: %s", m->path, strerror(errno));
		return (-1);
	}
	m->qlen = 0;
	if (fsync(m->fd) == -1) {
		xasprintf(cause, "%s: fsync: %s", m->path, strerror(errno));
		return (-1);
	}
	return (0);
}

static int
msgids_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

int
msgids_load(struct msgids *m, const char *folder, struct msgids_set *set,
    char **cause)
{
	FILE		*f;
	char		 line[64];
	uint64_t	 want = msgids_hash(folder, NULL), fh, key;
	size_t		 alloc = 0;
	int		 fd;

	set->keys = NULL;
	set->n = 0;
	if ((fd = open(m->path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (f = fdopen(fd, "r")) == NULL) {
		xasprintf(cause, "%s: %s", m->path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		/* A torn or foreign line is skipped, never trusted. */
		if (strlen(line) != MSGIDS_LINE || line[MSGIDS_LINE - 1] != '\n')
			continue;
		if (sscanf(line, "%16" SCNx64 " %16" SCNx64, &fh, &key) != 2 ||
		    fh != want)
			continue;
		if (set->n == alloc) {
			alloc = alloc == 0 ? 1024 : alloc * 2;
			set->keys = xreallocarray(set->keys, alloc,
			    sizeof *set->keys);
		}
		set->keys[set->n++] = key;
	}
	fclose(f);
	qsort(set->keys, set->n, sizeof *set->keys, msgids_cmp);
	return (0);
}

int
msgids_set_has(const struct msgids_set *set, const char *msgid, uint64_t size)
{
	uint64_t	key;

	if (msgid == NULL || *msgid == '\0' || set->n == 0)
		return (0);
	key = msgids_key(msgid, size);
	return (bsearch(&key, set->keys, set->n, sizeof *set->keys,
	    msgids_cmp) != NULL);
}

void
msgids_set_clear(struct msgids_set *set)
{
	free(set->keys);
	set->keys = NULL;
	set->n = 0;
}

/* Finds "Message-ID:" at the start of a line (any case), then takes its
 * value up to the end of the field, unfolding continuation lines. */
char *
msgids_parse_header(const char *buf, size_t len)
{
	static const char	 name[] = "message-id:";
	size_t			 i = 0, o = 0, nl = sizeof name - 1;
	char			*out;

	while (i + nl <= len) {
		if ((i == 0 || buf[i - 1] == '\n') &&
		    strncasecmp(buf + i, name, nl) == 0)
			break;
		i++;
	}
	if (i + nl > len)
		return (NULL);
	i += nl;
	out = xmalloc(len - i + 1);
	for (; i < len; i++) {
		if (buf[i] == '\r')
			continue;
		if (buf[i] == '\n') {
			if (i + 1 < len && (buf[i + 1] == ' ' ||
			    buf[i + 1] == '\t'))
				continue;	/* folded */
			break;
		}
		out[o++] = buf[i];
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	for (i = 0; out[i] == ' ' || out[i] == '\t'; i++)
		;
	memmove(out, out + i, o - i + 1);
	if (*out == '\0') {
		free(out);
		return (NULL);
	}
	return (out);
}
