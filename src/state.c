/* state.c: the per-account state store and its lock.
 *
 * The file is text, one record per line, so that an administrator can read
 * it; it starts with a versioned magic line and ends with a line carrying
 * the record count and the SHA-256 of everything before it, so that a
 * truncated or damaged file is detected rather than read as less state than
 * was saved. Names and UIDLs are percent-encoded: any byte round-trips and a
 * line never contains a space inside a field or a control character.
 *
 *	mailfetchd-state 1
 *	folder <uidvalidity> <last_uid> <name>
 *	pending <folder name> <part of the folder's pending text>
 *	missing <folder name> <part of the folder's missing text>
 *	suspect <folder name> <part of the folder's suspect text>
 *	matching <folder name> [<highest UID the pass matches>]
 *	first_fetch <folder name> unseen <highest UID covered>
 *	first_left <folder name> <new|unseen> <Unix time>
 *	modseq <folder name> <uidvalidity> <highest mod-sequence>
 *	uidl <uidl> [<size> [resized [refetch]]] [absent]
 *	budget <the scheduler's download history, schedule_budget_format>
 *	trashed <IMAP folder name>
 *	refused <folder> <message key> <refusals> <retry Unix time>
 *	inflight <folder> <message id> <Maildir file name>
 *	end <records> <sha256 hex>
 *
 * A POP3 account's owed DELEs are the pending text of its "INBOX" folder
 * record: entries separated by spaces, each "UIDL<tab>SIZE<tab>HDRDIGEST"
 * (the octet count LIST gave, and 16 hex digits of the SHA-256 of the
 * message's header section), and its journal ids have the same form
 * (pop3.c). An entry without the digest ("UIDL<tab>SIZE") or without the
 * size too (the bare UIDL), as older versions wrote, cannot be checked
 * against the message now under that UIDL: that message is fetched again
 * rather than deleted, unless it is a journal entry (pop3.c takes the
 * digest from the delivered file).
 *
 * A "matching" record says the folder's UIDVALIDITY changed and the pass
 * that matches its messages against the msgids log (imap.c) did not
 * complete: the next run resumes it. A file without one (older versions
 * never write it) means no matching is owed; an older version refuses a
 * file that has one ("unknown record") rather than skip the matching.
 * A "suspect" record names the messages a server once sent far larger
 * than it announced (imap.c, pop3.c): asked once more, alone, after the
 * others, and passed over for good if the server does it again. For an
 * IMAP folder the text is "<UIDVALIDITY> <UID set>" (a UID set of another
 * UIDVALIDITY names nothing; its ranges are written from where the next
 * pass starts, then those before: read in any order, the same set); for
 * POP3 (the "INBOX" record) the UIDLs, separated by spaces. A file
 * without one (older versions never write it) has none: what an older
 * version passed over stays passed over. An older version refuses a file
 * that has one ("unknown record").
 * Its UID, once known, bounds the messages the pass may leave untouched
 * (imap.c): those present at the change; mail that arrives later is new
 * mail. One without it (the previous version's) gets it at the next
 * pass; the previous version refuses a record that has it ("expected 1
 * fields") rather than read less than was saved.
 * A "first_fetch" record says the folder's first fetch (first_fetch =
 * unseen) did not complete: until it does, UIDs up to the one named are
 * fetched only when unread. "unseen" is the only mode that needs one
 * (first_fetch = new completes in one save, all has no filter). Its
 * UID 4294967295 with first_left "new" marks a fetched folder that
 * became the trash (imap_trash.c); "bounded" after it says that mark's
 * bound is raised after each move into it. A mark without it (the
 * versions before wrote none) is bound at the folder's next SELECT as
 * they did; they refuse a record that has it ("expected 3 fields")
 * rather than fetch again what was moved there.
 * A "first_left" record says the folder's first fetch left mail on the
 * server (first_fetch = new: all of it; unseen: the read mail) and when
 * it began; it stays for good, so that after a UIDVALIDITY change what is
 * not matched as delivered before gets no server action (imap.c), even
 * when first_fetch is "all" by then. The time is kept, unused. An older
 * version refuses a file that has one ("unknown record") rather than
 * fetch, and with keep = no delete, what the user chose to leave.
 *
 * A "modseq" record (local_flags = mirror on a CONDSTORE server, RFC
 * 7162) says the folder's flag changes up to that HIGHESTMODSEQ are
 * applied to the Maildir: the next sync asks only for later ones. It is
 * saved only after the changes it covers are applied (a crash asks for
 * them again: renaming a file to the flags it has is a no-op), and its
 * UIDVALIDITY is kept with it: of another epoch it names nothing (a full
 * flag fetch). The number is 1 to 2^63-1 (RFC 7162 mod-sequence-value).
 * A file without one (older versions never write it) gets a full flag
 * fetch; an older version refuses a file that has one ("unknown
 * record").
 *
 * A "uidl" record's size is the octet count LIST gave for the message
 * delivered under that UIDL (pop3.c: a later listing of the UIDL with
 * another size is another message, the UIDL freed and given again).
 * Older versions wrote none; they refuse a file whose records have one
 * ("expected 1 fields") rather than read less than was saved. "resized"
 * says the message was fetched again once already for a size change: a
 * server whose LIST size of an unchanged message flaps between two values
 * would otherwise have it fetched again on every run (pop3.c); versions
 * before it refuse the word ("expected 1 fields"). "refetch" says that
 * fetch again is not done yet: the UIDL is not delivered (fetched as
 * new by the next session), but the mark stays with it, so that a
 * session cut before the refetch was delivered (a kill, the daily
 * budget, a drop) does not forget it and fetch the message a third time
 * when the size flaps back (review r14, findings 04 and 05). Versions
 * before it refuse the word ("expected 1 fields"). "absent" (last: after
 * the size, "resized" or "refetch"; alone after the UIDL when no size is
 * known) says the last listing left the delivered UIDL, or one owed a
 * refetch, out: it is forgotten if the next one does too (pop3.c: keep =
 * yes, or its DELE owed). Written only while a UIDL is absent, so a file
 * without one is read by the versions before it; they refuse the word
 * ("unknown mark"; after "refetch": "expected 4 fields"; "bad size"
 * where no size is known) rather than take the absence for nothing.
 *
 * A "trashed" record names a server folder mailfetchd moved delivered
 * messages into as the trash (keep = no): a folder pattern never fetches
 * it, also in a run where the server does not say (or no longer says)
 * that it is the \Trash folder (imap.c; review r11 01). At most
 * STATE_TRASHED_MAX, the oldest dropped first. An older version refuses
 * a file that has one ("unknown record").
 *
 * A "refused" record (deliver = mda | lmtp) names a message the delivery
 * agent refused, with its refusals in a row and the time before which it
 * is not handed over again (state.h state_refused_note; imap.c and pop3.c
 * hold it back meanwhile, owed as before). At most STATE_REFUSED_MAX, the
 * oldest dropped first: a dropped record only has that message tried
 * sooner. Written only while a message the agent refused is on the
 * server, undelivered, so a file without one is read by the versions
 * before it; they refuse a file that has one ("unknown record") rather
 * than start over: to go back to one, first have the refused messages
 * delivered or deleted on the server (until no line of the file starts
 * with "refused"; --status shows only those held back now).
 *
 * Records are described by a table (keyword, field count, optional
 * trailing fields, parser, writer); a new kind of record is one entry and
 * two functions. */
#include "state.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fdio.h"
#include "uidlset.h"
#include "xmalloc.h"

#define STATE_MAGIC		"mailfetchd-state"
#define STATE_VERSION		1
#define STATE_LINE_MAX		16384	/* longest line accepted on load */
#define STATE_READ_SIZE		65536	/* read buffer, above STATE_LINE_MAX */
#define STATE_NAME_MAX		2048	/* folder name; encoded, still a line */
#define STATE_PENDING_PART	2048	/* pending text per line, unencoded */
#define STATE_UIDL_MAX		70	/* RFC 1939 */
#define STATE_BUDGET_MAX	4096	/* 24 hour slots need about 700 */
#define STATE_FIELDS_MAX	8
#define STATE_TRASHED_MAX	32	/* trash folders remembered */
#define STATE_OUT_SIZE		16384	/* write buffer of a save */
#define STATE_RECOVER		"the file was left untouched; to start " \
	"over, move it away (every message still on the server will then " \
	"be fetched again)"
/* A record this version cannot read but a later one may have written (an
 * unknown keyword, more fields, an unknown mark): said so, with what
 * to do instead of moving the file away (review r12, finding 02). */
#define STATE_NEWER		"written by a newer mailfetchd?"
#define STATE_RECOVER_NEWER	"the file was left untouched; run the " \
	"version that wrote it again, or downgrade only to a version that " \
	"reads its records (to start over instead, move it away: every " \
	"message still on the server will then be fetched again)"

/* POP3 UIDL flags in the set (uidlset.h). */
#define UIDL_DELIVERED	0x1
#define UIDL_LISTED	0x2
#define UIDL_SHARED	0x4	/* listed twice since list_begin */
#define UIDL_REFETCH	0x8	/* not delivered, but "resized": kept and
				 * saved with the mark ("refetch") */
#define UIDL_ABSENT	0x10	/* delivered or owed a refetch, and the
				 * last listing left it out: saved with
				 * the mark ("absent"), forgotten if the
				 * next one does too */
#define UIDL_KEPT	(UIDL_DELIVERED | UIDL_REFETCH | UIDL_ABSENT)
				/* saved */
/* In a UIDL's value (the uidlset keeps one 32-bit value per entry), the
 * "resized" mark above the size: the sizes are kept below 2^31, far past
 * any message a maildrop holds (a saturated size stays saturated). */
#define UIDL_RESIZED	0x80000000u
#define UIDL_SIZE_MAX	0x7fffffffu

struct state {
	char			 *account;
	char			 *dir;
	char			 *path;
	char			 *lock_path;
	char			 *file_name;	/* the account's, encoded */
	int			  lock_fd;

	struct state_folder	**folders;	/* sorted by name (strcmp) */
	size_t			  nfolders;

	struct uidlset		 *uidls;
	size_t			  uidl_count;	/* delivered */

	char			 *budget;	/* NULL: none */

	char			 *trashed[STATE_TRASHED_MAX]; /* oldest
						 * first */
	size_t			  ntrashed;

	struct state_refusal	 *refused;	/* oldest refusal first */
	size_t			  nrefused;

	struct state_inflight	 *inflight;	/* the intent journal */
	size_t			  ninflight;
	size_t			  ainflight;

	int			  journal_only;	/* state_open_journal: no
						 * lock, other records
						 * checked but not kept */
};

/* A file being written: through a bounded buffer into the temp file,
 * hashed on the way, so that a save never holds the whole file. */
struct state_out {
	char		*buf;
	size_t		 len;
	size_t		 size;
	size_t		 records;
	int		 fd;
	EVP_MD_CTX	*ctx;
	int		 error;		/* errno of the first failed write */
	int		 hash_failed;
};

/* A file being read: a bounded line reader over a descriptor. */
struct state_in {
	int	 fd;
	char	*buf;
	size_t	 start;
	size_t	 end;
	int	 eof;
};

static int	state_parse_folder(struct state *, char **, char **);
static void	state_write_folders(struct state *, struct state_out *);
static int	state_parse_pending(struct state *, char **, char **);
static void	state_write_pending(struct state *, struct state_out *);
static int	state_parse_missing(struct state *, char **, char **);
static void	state_write_missing(struct state *, struct state_out *);
static int	state_parse_suspect(struct state *, char **, char **);
static void	state_write_suspect(struct state *, struct state_out *);
static int	state_parse_matching(struct state *, char **, char **);
static void	state_write_matching(struct state *, struct state_out *);
static int	state_parse_first(struct state *, char **, char **);
static void	state_write_first(struct state *, struct state_out *);
static int	state_parse_uidl(struct state *, char **, char **);
static void	state_write_uidls(struct state *, struct state_out *);
static int	state_parse_first_left(struct state *, char **, char **);
static void	state_write_first_left(struct state *, struct state_out *);
static int	state_parse_modseq(struct state *, char **, char **);
static void	state_write_modseq(struct state *, struct state_out *);
static int	state_parse_budget(struct state *, char **, char **);
static void	state_write_budget(struct state *, struct state_out *);
static int	state_parse_trashed(struct state *, char **, char **);
static void	state_write_trashed(struct state *, struct state_out *);
static int	state_parse_refused(struct state *, char **, char **);
static void	state_write_refused(struct state *, struct state_out *);
static int	state_parse_inflight(struct state *, char **, char **);
static void	state_write_inflight(struct state *, struct state_out *);

/* Every kind of record, in the order they are written. */
static const struct state_record {
	const char	*keyword;
	size_t		 nfields;
	size_t		 nopt;		/* more fields it may have (NULL
					 * when absent) */
	int		(*parse)(struct state *, char **, char **);
	void		(*write)(struct state *, struct state_out *);
} state_records[] = {
	{ "folder", 3, 0, state_parse_folder, state_write_folders },
	{ "pending", 2, 0, state_parse_pending, state_write_pending },
	{ "missing", 2, 0, state_parse_missing, state_write_missing },
	{ "suspect", 2, 0, state_parse_suspect, state_write_suspect },
	{ "matching", 1, 1, state_parse_matching, state_write_matching },
	{ "first_fetch", 3, 1, state_parse_first, state_write_first },
	{ "first_left", 3, 0, state_parse_first_left, state_write_first_left },
	{ "modseq", 3, 0, state_parse_modseq, state_write_modseq },
	{ "uidl", 1, 4, state_parse_uidl, state_write_uidls },
	{ "budget", 1, 0, state_parse_budget, state_write_budget },
	{ "trashed", 1, 0, state_parse_trashed, state_write_trashed },
	{ "refused", 4, 0, state_parse_refused, state_write_refused },
	{ "inflight", 3, 0, state_parse_inflight, state_write_inflight },
};

static const char state_hex[] = "0123456789ABCDEF";

/* Whether s can be a POP3 UIDL: 1 to 70 bytes, no CR or LF. */
static int
state_uidl_valid(const char *s)
{
	size_t	len;

	len = strcspn(s, "\r\n");
	return (len > 0 && len <= STATE_UIDL_MAX && s[len] == '\0');
}

/* The set's id of a valid UIDL, STATE_UIDL_NONE if absent. */
static uint32_t
state_uidls_find(struct state *st, const char *uidl)
{
	return (uidlset_find(st->uidls, uidl, strlen(uidl)));
}

/* Adds a valid UIDL absent from the set; its id or STATE_UIDL_NONE. */
static uint32_t
state_uidls_insert(struct state *st, const char *uidl, unsigned char flags)
{
	uint32_t	id;

	id = uidlset_insert(st->uidls, uidl, strlen(uidl), flags);
	if (id != STATE_UIDL_NONE && (flags & UIDL_DELIVERED))
		st->uidl_count++;
	return (id);
}


/* Hashes and writes out what is buffered. After an error, bytes are
 * dropped: the save fails at its end. */
static void
state_out_flush(struct state_out *out)
{
	if (out->len == 0)
		return;
	if (EVP_DigestUpdate(out->ctx, out->buf, out->len) != 1)
		out->hash_failed = 1;
	if (out->error == 0 && fdio_write_all(out->fd, out->buf,
	    out->len) == -1)
		out->error = errno;
	out->len = 0;
}

/* Makes room for len more bytes in the buffer. */
static void
state_out_reserve(struct state_out *out, size_t len)
{
	if (out->size - out->len >= len)
		return;
	state_out_flush(out);
	if (out->size >= len)
		return;
	out->size = len;
	out->buf = xreallocarray(out->buf, out->size, 1);
}

/* Appends len bytes to a file being built. */
static void
state_out_add(struct state_out *out, const char *s, size_t len)
{
	state_out_reserve(out, len);
	memcpy(out->buf + out->len, s, len);
	out->len += len;
}

/* Appends a string. */
static void
state_out_str(struct state_out *out, const char *s)
{
	state_out_add(out, s, strlen(s));
}

/* Appends an unsigned number. */
static void
state_out_num(struct state_out *out, unsigned long long n)
{
	char	buf[32];
	int	len;

	len = snprintf(buf, sizeof buf, "%llu", n);
	state_out_add(out, buf, len);
}

/* Appends len bytes of s percent-encoded: printable ASCII but space and
 * '%' as is, every other byte as %XX. */
static void
state_out_encoded_len(struct state_out *out, const char *s, size_t len)
{
	const unsigned char	*p, *end;
	char			*q;

	state_out_reserve(out, 3 * len);
	q = out->buf + out->len;
	end = (const unsigned char *)s + len;
	for (p = (const unsigned char *)s; p < end; p++) {
		if (*p > ' ' && *p < 0x7f && *p != '%') {
			*q++ = *p;
			continue;
		}
		*q++ = '%';
		*q++ = state_hex[*p >> 4];
		*q++ = state_hex[*p & 0xf];
	}
	out->len = q - out->buf;
}

/* Appends a string percent-encoded. */
static void
state_out_encoded(struct state_out *out, const char *s)
{
	state_out_encoded_len(out, s, strlen(s));
}

/* Starts a record line. */
static void
state_out_record(struct state_out *out, const char *keyword)
{
	state_out_str(out, keyword);
	out->records++;
}

/* Starts a record line with two percent-encoded fields: "keyword a b". */
static void
state_out_names(struct state_out *out, const char *keyword, const char *a,
    const char *b)
{
	state_out_record(out, keyword);
	state_out_encoded(out, a);
	state_out_add(out, " ", 1);
	state_out_encoded(out, b);
}

/* The value of a hex digit, -1 if it is not one. */
static int
state_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Decodes a percent-encoded field into a new string; NULL when it holds a
 * byte the encoder never writes, a bad escape, or decodes to a NUL. */
static char *
state_decode(const char *s)
{
	const unsigned char	*p;
	char			*out, *q;
	int			 hi, lo;

	out = q = xmalloc(strlen(s) + 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p != '%') {
			if (*p <= ' ' || *p >= 0x7f)
				goto bad;
			*q++ = *p;
			continue;
		}
		if ((hi = state_hex_value(p[1])) == -1 ||
		    (lo = state_hex_value(p[2])) == -1 ||
		    (hi == 0 && lo == 0))
			goto bad;
		*q++ = (char)(hi << 4 | lo);
		p += 2;
	}
	*q = '\0';
	return (out);
bad:
	free(out);
	return (NULL);
}

/* Parses a decimal number of at most max; -1 if not exactly that. */
static int
state_parse_number(const char *s, unsigned long long max,
    unsigned long long *value)
{
	unsigned long long	n = 0;

	if (*s == '\0')
		return (-1);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return (-1);
		if (n > (max - (*s - '0')) / 10)
			return (-1);
		n = n * 10 + (*s - '0');
	}
	*value = n;
	return (0);
}

/* Splits s at single spaces into exactly n non-empty fields. */
static int
state_split(char *s, char **fields, size_t n)
{
	size_t	 i;
	char	*sp;

	for (i = 0; i < n; i++) {
		fields[i] = s;
		sp = strchr(s, ' ');
		if (i == n - 1 && sp != NULL)
			return (-1);
		if (i < n - 1) {
			if (sp == NULL)
				return (-1);
			*sp = '\0';
			s = sp + 1;
		}
		if (*fields[i] == '\0')
			return (-1);
	}
	return (0);
}

/* Finds a folder: its index in *idx and 1, or where it would go and 0. */
static int
state_folder_find(const struct state *st, const char *name, size_t *idx)
{
	size_t	lo = 0, hi = st->nfolders, mid;
	int	cmp;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cmp = strcmp(name, st->folders[mid]->name);
		if (cmp == 0) {
			*idx = mid;
			return (1);
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*idx = lo;
	return (0);
}

/* Frees a folder record. */
static void
state_folder_free(struct state_folder *f)
{
	free(f->name);
	free(f->pending);
	free(f->missing);
	free(f->suspect);
	free(f);
}

/* Adds a folder record (taking ownership of name) at index idx. */
static struct state_folder *
state_folder_insert(struct state *st, size_t idx, char *name)
{
	struct state_folder	*f;

	f = xcalloc(1, sizeof *f);
	f->name = name;
	st->folders = xreallocarray(st->folders, st->nfolders + 1,
	    sizeof *st->folders);
	memmove(st->folders + idx + 1, st->folders + idx,
	    (st->nfolders - idx) * sizeof *st->folders);
	st->folders[idx] = f;
	st->nfolders++;
	return (f);
}

/* Record "folder <uidvalidity> <last_uid> <name>". */
static int
state_parse_folder(struct state *st, char **fields, char **why)
{
	unsigned long long	 uidvalidity, last_uid;
	char			*name;
	size_t			 idx;
	struct state_folder	*f;

	if (state_parse_number(fields[0], UINT32_MAX, &uidvalidity) != 0) {
		*why = xstrdup("folder: bad UIDVALIDITY");
		return (-1);
	}
	if (state_parse_number(fields[1], UINT32_MAX, &last_uid) != 0) {
		*why = xstrdup("folder: bad last UID");
		return (-1);
	}
	if ((name = state_decode(fields[2])) == NULL ||
	    strlen(name) > STATE_NAME_MAX) {
		free(name);
		*why = xstrdup("folder: bad name encoding");
		return (-1);
	}
	if (state_folder_find(st, name, &idx)) {
		free(name);
		*why = xstrdup("folder: the same folder appears twice");
		return (-1);
	}
	f = state_folder_insert(st, idx, name);
	f->uidvalidity = uidvalidity;
	f->last_uid = last_uid;
	return (0);
}

/* Writes the folder records, in name order. */
static void
state_write_folders(struct state *st, struct state_out *out)
{
	struct state_folder	*f;
	size_t			 i;

	for (i = 0; i < st->nfolders; i++) {
		f = st->folders[i];
		state_out_record(out, "folder ");
		state_out_num(out, f->uidvalidity);
		state_out_add(out, " ", 1);
		state_out_num(out, f->last_uid);
		state_out_add(out, " ", 1);
		state_out_encoded(out, f->name);
		state_out_add(out, "\n", 1);
	}
}

/* The folder texts kept in records of bounded length. */
enum state_text {
	STATE_TEXT_PENDING,
	STATE_TEXT_MISSING,
	STATE_TEXT_SUSPECT,
};

static const char *state_text_names[] = { "pending", "missing", "suspect" };

/* A folder's text of this kind. */
static char **
state_folder_text(struct state_folder *f, int which)
{
	switch (which) {
	case STATE_TEXT_MISSING:
		return (&f->missing);
	case STATE_TEXT_SUSPECT:
		return (&f->suspect);
	default:
		return (&f->pending);
	}
}

/* Record "<keyword> <folder> <text>": a folder's text, cut into lines of
 * bounded length, joined again in file order. */
static int
state_parse_text(struct state *st, char **fields, char **why, int which)
{
	const char	*kw = state_text_names[which];
	char		*name, *part, *joined, **text;
	size_t		 idx;

	if ((name = state_decode(fields[0])) == NULL ||
	    !state_folder_find(st, name, &idx)) {
		free(name);
		xasprintf(why, "%s: no folder record for this folder", kw);
		return (-1);
	}
	free(name);
	if ((part = state_decode(fields[1])) == NULL) {
		xasprintf(why, "%s: bad encoding", kw);
		return (-1);
	}
	text = state_folder_text(st->folders[idx], which);
	if (*text == NULL) {
		*text = part;
		return (0);
	}
	xasprintf(&joined, "%s%s", *text, part);
	free(*text);
	free(part);
	*text = joined;
	return (0);
}

/* Writes the records of one kind of text of every folder. */
static void
state_write_text(struct state *st, struct state_out *out, int which)
{
	struct state_folder	*f;
	const char		*text;
	size_t			 i, off, len, n;

	for (i = 0; i < st->nfolders; i++) {
		f = st->folders[i];
		if ((text = *state_folder_text(f, which)) == NULL)
			continue;
		len = strlen(text);
		for (off = 0; off < len; off += n) {
			n = len - off < STATE_PENDING_PART ?
			    len - off : STATE_PENDING_PART;
			state_out_record(out, state_text_names[which]);
			state_out_add(out, " ", 1);
			state_out_encoded(out, f->name);
			state_out_add(out, " ", 1);
			state_out_encoded_len(out, text + off, n);
			state_out_add(out, "\n", 1);
		}
	}
}

static int
state_parse_pending(struct state *st, char **fields, char **why)
{
	return (state_parse_text(st, fields, why, STATE_TEXT_PENDING));
}

static void
state_write_pending(struct state *st, struct state_out *out)
{
	state_write_text(st, out, STATE_TEXT_PENDING);
}

static int
state_parse_missing(struct state *st, char **fields, char **why)
{
	return (state_parse_text(st, fields, why, STATE_TEXT_MISSING));
}

static void
state_write_missing(struct state *st, struct state_out *out)
{
	state_write_text(st, out, STATE_TEXT_MISSING);
}

static int
state_parse_suspect(struct state *st, char **fields, char **why)
{
	return (state_parse_text(st, fields, why, STATE_TEXT_SUSPECT));
}

static void
state_write_suspect(struct state *st, struct state_out *out)
{
	state_write_text(st, out, STATE_TEXT_SUSPECT);
}

/* The folder record a later record names; NULL (and *why) if none. */
static struct state_folder *
state_folder_named(struct state *st, const char *field, const char *kw,
    char **why)
{
	char	*name;
	size_t	 idx;
	int	 found;

	if ((name = state_decode(field)) == NULL) {
		xasprintf(why, "%s: bad folder name encoding", kw);
		return (NULL);
	}
	found = state_folder_find(st, name, &idx);
	free(name);
	if (!found) {
		xasprintf(why, "%s: no folder record for this folder", kw);
		return (NULL);
	}
	return (st->folders[idx]);
}

/* Record "matching <folder> [<UID>]": at most one per folder. */
static int
state_parse_matching(struct state *st, char **fields, char **why)
{
	struct state_folder	*f;
	unsigned long long	 until = 0;

	if ((f = state_folder_named(st, fields[0], "matching", why)) == NULL)
		return (-1);
	if (f->matching) {
		*why = xstrdup("matching: the same folder appears twice");
		return (-1);
	}
	if (fields[1] != NULL && (state_parse_number(fields[1], UINT32_MAX,
	    &until) != 0 || until == 0)) {
		*why = xstrdup("matching: bad UID");
		return (-1);
	}
	f->matching = 1;
	f->matching_until = until;
	return (0);
}

/* Writes a matching record for each folder that owes its matching. */
static void
state_write_matching(struct state *st, struct state_out *out)
{
	size_t	i;

	for (i = 0; i < st->nfolders; i++) {
		if (!st->folders[i]->matching)
			continue;
		state_out_record(out, "matching ");
		state_out_encoded(out, st->folders[i]->name);
		if (st->folders[i]->matching_until != 0) {
			state_out_str(out, " ");
			state_out_num(out, st->folders[i]->matching_until);
		}
		state_out_add(out, "\n", 1);
	}
}

/* Record "first_fetch <folder> unseen <UID> [bounded]": at most one per
 * folder. "bounded" (UID 4294967295 only): a trash mark whose bound is
 * raised after each move into it (imap_trash.c). */
static int
state_parse_first(struct state *st, char **fields, char **why)
{
	struct state_folder	*f;
	unsigned long long	 until;

	if ((f = state_folder_named(st, fields[0], "first_fetch",
	    why)) == NULL)
		return (-1);
	if (f->first_until != 0) {
		*why = xstrdup("first_fetch: the same folder appears twice");
		return (-1);
	}
	if (strcmp(fields[1], "unseen") != 0) {
		*why = xstrdup("first_fetch: unknown mode");
		return (-1);
	}
	if (state_parse_number(fields[2], UINT32_MAX, &until) != 0 ||
	    until == 0) {
		*why = xstrdup("first_fetch: bad UID");
		return (-1);
	}
	if (fields[3] != NULL && (strcmp(fields[3], "bounded") != 0 ||
	    until != UINT32_MAX)) {
		*why = xstrdup("first_fetch: unknown mark");
		return (-1);
	}
	f->first_until = until;
	f->trash_bounded = fields[3] != NULL;
	return (0);
}

/* Writes a first_fetch record for each folder whose first fetch is not
 * through. */
static void
state_write_first(struct state *st, struct state_out *out)
{
	size_t	i;

	for (i = 0; i < st->nfolders; i++) {
		if (st->folders[i]->first_until == 0)
			continue;
		state_out_record(out, "first_fetch ");
		state_out_encoded(out, st->folders[i]->name);
		state_out_str(out, " unseen ");
		state_out_num(out, st->folders[i]->first_until);
		if (st->folders[i]->first_until == UINT32_MAX &&
		    st->folders[i]->trash_bounded)
			state_out_str(out, " bounded");
		state_out_add(out, "\n", 1);
	}
}

/* Record "first_left <folder> <new|unseen> <Unix time>": at most one per
 * folder. */
static int
state_parse_first_left(struct state *st, char **fields, char **why)
{
	struct state_folder	*f;
	unsigned long long	 t;

	if ((f = state_folder_named(st, fields[0], "first_left",
	    why)) == NULL)
		return (-1);
	if (f->first_mode != 0) {
		*why = xstrdup("first_left: the same folder appears twice");
		return (-1);
	}
	if (strcmp(fields[1], "new") == 0)
		f->first_mode = STATE_FIRST_NEW;
	else if (strcmp(fields[1], "unseen") == 0)
		f->first_mode = STATE_FIRST_UNSEEN;
	else {
		*why = xstrdup("first_left: unknown mode");
		return (-1);
	}
	if (state_parse_number(fields[2], INT64_MAX, &t) != 0 || t == 0) {
		*why = xstrdup("first_left: bad time");
		return (-1);
	}
	f->first_time = (long long)t;
	return (0);
}

/* Writes a first_left record for each folder whose first fetch left
 * mail on the server. */
static void
state_write_first_left(struct state *st, struct state_out *out)
{
	const struct state_folder	*f;
	size_t				 i;

	for (i = 0; i < st->nfolders; i++) {
		f = st->folders[i];
		if (f->first_mode == 0 || f->first_time <= 0)
			continue;
		state_out_record(out, "first_left ");
		state_out_encoded(out, f->name);
		state_out_str(out, f->first_mode == STATE_FIRST_NEW ?
		    " new " : " unseen ");
		state_out_num(out, (unsigned long long)f->first_time);
		state_out_add(out, "\n", 1);
	}
}

/* Record "modseq <folder> <UIDVALIDITY> <mod-sequence>": at most one
 * per folder. */
static int
state_parse_modseq(struct state *st, char **fields, char **why)
{
	struct state_folder	*f;
	unsigned long long	 uv, m;

	if ((f = state_folder_named(st, fields[0], "modseq", why)) == NULL)
		return (-1);
	if (f->modseq != 0) {
		*why = xstrdup("modseq: the same folder appears twice");
		return (-1);
	}
	if (state_parse_number(fields[1], UINT32_MAX, &uv) != 0 || uv == 0) {
		*why = xstrdup("modseq: bad UIDVALIDITY");
		return (-1);
	}
	if (state_parse_number(fields[2], INT64_MAX, &m) != 0 || m == 0) {
		*why = xstrdup("modseq: bad mod-sequence");
		return (-1);
	}
	f->modseq_uidvalidity = uv;
	f->modseq = m;
	return (0);
}

/* Writes a modseq record for each folder whose flags are synced up to a
 * known mod-sequence. */
static void
state_write_modseq(struct state *st, struct state_out *out)
{
	const struct state_folder	*f;
	size_t				 i;

	for (i = 0; i < st->nfolders; i++) {
		f = st->folders[i];
		if (f->modseq == 0 || f->modseq > INT64_MAX ||
		    f->modseq_uidvalidity == 0)
			continue;
		state_out_record(out, "modseq ");
		state_out_encoded(out, f->name);
		state_out_str(out, " ");
		state_out_num(out, f->modseq_uidvalidity);
		state_out_str(out, " ");
		state_out_num(out, f->modseq);
		state_out_add(out, "\n", 1);
	}
}

/* The flags of a "uidl" record's UIDL from its marks (fields[2] to
 * fields[4], in this order when present: "resized", "refetch" (only
 * after "resized"), "absent"; NULL when absent): 0 for an unknown mark,
 * with why set. */
static unsigned char
state_uidl_marks(char **fields, char **why)
{
	unsigned char	 flags = UIDL_DELIVERED;
	size_t		 i = 2;

	if (fields[i] != NULL && strcmp(fields[i], "resized") == 0) {
		i++;
		if (fields[i] != NULL && strcmp(fields[i], "refetch") == 0) {
			flags = UIDL_REFETCH;
			i++;
		}
	}
	if (i < 5 && fields[i] != NULL && strcmp(fields[i], "absent") == 0) {
		flags |= UIDL_ABSENT;
		i++;
	}
	if (i < 5 && fields[i] != NULL) {
		xasprintf(why, "uidl: unknown mark \"%s\" after the size "
		    "(" STATE_NEWER ")", fields[i]);
		return (0);
	}
	return (flags);
}

/* Record "uidl <uidl> [<size> [resized [refetch]]] [absent]" (absent
 * alone when no size is known: "uidl <uidl> absent"). */
static int
state_parse_uidl(struct state *st, char **fields, char **why)
{
	char		*uidl, *failure;
	uint32_t	 id;
	unsigned long long size = 0;
	unsigned char	 flags = UIDL_DELIVERED;
	int		 rc = -1, sized;

	/* Without a size, "absent" is the only word. */
	sized = fields[1] != NULL && (fields[2] != NULL ||
	    strcmp(fields[1], "absent") != 0);
	if (fields[1] != NULL && !sized)
		flags = UIDL_DELIVERED | UIDL_ABSENT;
	if ((uidl = state_decode(fields[0])) == NULL ||
	    !state_uidl_valid(uidl))
		*why = xstrdup("uidl: bad UIDL");
	else if (sized && (state_parse_number(fields[1], UINT32_MAX,
	    &size) != 0 || size == 0))
		*why = xstrdup("uidl: bad size");
	else if (sized && (flags = state_uidl_marks(fields, why)) == 0)
		;
	else if (state_uidls_find(st, uidl) != STATE_UIDL_NONE)
		*why = xstrdup("uidl: the same UIDL appears twice");
	else if ((id = state_uidls_insert(st, uidl, flags)) ==
	    STATE_UIDL_NONE) {
		if ((failure = state_uidl_failure(st)) == NULL)
			*why = xstrdup("uidl: too many UIDLs");
		else
			xasprintf(why, "uidl: %s", failure);
		free(failure);
	} else {
		state_uidl_set_size(st, id, (uint32_t)size);
		if (fields[1] != NULL && fields[2] != NULL &&
		    strcmp(fields[2], "resized") == 0)
			state_uidl_set_resized(st, id);
		rc = 0;
	}
	free(uidl);
	return (rc);
}

/* What state_write_uidl needs. */
struct state_uidl_out {
	struct state		*st;
	struct state_out	*out;
};

/* Writes one UIDL record (uidlset_each), with its size when known. */
static void
state_write_uidl(void *arg, uint32_t id, const char *uidl, size_t len)
{
	struct state_uidl_out	*u = arg;
	uint32_t		 size = state_uidl_size(u->st, id);

	state_out_record(u->out, "uidl ");
	state_out_encoded_len(u->out, uidl, len);
	if (size != 0) {
		state_out_add(u->out, " ", 1);
		state_out_num(u->out, size);
		if (state_uidl_resized(u->st, id))
			state_out_add(u->out, " resized", 8);
		if (state_uidl_resized(u->st, id) &&
		    !state_uidl_delivered(u->st, id))
			state_out_add(u->out, " refetch", 8);
	}
	if (uidlset_flags(u->st->uidls, id) & UIDL_ABSENT)
		state_out_add(u->out, " absent", 7);
	state_out_add(u->out, "\n", 1);
}

/* Writes the UIDL records, in the order they were first listed or added;
 * a scratch file that cannot be read back fails the save. */
static void
state_write_uidls(struct state *st, struct state_out *out)
{
	struct state_uidl_out	u = { st, out };

	if (uidlset_each(st->uidls, UIDL_KEPT, state_write_uidl,
	    &u) != 0 && out->error == 0)
		out->error = uidlset_error(st->uidls);
}

/* Record "budget <text>": at most one, the text opaque to this module. */
static int
state_parse_budget(struct state *st, char **fields, char **why)
{
	char	*text;

	if (st->budget != NULL) {
		*why = xstrdup("budget: the record appears twice");
		return (-1);
	}
	if ((text = state_decode(fields[0])) == NULL ||
	    strlen(text) > STATE_BUDGET_MAX) {
		free(text);
		*why = xstrdup("budget: bad encoding");
		return (-1);
	}
	st->budget = text;
	return (0);
}

/* Writes the budget record, if there is a history to keep. */
static void
state_write_budget(struct state *st, struct state_out *out)
{
	if (st->budget == NULL)
		return;
	state_out_record(out, "budget ");
	state_out_encoded(out, st->budget);
	state_out_add(out, "\n", 1);
}

/* Record "trashed <folder>": a folder delivered mail was moved into. */
static int
state_parse_trashed(struct state *st, char **fields, char **why)
{
	char	*name;

	if ((name = state_decode(fields[0])) == NULL || *name == '\0' ||
	    strlen(name) > STATE_NAME_MAX) {
		free(name);
		*why = xstrdup("trashed: bad encoding");
		return (-1);
	}
	state_trashed_add(st, name);
	free(name);
	return (0);
}

/* Writes the trash folders, oldest first. */
static void
state_write_trashed(struct state *st, struct state_out *out)
{
	size_t	i;

	for (i = 0; i < st->ntrashed; i++) {
		state_out_record(out, "trashed ");
		state_out_encoded(out, st->trashed[i]);
		state_out_add(out, "\n", 1);
	}
}

static struct state_refusal *state_refused_put(struct state *,
		    const char *, const char *);
static void	state_refused_remove(struct state *, size_t);

/* Record "refused <folder> <key> <count> <until>": a message the agent
 * refused, held back. */
static int
state_parse_refused(struct state *st, char **fields, char **why)
{
	struct state_refusal	*r;
	char			*folder, *key;
	unsigned long long	 count, until;

	folder = state_decode(fields[0]);
	key = state_decode(fields[1]);
	if (folder == NULL || key == NULL ||
	    state_parse_number(fields[2], UINT32_MAX, &count) != 0 ||
	    state_parse_number(fields[3], LLONG_MAX, &until) != 0 ||
	    (r = state_refused_put(st, folder, key)) == NULL) {
		free(folder);
		free(key);
		*why = xstrdup("refused: bad field");
		return (-1);
	}
	r->count = (unsigned int)count;
	r->until = (long long)until;
	free(folder);
	free(key);
	return (0);
}

/* Writes the held messages, oldest refusal first. */
static void
state_write_refused(struct state *st, struct state_out *out)
{
	size_t	i;

	for (i = 0; i < st->nrefused; i++) {
		state_out_names(out, "refused ", st->refused[i].folder,
		    st->refused[i].key);
		state_out_add(out, " ", 1);
		state_out_num(out, st->refused[i].count);
		state_out_add(out, " ", 1);
		state_out_num(out, (unsigned long long)st->refused[i].until);
		state_out_add(out, "\n", 1);
	}
}

/* Record "inflight <folder> <id> <file>": one journal entry. */
static int
state_parse_inflight(struct state *st, char **fields, char **why)
{
	char	*f[3];
	int	 i;

	for (i = 0; i < 3; i++) {
		if ((f[i] = state_decode(fields[i])) == NULL || *f[i] == '\0') {
			while (i >= 0)
				free(f[i--]);
			*why = xstrdup("inflight: bad encoding");
			return (-1);
		}
	}
	state_inflight_add(st, f[0], f[1], f[2]);
	for (i = 0; i < 3; i++)
		free(f[i]);
	return (0);
}

/* Writes the journal entries in the order they were added. */
static void
state_write_inflight(struct state *st, struct state_out *out)
{
	size_t	i;

	for (i = 0; i < st->ninflight; i++) {
		state_out_names(out, "inflight ", st->inflight[i].folder,
		    st->inflight[i].id);
		state_out_add(out, " ", 1);
		state_out_encoded(out, st->inflight[i].file);
		state_out_add(out, "\n", 1);
	}
}

/* The SHA-256 of a buffer as 64 lowercase hex digits plus NUL. */
static int
state_sha256_hex(EVP_MD_CTX *ctx, char *hex)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen, i;

	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		return (-1);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return (0);
}

/* The next line (NUL-terminated in place of its newline): 1, or 0 at a
 * clean end of file, or -1 with *why. Never holds more than
 * STATE_READ_SIZE bytes, whatever the file holds. */
static int
state_in_line(struct state_in *in, char **line, size_t *len, char **why)
{
	char	*nl;
	ssize_t	 n;

	for (;;) {
		nl = memchr(in->buf + in->start, '\n', in->end - in->start);
		if (nl != NULL) {
			*line = in->buf + in->start;
			*len = nl - *line;
			*nl = '\0';
			in->start += *len + 1;
			break;
		}
		if (in->end - in->start > STATE_LINE_MAX)
			break;
		if (in->eof) {
			if (in->start == in->end)
				return (0);
			*why = xstrdup("the last line has no newline: the file "
			    "is truncated");
			return (-1);
		}
		memmove(in->buf, in->buf + in->start, in->end - in->start);
		in->end -= in->start;
		in->start = 0;
		n = read(in->fd, in->buf + in->end, STATE_READ_SIZE - in->end);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(why, "read error: %s", strerror(errno));
			return (-1);
		}
		if (n == 0)
			in->eof = 1;
		in->end += n;
	}
	if (nl == NULL || *len > STATE_LINE_MAX) {
		xasprintf(why, "line longer than %d bytes", STATE_LINE_MAX);
		return (-1);
	}
	if (memchr(*line, '\0', *len) != NULL) {
		*why = xstrdup("NUL byte in the line");
		return (-1);
	}
	return (1);
}

/* Checks the first line: the magic and a version this code reads. */
static int
state_parse_header(char *line, char **why)
{
	unsigned long long	 version;
	const char		*p;

	if (strncmp(line, STATE_MAGIC " ", strlen(STATE_MAGIC " ")) != 0) {
		*why = xstrdup("not a mailfetchd state file (bad first line)");
		return (-1);
	}
	p = line + strlen(STATE_MAGIC " ");
	if (state_parse_number(p, UINT32_MAX, &version) != 0) {
		*why = xstrdup("bad format version in the first line");
		return (-1);
	}
	if (version != STATE_VERSION) {
		xasprintf(why, "unsupported format version %llu (this "
		    "mailfetchd reads version %d; was it written by a newer "
		    "one?)", version, STATE_VERSION);
		return (-1);
	}
	return (0);
}

/* Checks the end line ("<records> <sha256>") against what was read. */
static int
state_parse_end(char *rest, size_t records, EVP_MD_CTX *ctx, char **why)
{
	char			*fields[2], hex[65];
	unsigned long long	 n;

	if (state_split(rest, fields, 2) != 0 ||
	    state_parse_number(fields[0], SIZE_MAX, &n) != 0 ||
	    strlen(fields[1]) != 64) {
		*why = xstrdup("malformed end line");
		return (-1);
	}
	if (state_sha256_hex(ctx, hex) != 0) {
		*why = xstrdup("SHA-256 failed");
		return (-1);
	}
	if (strcmp(hex, fields[1]) != 0) {
		*why = xstrdup("checksum mismatch: the file is corrupt");
		return (-1);
	}
	if (n != records) {
		xasprintf(why, "the end line counts %llu records, the file "
		    "has %zu", n, records);
		return (-1);
	}
	return (0);
}

/* The space-separated fields of a record's rest (at most
 * STATE_FIELDS_MAX + 1: more are refused all the same). */
static size_t
state_count_fields(const char *s)
{
	size_t	n = 1;

	for (; *s != '\0' && n <= STATE_FIELDS_MAX; s++)
		n += *s == ' ';
	return (n);
}

/* Parses one record line with the handler for its keyword. */
static int
state_parse_record(struct state *st, char *line, char **why)
{
	const struct state_record	*rec;
	char				*fields[STATE_FIELDS_MAX], *rest;
	size_t				 i, klen, n;

	klen = strcspn(line, " ");
	rest = line[klen] == ' ' ? line + klen + 1 : line + klen;
	for (i = 0; i < nitems(state_records); i++) {
		rec = &state_records[i];
		if (strlen(rec->keyword) == klen &&
		    strncmp(line, rec->keyword, klen) == 0)
			break;
	}
	if (i == nitems(state_records)) {
		*why = xstrdup("unknown record (" STATE_NEWER ")");
		return (-1);
	}
	n = state_count_fields(rest);
	if (line[klen] == ' ' && n > rec->nfields + rec->nopt) {
		xasprintf(why, "%s: expected %zu fields, this version reads "
		    "no more (" STATE_NEWER ")", rec->keyword,
		    rec->nfields + rec->nopt);
		return (-1);
	}
	if (n < rec->nfields)
		n = rec->nfields;	/* refused below */
	for (i = n; i < rec->nfields + rec->nopt; i++)
		fields[i] = NULL;
	if (line[klen] != ' ' || state_split(rest, fields, n) != 0) {
		xasprintf(why, "%s: expected %zu fields", rec->keyword,
		    rec->nfields);
		return (-1);
	}
	if (st->journal_only && rec->parse != state_parse_inflight &&
	    rec->parse != state_parse_trashed)
		return (0);
	return (rec->parse(st, fields, why));
}

/* Reads every line of the open file; -1 with *why and *lineno on error. */
static int
state_parse_file(struct state *st, struct state_in *in, EVP_MD_CTX *ctx,
    size_t *lineno, char **why)
{
	char	*line;
	size_t	 len, records = 0;
	int	 done = 0, rc;

	*lineno = 0;
	for (;;) {
		(*lineno)++;
		if ((rc = state_in_line(in, &line, &len, why)) == -1)
			return (-1);
		if (rc == 0)
			break;
		if (done) {
			*why = xstrdup("data after the end line");
			return (-1);
		}
		if (strncmp(line, "end ", 4) == 0) {
			if (*lineno == 1 ||
			    state_parse_end(line + 4, records, ctx, why) != 0)
				goto bad;
			done = 1;
			continue;
		}
		if (EVP_DigestUpdate(ctx, line, len) != 1 ||
		    EVP_DigestUpdate(ctx, "\n", 1) != 1) {
			*why = xstrdup("SHA-256 failed");
			return (-1);
		}
		if (*lineno == 1) {
			if (state_parse_header(line, why) != 0)
				return (-1);
			continue;
		}
		if (state_parse_record(st, line, why) != 0)
			return (-1);
		records++;
	}
	if (*lineno == 1)
		*why = xstrdup("the file is empty: it was truncated");
	else if (!done)
		*why = xstrdup("no end line: the file is truncated");
	return (done ? 0 : -1);
bad:
	if (*why == NULL)
		*why = xstrdup("not a mailfetchd state file (bad first line)");
	return (-1);
}

/* Loads the state file if there is one. Nothing is ever written here. */
static int
state_load(struct state *st, char **cause)
{
	struct state_in	 in;
	struct stat	 sb;
	EVP_MD_CTX	*ctx;
	char		*why = NULL;
	size_t		 lineno;
	int		 rc;

	/* O_NONBLOCK: a FIFO put there (an owner controls its state
	 * directory) must not hold the open; fstat refuses it below
	 * (review r29 02). */
	if ((in.fd = open(st->path, O_RDONLY|O_CLOEXEC|O_NONBLOCK)) == -1) {
		if (errno == ENOENT)
			return (0);
		xasprintf(cause, "cannot open state file %s: %s", st->path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(in.fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "state file %s is not a regular file",
		    st->path);
		close(in.fd);
		return (-1);
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort();
	in.buf = xmalloc(STATE_READ_SIZE);
	in.start = in.end = 0;
	in.eof = 0;
	rc = state_parse_file(st, &in, ctx, &lineno, &why);
	if (rc != 0) {
		xasprintf(cause, "state file %s, line %zu: %s; %s", st->path,
		    lineno, why, strstr(why, STATE_NEWER) != NULL ?
		    STATE_RECOVER_NEWER : STATE_RECOVER);
	}
	free(why);
	free(in.buf);
	EVP_MD_CTX_free(ctx);
	close(in.fd);
	return (rc);
}


/* Makes the rename durable: fsync of the state directory. */
static int
state_sync_dir(struct state *st, char **cause)
{
	int	fd, saved;

	if ((fd = open(st->dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		if (fd != -1)
			close(fd);
		xasprintf(cause, "cannot fsync directory %s: %s (%s was "
		    "replaced but may not be durable)", st->dir,
		    strerror(saved), st->path);
		return (-1);
	}
	close(fd);
	return (0);
}

/* Writes the whole file into fd, hashed as it goes, through a buffer of
 * STATE_OUT_SIZE bytes; "write" and -1 with errno set on failure. */
static int
state_write_file(struct state *st, int fd, const char **what)
{
	struct state_out	 out;
	char			 hex[65];
	size_t			 i;
	int			 rc = -1;

	memset(&out, 0, sizeof out);
	out.fd = fd;
	out.size = STATE_OUT_SIZE;
	out.buf = xmalloc(out.size);
	if ((out.ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(out.ctx, EVP_sha256(), NULL) != 1)
		out.hash_failed = 1;
	state_out_str(&out, STATE_MAGIC " ");
	state_out_num(&out, STATE_VERSION);
	state_out_add(&out, "\n", 1);
	for (i = 0; i < nitems(state_records); i++)
		state_records[i].write(st, &out);
	state_out_flush(&out);
	if (out.hash_failed || state_sha256_hex(out.ctx, hex) != 0) {
		*what = "SHA-256 of";
		errno = EINVAL;
		goto out;
	}
	/* The end line is not part of what it hashes: written unhashed. */
	state_out_str(&out, "end ");
	state_out_num(&out, out.records);
	state_out_add(&out, " ", 1);
	state_out_str(&out, hex);
	state_out_add(&out, "\n", 1);
	if (out.error == 0 &&
	    fdio_write_all(fd, out.buf, out.len) == -1)
		out.error = errno;
	*what = "write";
	if (out.error != 0)
		errno = out.error;
	else
		rc = 0;
out:
	EVP_MD_CTX_free(out.ctx);
	free(out.buf);
	return (rc);
}

/* Replaces the state file: temp file written and fsynced, rename, fsync
 * of the directory. */
static int
state_replace(struct state *st, char **cause)
{
	char		*tmp;
	const char	*what;
	int		 fd, saved;

	xasprintf(&tmp, "%s.tmp.%ld", st->path, (long)getpid());
	fd = open(tmp, O_CREAT|O_EXCL|O_WRONLY|O_CLOEXEC, 0600);
	/* We hold the lock: a temp file with our pid was left by a dead
	 * process that had the same pid. */
	if (fd == -1 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_CREAT|O_EXCL|O_WRONLY|O_CLOEXEC, 0600);
	if (fd == -1) {
		xasprintf(cause, "cannot create %s: %s (%s is unchanged)", tmp,
		    strerror(errno), st->path);
		free(tmp);
		return (-1);
	}
	if (state_write_file(st, fd, &what) == -1)
		goto fail;
	what = "fsync";
	if (fsync(fd) == -1)
		goto fail;
	what = "close";
	saved = close(fd);
	fd = -1;
	if (saved == -1)
		goto fail;
	what = "rename";
	if (rename(tmp, st->path) == -1)
		goto fail;
	free(tmp);
	return (state_sync_dir(st, cause));
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	xasprintf(cause, "cannot save state: %s %s: %s (%s is unchanged)",
	    what, tmp, strerror(saved), st->path);
	free(tmp);
	return (-1);
}

/* Creates dir and its missing parents, mode 0700. */
static int
state_mkdirs(const char *dir, char **cause)
{
	char		*copy, *p, c;
	struct stat	 sb;

	copy = xstrdup(dir);
	for (p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(copy, 0700) == -1 && errno != EEXIST) {
			xasprintf(cause, "cannot create state directory %s: %s",
			    copy, strerror(errno));
			free(copy);
			return (-1);
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "state directory %s is not a directory", dir);
		return (-1);
	}
	return (0);
}

/* The account name as a file name: [A-Za-z0-9._-] as is, anything else
 * (and a leading '.') as %XX, so that no name escapes the directory or
 * hides, and two names never share a file. */
static char *
state_file_name(const char *account)
{
	const unsigned char	*p;
	char			*out, *q;

	out = q = xmalloc(3 * strlen(account) + 1);
	for (p = (const unsigned char *)account; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    (*p == '.' && p != (const unsigned char *)account)) {
			*q++ = *p;
			continue;
		}
		*q++ = '%';
		*q++ = state_hex[*p >> 4];
		*q++ = state_hex[*p & 0xf];
	}
	*q = '\0';
	return (out);
}

/* The pid written in a lock file held by someone else, or -1. */
static long
state_lock_owner(int fd)
{
	char			buf[32];
	ssize_t			n;
	unsigned long long	pid;

	if ((n = pread(fd, buf, sizeof buf - 1, 0)) <= 0)
		return (-1);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (state_parse_number(buf, 0x7fffffff, &pid) != 0 || pid == 0)
		return (-1);
	return ((long)pid);
}

/* Takes the account's lock and writes our pid in it. flock locks belong to
 * the open file description, so a second open in this process conflicts
 * too, and the kernel releases the lock when the process dies. */
static int
state_lock(struct state *st, char **cause)
{
	char	buf[32];
	int	len;
	long	pid;

	st->lock_fd = open(st->lock_path, O_RDWR|O_CREAT|O_CLOEXEC, 0600);
	if (st->lock_fd == -1) {
		xasprintf(cause, "cannot open lock file %s: %s", st->lock_path,
		    strerror(errno));
		return (-1);
	}
	if (flock(st->lock_fd, LOCK_EX|LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK) {
			xasprintf(cause, "cannot lock %s: %s", st->lock_path,
			    strerror(errno));
		} else if ((pid = state_lock_owner(st->lock_fd)) == -1) {
			xasprintf(cause, "account %s is already being fetched "
			    "by another mailfetchd (pid unknown); lock %s",
			    st->account, st->lock_path);
		} else {
			xasprintf(cause, "account %s is already being fetched "
			    "by another mailfetchd (pid %ld); lock %s",
			    st->account, pid, st->lock_path);
		}
		return (-1);
	}
	len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(st->lock_fd, 0) == -1 ||
	    pwrite(st->lock_fd, buf, len, 0) != len) {
		xasprintf(cause, "cannot write lock file %s: %s",
		    st->lock_path, strerror(errno));
		return (-1);
	}
	return (0);
}

/* Whether name is prefix followed by at least one byte, all from set. */
static int
state_tmp_name(const char *name, const char *prefix, size_t plen,
    const char *set)
{
	return (strncmp(name, prefix, plen) == 0 && name[plen] != '\0' &&
	    strspn(name + plen, set) == strlen(name + plen));
}

/* Removes temp files of earlier saves that died before their rename, and
 * UIDL scratch files left named by a kill between their creation and
 * their unlink (uidlset.h). Only safe under the lock; a failure leaves a
 * harmless file behind. */
static void
state_clean_tmp(struct state *st, const char *file_name)
{
	DIR		*d;
	struct dirent	*de;
	char		*save, *scratch;
	size_t		 slen, clen;

	if ((d = opendir(st->dir)) == NULL)
		return;
	slen = xasprintf(&save, "%s.state.tmp.", file_name);
	clen = xasprintf(&scratch, "%s" UIDLSET_STRAY, file_name);
	while ((de = readdir(d)) != NULL) {
		if (state_tmp_name(de->d_name, save, slen, "0123456789") ||
		    state_tmp_name(de->d_name, scratch, clen,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789"))
			unlinkat(dirfd(d), de->d_name, 0);
	}
	free(save);
	free(scratch);
	closedir(d);
}

/* The path of the account's file with suffix in dir (no trailing '/'
 * but for "/" itself), by the account's file name. */
static char *
state_file_path(const char *dir, const char *file_name, const char *suffix)
{
	char	*path;

	xasprintf(&path, "%s%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/",
	    file_name, suffix);
	return (path);
}

char *
state_account_file(const char *state_dir, const char *account,
    const char *suffix)
{
	char	*dir, *name, *path;
	size_t	 len;

	dir = xstrdup(state_dir);
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	name = state_file_name(account);
	path = state_file_path(dir, name, suffix);
	free(name);
	free(dir);
	return (path);
}

/* A state of account in state_dir, nothing loaded or locked yet. */
static struct state *
state_new(const char *state_dir, const char *account)
{
	struct state	*st;
	size_t		 len;

	st = xcalloc(1, sizeof *st);
	st->lock_fd = -1;
	st->account = xstrdup(account);
	st->dir = xstrdup(state_dir);
	len = strlen(st->dir);
	while (len > 1 && st->dir[len - 1] == '/')
		st->dir[--len] = '\0';
	st->file_name = state_file_name(account);
	st->path = state_file_path(st->dir, st->file_name, ".state");
	st->lock_path = state_file_path(st->dir, st->file_name, ".lock");
	return (st);
}

/* Locks and loads an account's state. */
struct state *
state_open(const char *state_dir, const char *account, char **cause)
{
	struct state	*st;
	int		 locked = 0;

	if (*account == '\0') {
		*cause = xstrdup("empty account name");
		return (NULL);
	}
	if (*state_dir == '\0') {
		*cause = xstrdup("empty state directory");
		return (NULL);
	}
	if (state_mkdirs(state_dir, cause) != 0)
		return (NULL);

	st = state_new(state_dir, account);
	st->uidls = uidlset_new(st->dir, st->file_name);
	if (state_lock(st, cause) != 0) {
		locked = errno == EWOULDBLOCK;
		goto fail;
	}
	state_clean_tmp(st, st->file_name);
	if (state_load(st, cause) != 0)
		goto fail;
	return (st);
fail:
	state_close(st);
	errno = locked ? EWOULDBLOCK : EIO;
	return (NULL);
}

/* Reads another account's journal without its lock: the file is only
 * ever replaced by rename (state_replace), so whatever open() finds is a
 * whole file, checked to its end line like any load. Nothing is created,
 * cleaned or written, and no UIDL scratch file is made. */
struct state *
state_open_journal(const char *state_dir, const char *account, char **cause)
{
	struct state	*st;

	st = state_new(state_dir, account);
	st->journal_only = 1;
	if (state_load(st, cause) != 0) {
		state_close(st);
		return (NULL);
	}
	return (st);
}

/* Unlocks and frees a state. */
void
state_close(struct state *st)
{
	size_t	i;

	if (st == NULL)
		return;
	if (st->lock_fd != -1)
		close(st->lock_fd);
	for (i = 0; i < st->nfolders; i++)
		state_folder_free(st->folders[i]);
	free(st->folders);
	uidlset_free(st->uidls);
	free(st->budget);
	for (i = 0; i < st->ntrashed; i++)
		free(st->trashed[i]);
	state_inflight_clear(st, NULL);
	while (st->nrefused > 0)
		state_refused_remove(st, st->nrefused - 1);
	free(st->refused);
	free(st->account);
	free(st->dir);
	free(st->path);
	free(st->lock_path);
	free(st->file_name);
	free(st);
}

/* Writes the file, signed, and replaces the old one. */
int
state_save(struct state *st, char **cause)
{
	char	*failure;

	/* A UIDL that could not be read back or written may have made a
	 * message look new: nothing of this run may be recorded. */
	if ((failure = state_uidl_failure(st)) != NULL) {
		xasprintf(cause, "cannot save state file %s: %s", st->path,
		    failure);
		free(failure);
		return (-1);
	}
	return (state_replace(st, cause));
}

/* The state file path. */
const char *
state_path(const struct state *st)
{
	return (st->path);
}

/* Looks up, and maybe creates, a folder record. */
struct state_folder *
state_folder_get(struct state *st, const char *name, int create)
{
	size_t	idx;

	if (state_folder_find(st, name, &idx))
		return (st->folders[idx]);
	if (!create || *name == '\0' || strlen(name) > STATE_NAME_MAX)
		return (NULL);
	return (state_folder_insert(st, idx, xstrdup(name)));
}

/* Forgets a folder. */
void
state_folder_remove(struct state *st, const char *name)
{
	size_t	idx;

	if (!state_folder_find(st, name, &idx))
		return;
	state_folder_free(st->folders[idx]);
	memmove(st->folders + idx, st->folders + idx + 1,
	    (st->nfolders - idx - 1) * sizeof *st->folders);
	st->nfolders--;
}

/* Replaces a folder's pending, missing or suspect text. */
static void
state_folder_set_text(struct state_folder *f, int which, const char *text)
{
	char	**slot = state_folder_text(f, which);

	free(*slot);
	*slot = NULL;
	if (text != NULL && *text != '\0')
		*slot = xstrdup(text);
}

void
state_folder_set_pending(struct state_folder *f, const char *text)
{
	state_folder_set_text(f, STATE_TEXT_PENDING, text);
}

void
state_folder_set_missing(struct state_folder *f, const char *text)
{
	state_folder_set_text(f, STATE_TEXT_MISSING, text);
}

void
state_folder_set_suspect(struct state_folder *f, const char *text)
{
	state_folder_set_text(f, STATE_TEXT_SUSPECT, text);
}

/* The number of folder records. */
size_t
state_folder_count(const struct state *st)
{
	return (st->nfolders);
}

/* The i-th folder in name order. */
struct state_folder *
state_folder_at(struct state *st, size_t i)
{
	if (i >= st->nfolders)
		return (NULL);
	return (st->folders[i]);
}

/* Whether a UIDL was delivered. */
int
state_uidl_has(struct state *st, const char *uidl)
{
	uint32_t	id;

	if (!state_uidl_valid(uidl))
		return (0);
	id = state_uidls_find(st, uidl);
	return (id != STATE_UIDL_NONE && state_uidl_delivered(st, id));
}

/* Remembers a delivered UIDL. */
int
state_uidl_add(struct state *st, const char *uidl)
{
	uint32_t	id;

	if (!state_uidl_valid(uidl))
		return (-1);
	if ((id = state_uidls_find(st, uidl)) != STATE_UIDL_NONE) {
		state_uidl_deliver(st, id);
		return (0);
	}
	if (state_uidls_insert(st, uidl, UIDL_DELIVERED) == STATE_UIDL_NONE)
		return (-1);
	return (0);
}

/* The number of UIDLs remembered. */
size_t
state_uidl_count(const struct state *st)
{
	return (st->uidl_count);
}

/* Forgets the UIDLs the server no longer lists. */
size_t
state_uidl_prune(struct state *st, const char *const *present, size_t n)
{
	size_t	i, dropped;
	int	again;

	state_uidl_list_begin(st);
	for (i = 0; i < n; i++)
		state_uidl_list(st, present[i], &again);
	dropped = state_uidl_list_prune(st, 0);
	uidlset_compact(st->uidls, UIDL_KEPT);
	return (dropped);
}

/* Starts a new listing: only the delivered UIDLs stay, and those owed a
 * refetch with their mark. */
void
state_uidl_list_begin(struct state *st)
{
	uidlset_compact(st->uidls, UIDL_KEPT);
}

/* Records one UIDL of the server's listing. */
uint32_t
state_uidl_list(struct state *st, const char *uidl, int *again)
{
	unsigned char	flags;
	uint32_t	id;

	*again = 0;
	if (!state_uidl_valid(uidl))
		return (STATE_UIDL_NONE);
	if ((id = state_uidls_find(st, uidl)) == STATE_UIDL_NONE)
		return (state_uidls_insert(st, uidl, UIDL_LISTED));
	flags = uidlset_flags(st->uidls, id);
	*again = (flags & UIDL_LISTED) != 0;
	uidlset_set_flags(st->uidls, id, (flags & ~UIDL_ABSENT) |
	    UIDL_LISTED | (*again ? UIDL_SHARED : 0));
	return (id);
}

/* Spares a delivered UIDL this listing left out from the next prune:
 * marked absent, and listed so that the prune passes over it (it is not
 * one of the session's messages, so nothing else looks at the mark). */
int
state_uidl_spare(struct state *st, const char *uidl)
{
	unsigned char	flags;
	uint32_t	id;

	if ((id = state_uidl_find(st, uidl)) == STATE_UIDL_NONE)
		return (0);
	flags = uidlset_flags(st->uidls, id);
	if ((flags & (UIDL_DELIVERED | UIDL_ABSENT | UIDL_LISTED)) !=
	    UIDL_DELIVERED)
		return (0);
	uidlset_set_flags(st->uidls, id,
	    UIDL_DELIVERED | UIDL_ABSENT | UIDL_LISTED);
	return (1);
}

/* Whether a UIDL id is marked absent (left out of the last listing). */
int
state_uidl_absent(const struct state *st, uint32_t id)
{
	return ((uidlset_flags(st->uidls, id) & UIDL_ABSENT) != 0);
}

/* Whether this listing named a UIDL id more than once. */
int
state_uidl_shared(const struct state *st, uint32_t id)
{
	return ((uidlset_flags(st->uidls, id) & UIDL_SHARED) != 0);
}

/* Whether a delivered UIDL this listing did not name is kept, marked
 * absent, rather than forgotten: with grace, the first time (a listing
 * may leave out a message that is still there, as a backend briefly out
 * of sync does; forgotten, it would be fetched again when listed next).
 * Its size known or not: a server whose LIST gives none (review r23 02)
 * leaves out messages as others do, and a reappearance under a reused
 * UIDL cannot be told apart by size there at any time (pop3.c). */
static int
state_uidl_absent_keep(struct state *st, uint32_t id, unsigned char flags,
    int grace)
{
	if (!grace || (flags & (UIDL_DELIVERED | UIDL_ABSENT)) !=
	    UIDL_DELIVERED)
		return (0);
	uidlset_set_flags(st->uidls, id, UIDL_DELIVERED | UIDL_ABSENT);
	return (1);
}

/* Whether a UIDL owed a refetch ("resized", not delivered yet) that
 * this listing did not name is kept, marked absent, rather than
 * forgotten: with grace, the first time, as a delivered one is
 * (state_uidl_absent_keep). Forgotten, its "resized" mark went with it:
 * listed again, the message was fetched as new (its one duplicate) and
 * recorded without the mark, and the next flap of its size took it for
 * a reuse and fetched it a third time (long chaos run, seed 664240427). */
static int
state_uidl_refetch_keep(struct state *st, uint32_t id, unsigned char flags,
    int grace)
{
	if (!grace || (flags & (UIDL_REFETCH | UIDL_ABSENT)) != UIDL_REFETCH)
		return (0);
	uidlset_set_flags(st->uidls, id, UIDL_REFETCH | UIDL_ABSENT);
	return (1);
}

/* Forgets the delivered UIDLs this listing did not name (and those owed
 * a refetch: counted apart); with grace, only those the previous listing
 * did not name either (state_uidl_absent_keep, state_uidl_refetch_keep).
 * Their entries stay in the set, as garbage, so that ids stay valid. */
size_t
state_uidl_list_prune(struct state *st, int grace)
{
	size_t		id, n = uidlset_ids(st->uidls), dropped = 0;
	unsigned char	flags;

	for (id = 0; id < n; id++) {
		flags = uidlset_flags(st->uidls, id);
		if (flags == 0 || (flags & UIDL_LISTED))
			continue;
		if (state_uidl_absent_keep(st, (uint32_t)id, flags, grace) ||
		    state_uidl_refetch_keep(st, (uint32_t)id, flags, grace))
			continue;
		uidlset_set_flags(st->uidls, id, 0);
		if (!(flags & UIDL_DELIVERED))
			continue;
		st->uidl_count--;
		dropped++;
	}
	return (dropped);
}

/* Why the UIDL set stopped working, NULL if it did not. */
char *
state_uidl_failure(const struct state *st)
{
	char	*why;

	if (uidlset_error(st->uidls) == 0)
		return (NULL);
	xasprintf(&why, "cannot use the UIDL scratch file in %s: %s", st->dir,
	    strerror(uidlset_error(st->uidls)));
	return (why);
}

/* The id of a UIDL listed or delivered. */
uint32_t
state_uidl_find(struct state *st, const char *uidl)
{
	if (!state_uidl_valid(uidl))
		return (STATE_UIDL_NONE);
	return (state_uidls_find(st, uidl));
}

/* The text of a UIDL id. */
const char *
state_uidl_text(struct state *st, uint32_t id)
{
	return (uidlset_text(st->uidls, id, NULL));
}

/* Whether a UIDL id is delivered. */
int
state_uidl_delivered(const struct state *st, uint32_t id)
{
	return ((uidlset_flags(st->uidls, id) & UIDL_DELIVERED) != 0);
}

/* Marks a UIDL id delivered. */
void
state_uidl_deliver(struct state *st, uint32_t id)
{
	unsigned char	flags = uidlset_flags(st->uidls, id);

	if (flags == 0 || (flags & UIDL_DELIVERED))
		return;
	uidlset_set_flags(st->uidls, id,
	    (flags | UIDL_DELIVERED) & ~UIDL_REFETCH);
	st->uidl_count++;
}

/* The size recorded with a UIDL id, 0 if none. */
uint32_t
state_uidl_size(const struct state *st, uint32_t id)
{
	return (uidlset_value(st->uidls, id) & UIDL_SIZE_MAX);
}

/* Records the size of the message delivered under a UIDL id (saturated
 * below the "resized" mark, which it keeps). */
void
state_uidl_set_size(struct state *st, uint32_t id, uint32_t size)
{
	uint32_t	mark = uidlset_value(st->uidls, id) & UIDL_RESIZED;

	if (size > UIDL_SIZE_MAX)
		size = UIDL_SIZE_MAX;
	uidlset_set_value(st->uidls, id, mark | size);
}

/* Whether a UIDL id's message was fetched again once for a size change
 * (pop3.c: not again for another). */
int
state_uidl_resized(const struct state *st, uint32_t id)
{
	return ((uidlset_value(st->uidls, id) & UIDL_RESIZED) != 0);
}

/* Marks a UIDL id's message fetched again once for a size change. */
void
state_uidl_set_resized(struct state *st, uint32_t id)
{
	uidlset_set_value(st->uidls, id,
	    uidlset_value(st->uidls, id) | UIDL_RESIZED);
}

/* Takes the delivered mark off a listed UIDL id: POP3 found that the
 * message now listed under it is not the one delivered (pop3.c). An id
 * that is not listed keeps its mark, since flags 0 would make it garbage
 * and its id invalid. One "resized" stays in the set, and is saved, as
 * owed a refetch: the mark outlives a session cut before the delivery. */
void
state_uidl_undeliver(struct state *st, uint32_t id)
{
	unsigned char	flags = uidlset_flags(st->uidls, id);

	if (!(flags & UIDL_DELIVERED) || !(flags & UIDL_LISTED))
		return;
	flags &= ~UIDL_DELIVERED;
	if (state_uidl_resized(st, id) && state_uidl_size(st, id) != 0)
		flags |= UIDL_REFETCH;
	uidlset_set_flags(st->uidls, id, flags);
	st->uidl_count--;
}

/* The saved download history, NULL when there is none. */
const char *
state_budget_get(const struct state *st)
{
	return (st->budget);
}

/* Replaces the download history (saved with the next state_save). */
int
state_budget_set(struct state *st, const char *text)
{
	if (text != NULL && strlen(text) > STATE_BUDGET_MAX)
		return (-1);
	free(st->budget);
	st->budget = text == NULL || *text == '\0' ? NULL : xstrdup(text);
	return (0);
}

int
state_trashed_has(const struct state *st, const char *name)
{
	size_t	i;

	for (i = 0; i < st->ntrashed; i++) {
		if (strcasecmp(st->trashed[i], name) == 0)
			return (1);
	}
	return (0);
}

const char *
state_trashed_last(const struct state *st)
{
	return (st->ntrashed == 0 ? NULL : st->trashed[st->ntrashed - 1]);
}

int
state_trashed_add(struct state *st, const char *name)
{
	size_t	i;
	char	*keep;

	if (*name == '\0' || strlen(name) > STATE_NAME_MAX)
		return (-1);
	for (i = 0; i < st->ntrashed; i++) {
		if (strcasecmp(st->trashed[i], name) != 0)
			continue;
		keep = st->trashed[i];		/* the most recent: last */
		memmove(st->trashed + i, st->trashed + i + 1,
		    (st->ntrashed - i - 1) * sizeof *st->trashed);
		st->trashed[st->ntrashed - 1] = keep;
		return (0);
	}
	if (st->ntrashed == STATE_TRASHED_MAX) {
		free(st->trashed[0]);
		memmove(st->trashed, st->trashed + 1,
		    --st->ntrashed * sizeof *st->trashed);
	}
	st->trashed[st->ntrashed++] = xstrdup(name);
	return (1);
}

/* The index of a message's record, nrefused if none. */
static size_t
state_refused_find(const struct state *st, const char *folder,
    const char *key)
{
	size_t	i;

	for (i = 0; i < st->nrefused; i++) {
		if (strcmp(st->refused[i].key, key) == 0 &&
		    strcmp(st->refused[i].folder, folder) == 0)
			break;
	}
	return (i);
}

/* Frees record i and closes the gap. */
static void
state_refused_remove(struct state *st, size_t i)
{
	free(st->refused[i].folder);
	free(st->refused[i].key);
	memmove(st->refused + i, st->refused + i + 1,
	    (st->nrefused - i - 1) * sizeof *st->refused);
	st->nrefused--;
}

/* A message's record made the most recent (created zeroed when absent;
 * the oldest dropped past STATE_REFUSED_MAX); NULL for a folder or key
 * that is empty or too long. */
static struct state_refusal *
state_refused_put(struct state *st, const char *folder, const char *key)
{
	struct state_refusal	r;
	size_t			i;

	if (*folder == '\0' || *key == '\0' ||
	    strlen(folder) > STATE_NAME_MAX || strlen(key) > STATE_NAME_MAX)
		return (NULL);
	if ((i = state_refused_find(st, folder, key)) < st->nrefused) {
		r = st->refused[i];
		memmove(st->refused + i, st->refused + i + 1,
		    (st->nrefused - i - 1) * sizeof *st->refused);
		st->refused[st->nrefused - 1] = r;
		return (&st->refused[st->nrefused - 1]);
	}
	if (st->nrefused == STATE_REFUSED_MAX)
		state_refused_remove(st, 0);
	if (st->refused == NULL)
		st->refused = xreallocarray(NULL, STATE_REFUSED_MAX,
		    sizeof *st->refused);
	r.folder = xstrdup(folder);
	r.key = xstrdup(key);
	r.count = 0;
	r.until = 0;
	st->refused[st->nrefused] = r;
	return (&st->refused[st->nrefused++]);
}

const struct state_refusal *
state_refused_get(const struct state *st, const char *folder,
    const char *key)
{
	size_t	i = state_refused_find(st, folder, key);

	return (i < st->nrefused ? &st->refused[i] : NULL);
}

/* The hold after count refusals in a row: interval doubled count times
 * (the next regular poll comes one interval after this one's end, so a
 * single interval would not hold it back at all), at most cap. */
static long long
state_refused_hold(unsigned int count, unsigned int interval, long long cap)
{
	long long	hold = interval > 0 ? interval : 1;
	unsigned int	i;

	for (i = 0; i < count && hold < cap; i++)
		hold *= 2;
	return (hold < cap ? hold : cap);
}

const struct state_refusal *
state_refused_note(struct state *st, const char *folder, const char *key,
    int temporary, unsigned int interval, long long now)
{
	struct state_refusal	*r;

	if ((r = state_refused_put(st, folder, key)) == NULL)
		return (NULL);
	if (r->count < UINT32_MAX)
		r->count++;
	/* "Try again later" is tried at the next poll the first time (a
	 * passing fault mended meanwhile); held back from the second in a
	 * row, as a refusal is from the first. */
	if (temporary)
		r->until = r->count == 1 ? now : now + state_refused_hold(
		    r->count - 1, interval, STATE_REFUSED_TEMP_CAP);
	else
		r->until = now + state_refused_hold(r->count, interval,
		    STATE_REFUSED_CAP);
	return (r);
}

void
state_refused_drop(struct state *st, const char *folder, const char *key)
{
	size_t	i = state_refused_find(st, folder, key);

	if (i < st->nrefused)
		state_refused_remove(st, i);
}

size_t
state_refused_keep(struct state *st, const char *folder,
    int (*keep)(void *, const char *), void *arg)
{
	size_t	i = 0, dropped = 0;

	while (i < st->nrefused) {
		if (strcmp(st->refused[i].folder, folder) == 0 &&
		    !keep(arg, st->refused[i].key)) {
			state_refused_remove(st, i);
			dropped++;
		} else
			i++;
	}
	return (dropped);
}

size_t
state_refused_count(const struct state *st)
{
	return (st->nrefused);
}

/* Adds a journal entry (saved with the next state_save). Its three
 * strings share one allocation, owned by folder: a batch of a thousand
 * entries is then a thousand allocations, not three. */
void
state_inflight_add(struct state *st, const char *folder, const char *id,
    const char *file)
{
	struct state_inflight	*e;
	size_t			 lf, li, lt;
	char			*p;

	/* Grown by half, or by 64 at first: one batch is many adds. */
	if (st->ninflight == st->ainflight) {
		st->ainflight = st->ainflight < 64 ? 64 :
		    st->ainflight + st->ainflight / 2;
		st->inflight = xreallocarray(st->inflight, st->ainflight,
		    sizeof *st->inflight);
	}
	lf = strlen(folder) + 1;
	li = strlen(id) + 1;
	lt = strlen(file) + 1;
	p = xmalloc(lf + li + lt);
	e = &st->inflight[st->ninflight++];
	e->folder = memcpy(p, folder, lf);
	e->id = memcpy(p + lf, id, li);
	e->file = memcpy(p + lf + li, file, lt);
}

size_t
state_inflight_count(const struct state *st)
{
	return (st->ninflight);
}

const struct state_inflight *
state_inflight_at(const struct state *st, size_t i)
{
	return (i < st->ninflight ? &st->inflight[i] : NULL);
}

/* Drops the entries of one folder (NULL: all). */
void
state_inflight_clear(struct state *st, const char *folder)
{
	size_t	i, o = 0;

	for (i = 0; i < st->ninflight; i++) {
		if (folder == NULL || strcmp(st->inflight[i].folder,
		    folder) == 0) {
			free(st->inflight[i].folder);	/* all three */
		} else
			st->inflight[o++] = st->inflight[i];
	}
	st->ninflight = o;
	if (o == 0) {
		free(st->inflight);
		st->inflight = NULL;
		st->ainflight = 0;
	}
}

/* The state directory. Do not free. */
const char *
state_dir(const struct state *st)
{
	return (st->dir);
}
