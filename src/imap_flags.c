/* imap_flags.c: local_flags = mirror after delivery (imap_flags.h).
 *
 * The UID map. A Maildir name carries no UID, so each delivered message's
 * UID and final name go to STATE_DIR/ACCOUNT.uids, one line each:
 *	<16 hex: folder name hash> <UIDVALIDITY> <UID> <base name> <known>
 *	    <digest>
 * (the base: the final name before ':', the part a Maildir reader keeps
 * when it changes the flags; known: one hex digit, the server's D F R S
 * as last known, IMAP_FLAGS_* bits, "-" or, in a line of an older
 * version, absent: unknown; followed by "+" and a hex digit, the bits an
 * apply cut short was renaming; digest: 32 hex, the msgids log's content
 * digest, absent in a line of an older version). After a UIDVALIDITY
 * change, a message the matching pass recognises (by that digest) gets a
 * line under its new UID naming the same base, with the flags known
 * under the old one (imap_flags_map_relink). Appended and fsynced with
 * the batch's msgids (after the journal, before the files are visible),
 * starting a line of its own if an earlier append was cut short; read
 * whole at each sync that has answers. A line of another UIDVALIDITY
 * names nothing; a torn or foreign line is skipped. About 125 bytes a
 * message, never pruned (a relink needs the lines of an older
 * UIDVALIDITY); rewritten (below) only when a known set moved, which
 * drops torn lines.
 *
 * Only the server's changes are applied: a bit of D F R S that the user
 * changed locally stays until the server changes that bit (the manual:
 * "a change the server makes wins"). The known set starts as the flags
 * the message was fetched with, plus \Seen when mark_read stores it: a
 * flag mailfetchd itself sets on the server is no server change (review
 * r24 07: mark_read's \Seen made every new message arrive read).
 *
 * Applying. The server's answer is collected as (UID, flags) pairs,
 * bounded by the caller's cap, then looked up in the map; the files of
 * the UIDs whose flags moved are looked for under the names they most
 * likely have (new/BASE, cur/BASE:2, and a set of D F R S) when they are
 * few, and else, or when a reader gave one another letter, new/ and cur/
 * are read once: each is renamed to its letters with the moved bits set
 * as the server has them (new/ -> cur/ when it has one). Then the map is
 * rewritten with the new known sets (temporary file, fsync, rename).
 * Before the renames it is rewritten once already, with the bits about
 * to be renamed as pending ("<known>+<bits>"): a run killed before the
 * second rewrite (point "imap-flags-renamed") sets the pending bits as
 * the server has them at the next sync, as well as those that moved
 * since: a file already renamed is not renamed twice, and a server
 * change made meanwhile (the flag taken back) is followed (review r26
 * 17: with the old known set alone the file kept the flag). Only a
 * local change made to one of those bits in that instant is undone. An
 * older version takes a line with pending bits for a torn one. */
#include "imap_flags.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "fdio.h"
#include "xmalloc.h"

#define IMAP_FLAGS_LINE_MAX	1024	/* a map line; longer: foreign */
#define IMAP_FLAGS_NAME_MAX	255	/* a Maildir file name */
#define IMAP_FLAGS_PROBE_MAX	256	/* files looked for by name; more:
					 * new/ and cur/ are read */
#define IMAP_FLAGS_ALL		0xf	/* D F R S */
#define IMAP_FLAGS_HEX		(2 * MSGIDS_DIGEST_LEN)	/* a digest */
#define IMAP_FLAGS_KEEP		0x100	/* a note's: its file vanished under
					 * the rename, its line stays */

static const struct {
	unsigned int	 bit;
	char		 letter;
	const char	*flag;
} imap_flags_table[] = {	/* in Maildir (ASCII) order */
	{ IMAP_FLAGS_DRAFT, 'D', "\\Draft" },
	{ IMAP_FLAGS_FLAGGED, 'F', "\\Flagged" },
	{ IMAP_FLAGS_ANSWERED, 'R', "\\Answered" },
	{ IMAP_FLAGS_SEEN, 'S', "\\Seen" },
};

struct imap_flags_note {
	uint32_t	 uid;
	uint32_t	 mask;
	size_t		 order;		/* the last note of a UID wins */
};

struct imap_flags_hit {
	char		*base;
	uint32_t	 uid;
	unsigned int	 mask;		/* the server's */
	unsigned int	 moved;		/* its bits that changed since known */
	int		 found;		/* in new/ or cur/, or nothing to do */
	int		 raced;		/* moved away under its rename */
};

/* One parsed map line. */
struct imap_flags_line {
	uint32_t	 uidvalidity;
	uint32_t	 uid;
	const char	*base;
	size_t		 blen;
	unsigned int	 known;		/* IMAP_FLAGS_UNKNOWN: none */
	unsigned int	 pending;	/* bits an apply was renaming */
	const char	*digest;	/* IMAP_FLAGS_HEX hex digits; NULL:
					 * none */
};

struct imap_flags_sync {
	struct imap_flags_note	*notes;
	size_t			 n;
	size_t			 alloc;
	size_t			 order;		/* notes ever taken */
	int			 stale;		/* a known set to rewrite */
	int			 pending;	/* the rewrite before the renames */
	struct imap_flags_hit	*hits;
	size_t			 nhits;
	size_t			 ahits;
	int			 dirty_new;	/* a directory to fsync */
	int			 dirty_cur;
};

/* What a read of the map looks for: the notes' files (a sync), or the
 * files of the relinks' digests. */
struct imap_flags_walk {
	struct imap_flags_sync		*fs;
	struct imap_flags_relink	*rl;
	size_t				 n;
	uint32_t			 uidvalidity;
	char				 hex[17];	/* the folder's */
};

unsigned int
imap_flags_mask(const struct imap_node *flags)
{
	unsigned int	mask = 0;
	size_t		i;

	if (flags == NULL)
		return (0);
	for (i = 0; i < sizeof imap_flags_table / sizeof *imap_flags_table;
	    i++) {
		if (imap_parse_list_has(flags, imap_flags_table[i].flag))
			mask |= imap_flags_table[i].bit;
	}
	return (mask);
}

const char *
imap_flags_letters(unsigned int mask, char *buf)
{
	size_t	i, n = 0;

	for (i = 0; i < sizeof imap_flags_table / sizeof *imap_flags_table;
	    i++) {
		if (mask & imap_flags_table[i].bit)
			buf[n++] = imap_flags_table[i].letter;
	}
	buf[n] = '\0';
	return (buf);
}

/* FNV-1a of the folder name: tells the folders of one account apart in
 * the map (a collision would only make another folder's line a
 * candidate, whose base is not in this Maildir folder). */
static uint64_t
imap_flags_folder_hash(const char *folder)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *folder != '\0'; folder++)
		h = (h ^ (unsigned char)*folder) * 0x100000001b3ULL;
	return (h);
}

/* One map line, "\n"-ended (the caller frees). */
static char *
imap_flags_line_format(const char *folder, uint32_t uidvalidity,
    const struct imap_flags_line *ml)
{
	char	*line, known[4] = "-";

	if (ml->known != IMAP_FLAGS_UNKNOWN) {
		known[0] = "0123456789abcdef"[ml->known & IMAP_FLAGS_ALL];
		if (ml->pending & IMAP_FLAGS_ALL) {
			known[1] = '+';
			known[2] = "0123456789abcdef"[ml->pending &
			    IMAP_FLAGS_ALL];
		}
	}
	xasprintf(&line, "%016" PRIx64 " %" PRIu32 " %" PRIu32 " %.*s %s%s%.*s"
	    "\n", imap_flags_folder_hash(folder), uidvalidity, ml->uid,
	    (int)ml->blen, ml->base, known, ml->digest != NULL ? " " : "",
	    ml->digest != NULL ? IMAP_FLAGS_HEX : 0,
	    ml->digest != NULL ? ml->digest : "");
	return (line);
}

/* The map's lines for a batch, in one buffer. */
static char *
imap_flags_map_lines(const char *folder, uint32_t uidvalidity,
    const struct imap_flags_entry *e, size_t n, size_t *len)
{
	struct imap_flags_line	 ml;
	char			*buf = NULL, *line, hex[IMAP_FLAGS_HEX + 1];
	size_t			 i, j, blen = 0;

	for (i = 0; i < n; i++) {
		ml.uid = e[i].uid;
		ml.base = e[i].final;
		ml.blen = strcspn(e[i].final, ":");
		ml.known = e[i].known;
		ml.pending = 0;
		ml.digest = NULL;
		if (e[i].digest != NULL) {
			for (j = 0; j < MSGIDS_DIGEST_LEN; j++)
				snprintf(hex + 2 * j, 3, "%02x",
				    e[i].digest[j]);
			ml.digest = hex;
		}
		line = imap_flags_line_format(folder, uidvalidity, &ml);
		buf = xreallocarray(buf, blen + strlen(line) + 1, 1);
		memcpy(buf + blen, line, strlen(line) + 1);
		blen += strlen(line);
		free(line);
	}
	*len = blen;
	return (buf);
}

/* Whether the map open at fd (O_APPEND) ends a line, or is empty: an
 * append cut short (ENOSPC, a power cut) leaves a torn last line, which
 * the next append must not continue (review r24 04). */
static int
imap_flags_map_ended(int fd)
{
	struct stat	sb;
	char		c;

	if (fstat(fd, &sb) != 0 || sb.st_size == 0)
		return (1);
	return (pread(fd, &c, 1, sb.st_size - 1) == 1 && c == '\n');
}

int
imap_flags_map_add(const char *state_dir, const char *account,
    const char *folder, uint32_t uidvalidity,
    const struct imap_flags_entry *e, size_t n, char **cause)
{
	char	*path, *buf;
	size_t	 len;
	int	 fd, rc = 0;

	if (n == 0)
		return (0);
	path = state_account_file(state_dir, account, ".uids");
	buf = imap_flags_map_lines(folder, uidvalidity, e, n, &len);
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1 || (!imap_flags_map_ended(fd) &&
	    fdio_write_all(fd, "\n", 1) != 0) ||
	    fdio_write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		xasprintf(cause, "cannot append to the UID map %s: %s (the "
		    "flags of these messages will not follow the server's)",
		    path, strerror(errno));
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	free(buf);
	free(path);
	return (rc);
}

enum imap_flags_plan
imap_flags_plan(const struct state_folder *sf, uint32_t uidvalidity,
    int condstore, uint64_t highest, char **why)
{
	*why = NULL;
	if (!condstore || sf->modseq == 0)
		return (IMAP_FLAGS_FULL);
	if (sf->modseq_uidvalidity != uidvalidity)
		xasprintf(why, "the folder's UIDVALIDITY changed since its "
		    "flags were synced: fetching every message's flags");
	else if (highest == 0)
		xasprintf(why, "the server gives no usable HIGHESTMODSEQ for "
		    "the folder any more (NOMODSEQ, or a broken one): "
		    "fetching every message's flags");
	else if (highest < sf->modseq)
		xasprintf(why, "the server's HIGHESTMODSEQ went backwards "
		    "(%" PRIu64 ", below the %" PRIu64 " synced): fetching "
		    "every message's flags", highest, sf->modseq);
	else
		return (IMAP_FLAGS_CHANGED);
	return (IMAP_FLAGS_FULL);
}

struct imap_flags_sync *
imap_flags_sync_new(void)
{
	return (xcalloc(1, sizeof (struct imap_flags_sync)));
}

static void
imap_flags_hits_clear(struct imap_flags_sync *fs)
{
	size_t	i;

	for (i = 0; i < fs->nhits; i++)
		free(fs->hits[i].base);
	free(fs->hits);
	fs->hits = NULL;
	fs->nhits = fs->ahits = 0;
}

void
imap_flags_sync_free(struct imap_flags_sync *fs)
{
	if (fs == NULL)
		return;
	imap_flags_hits_clear(fs);
	free(fs->notes);
	free(fs);
}

static int
imap_flags_note_cmp_uid(const void *a, const void *b)
{
	const struct imap_flags_note	*x = a, *y = b;

	return (x->uid < y->uid ? -1 : x->uid > y->uid);
}

static int
imap_flags_note_cmp(const void *a, const void *b)
{
	const struct imap_flags_note	*x = a, *y = b;

	if (x->uid != y->uid)
		return (x->uid < y->uid ? -1 : 1);
	return (x->order < y->order ? -1 : x->order > y->order);
}

/* Sorts the notes by UID, keeping the last of each. */
static void
imap_flags_notes_sort(struct imap_flags_sync *fs)
{
	size_t	i, n = 0;

	if (fs->n == 0)
		return;
	qsort(fs->notes, fs->n, sizeof *fs->notes, imap_flags_note_cmp);
	for (i = 0; i < fs->n; i++) {
		if (n > 0 && fs->notes[n - 1].uid == fs->notes[i].uid)
			n--;
		fs->notes[n++] = fs->notes[i];
	}
	fs->n = n;
}

/* Room for one more note. A server may repeat answers without end: past
 * twice the cap the notes are sorted and deduplicated in place instead
 * of grown, so memory follows the distinct UIDs (16 bytes each); more
 * distinct UIDs than the cap is no honest answer (review r24 05). */
static int
imap_flags_note_room(struct imap_flags_sync *fs, size_t cap)
{
	if (cap > IMAP_FLAGS_MAX)
		cap = IMAP_FLAGS_MAX;
	if (fs->n < fs->alloc)
		return (0);
	if (fs->alloc < 2 * cap) {
		fs->alloc = fs->alloc == 0 ? 256 : fs->alloc * 2;
		if (fs->alloc > 2 * cap)
			fs->alloc = 2 * cap;
		fs->notes = xreallocarray(fs->notes, fs->alloc,
		    sizeof *fs->notes);
		return (0);
	}
	imap_flags_notes_sort(fs);
	return (fs->n <= cap && fs->n < fs->alloc ? 0 : -1);
}

int
imap_flags_sync_note(struct imap_flags_sync *fs, uint32_t uid,
    unsigned int mask, size_t cap)
{
	if (imap_flags_note_room(fs, cap) != 0)
		return (-1);
	fs->notes[fs->n].uid = uid;
	fs->notes[fs->n].mask = mask;
	fs->notes[fs->n].order = fs->order++;
	fs->n++;
	return (0);
}

size_t
imap_flags_sync_count(const struct imap_flags_sync *fs)
{
	return (fs->order);
}

static struct imap_flags_note *
imap_flags_note_find(struct imap_flags_sync *fs, uint32_t uid)
{
	struct imap_flags_note	key = { uid, 0, 0 };

	return (bsearch(&key, fs->notes, fs->n, sizeof *fs->notes,
	    imap_flags_note_cmp_uid));
}

/* A decimal number at *p followed by one space; *p moved past both. 0
 * (no UID or UIDVALIDITY is) when there is none. */
static unsigned long long
imap_flags_field(char **p)
{
	unsigned long long	 v;
	char			*end;

	if (**p < '0' || **p > '9')
		return (0);
	v = strtoull(*p, &end, 10);
	if (*end != ' ')
		return (0);
	*p = end + 1;
	return (v);
}

/* Parses a whole map line of the folder whose hash the lines spell hex
 * (most lines are told apart by their first bytes): -1 when it is
 * another folder's, or no map line. */
static int
imap_flags_line_parse(char *line, const char *hex, struct imap_flags_line *ml)
{
	unsigned long long	 uv, uid;
	char			*p = line + 17;
	const char		*digits = "0123456789abcdef", *d;
	size_t			 len;

	if (strncmp(line, hex, 16) != 0 || line[16] != ' ' ||
	    (uv = imap_flags_field(&p)) == 0 || uv > UINT32_MAX ||
	    (uid = imap_flags_field(&p)) == 0 || uid > UINT32_MAX)
		return (-1);
	len = strcspn(p, " \n");
	if (len == 0 || len > IMAP_FLAGS_NAME_MAX || *p == '.' ||
	    strcspn(p, "/:") < len)
		return (-1);
	ml->base = p;
	ml->blen = len;
	ml->known = IMAP_FLAGS_UNKNOWN;
	ml->pending = 0;
	ml->digest = NULL;
	/* Then " <known>" ("-": none; "<known>+<pending>": an apply was
	 * under way) and " <digest>", both optional. */
	p += len;
	if (*p == ' ' && p[1] != '\0' && (d = strchr(digits, p[1])) != NULL)
		ml->known = (unsigned int)(d - digits);
	else if (*p == ' ' && p[1] != '-')
		return (-1);
	p += *p == ' ' ? 2 : 0;
	if (*p == '+' && p[1] != '\0' && (d = strchr(digits, p[1])) != NULL &&
	    ml->known != IMAP_FLAGS_UNKNOWN) {
		ml->pending = (unsigned int)(d - digits);
		p += 2;
	}
	if (*p == ' ' && strspn(p + 1, digits) == IMAP_FLAGS_HEX) {
		ml->digest = p + 1;
		p += 1 + IMAP_FLAGS_HEX;
	}
	if (*p != '\n')
		return (-1);
	ml->uidvalidity = (uint32_t)uv;
	ml->uid = (uint32_t)uid;
	return (0);
}

/* One map line: the hit it names among the notes, if any. */
static void
imap_flags_map_line(char *line, struct imap_flags_walk *w)
{
	struct imap_flags_sync		*fs = w->fs;
	struct imap_flags_note		*note;
	struct imap_flags_line		 ml;
	struct imap_flags_hit		*hit;

	if (imap_flags_line_parse(line, w->hex, &ml) != 0 ||
	    ml.uidvalidity != w->uidvalidity ||
	    (note = imap_flags_note_find(fs, ml.uid)) == NULL)
		return;
	if (ml.known != note->mask || ml.pending != 0)
		fs->stale = 1;
	if (fs->nhits == fs->ahits) {
		fs->ahits = fs->ahits == 0 ? 64 : fs->ahits * 2;
		fs->hits = xreallocarray(fs->hits, fs->ahits,
		    sizeof *fs->hits);
	}
	hit = &fs->hits[fs->nhits++];
	hit->base = xstrndup(ml.base, ml.blen);
	hit->uid = ml.uid;
	hit->raced = 0;
	hit->mask = note->mask;
	hit->moved = ml.known == IMAP_FLAGS_UNKNOWN ? IMAP_FLAGS_ALL :
	    ((ml.known ^ note->mask) | ml.pending) & IMAP_FLAGS_ALL;
	/* Nothing moved: nothing to look for. */
	hit->found = hit->moved == 0;
}

/* Reads the map, giving each whole line to fn. A missing map has
 * none. */
static int
imap_flags_map_walk(const char *state_dir, const char *account,
    const char *folder, struct imap_flags_walk *w,
    void (*fn)(char *, struct imap_flags_walk *), char **cause)
{
	char	*path, line[IMAP_FLAGS_LINE_MAX];
	FILE	*f;
	int	 rc = 0, whole = 1, ended;

	snprintf(w->hex, sizeof w->hex, "%016" PRIx64,
	    imap_flags_folder_hash(folder));
	path = state_account_file(state_dir, account, ".uids");
	if ((f = fopen(path, "re")) == NULL) {
		if (errno != ENOENT) {
			xasprintf(cause, "cannot read the UID map %s: %s",
			    path, strerror(errno));
			rc = -1;
		}
		free(path);
		return (rc);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		/* The rest of an overlong line is no line of its own. */
		ended = strchr(line, '\n') != NULL;
		if (whole && ended)
			fn(line, w);
		whole = ended;
	}
	if (ferror(f)) {
		xasprintf(cause, "cannot read the UID map %s: %s", path,
		    strerror(errno));
		rc = -1;
	}
	fclose(f);
	free(path);
	return (rc);
}

/* A message recognised after a UIDVALIDITY change, looked for in the
 * map by its digest. */
struct imap_flags_relink {
	char		 hex[IMAP_FLAGS_HEX + 1];
	unsigned char	 digest[MSGIDS_DIGEST_LEN];
	uint32_t	 uid;		/* its new UID */
	char		*final;		/* the base the map names; NULL */
	unsigned int	 known;
};

static int
imap_flags_relink_cmp(const void *a, const void *b)
{
	const struct imap_flags_relink	*x = a, *y = b;

	return (strcmp(x->hex, y->hex));
}

/* The relink for a map line of digest hex: the one that already names
 * its base (a later line of the same file), else the first of that
 * digest naming none yet (identical messages: each its own file, review
 * r26 03); NULL when there is none. */
static struct imap_flags_relink *
imap_flags_relink_find(struct imap_flags_walk *w, const char *hex,
    const struct imap_flags_line *ml)
{
	struct imap_flags_relink	*free_one = NULL;
	size_t				 lo = 0, hi = w->n, mid;

	while (lo < hi) {	/* the first of the digest */
		mid = lo + (hi - lo) / 2;
		if (strcmp(w->rl[mid].hex, hex) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < w->n && strcmp(w->rl[lo].hex, hex) == 0; lo++) {
		if (w->rl[lo].final == NULL) {
			if (free_one == NULL)
				free_one = &w->rl[lo];
		} else if (strlen(w->rl[lo].final) == ml->blen &&
		    strncmp(w->rl[lo].final, ml->base, ml->blen) == 0)
			return (&w->rl[lo]);
	}
	return (free_one);
}

/* One map line: a relink of its digest takes its base and flags, when
 * it is the folder's under another UIDVALIDITY. The map is appended in
 * time order: the last line of a file has the flags known last (review
 * r26 11: the first had those of the oldest UIDVALIDITY). */
static void
imap_flags_relink_line(char *line, struct imap_flags_walk *w)
{
	struct imap_flags_line		 ml;
	struct imap_flags_relink	*hit;
	char				 hex[IMAP_FLAGS_HEX + 1];

	if (imap_flags_line_parse(line, w->hex, &ml) != 0 ||
	    ml.uidvalidity == w->uidvalidity || ml.digest == NULL)
		return;
	memcpy(hex, ml.digest, IMAP_FLAGS_HEX);
	hex[IMAP_FLAGS_HEX] = '\0';
	if ((hit = imap_flags_relink_find(w, hex, &ml)) == NULL)
		return;
	if (hit->final == NULL)
		hit->final = xstrndup(ml.base, ml.blen);
	/* An apply cut short left some of its bits unknown. */
	hit->known = ml.pending != 0 ? IMAP_FLAGS_UNKNOWN : ml.known;
}

int
imap_flags_map_relink(const char *state_dir, const char *account,
    const char *folder, uint32_t uidvalidity, const uint32_t *uids,
    const unsigned char *digests, size_t n, size_t *linked, char **cause)
{
	struct imap_flags_relink	*rl;
	struct imap_flags_entry		*e;
	size_t				 i, j, k = 0;
	int				 rc;

	*linked = 0;
	if (n == 0)
		return (0);
	rl = xcalloc(n, sizeof *rl);
	for (i = 0; i < n; i++) {
		memcpy(rl[i].digest, digests + i * MSGIDS_DIGEST_LEN,
		    MSGIDS_DIGEST_LEN);
		for (j = 0; j < MSGIDS_DIGEST_LEN; j++)
			snprintf(rl[i].hex + 2 * j, 3, "%02x",
			    rl[i].digest[j]);
		rl[i].uid = uids[i];
	}
	qsort(rl, n, sizeof *rl, imap_flags_relink_cmp);
	rc = imap_flags_map_walk(state_dir, account, folder,
	    &(struct imap_flags_walk){ .rl = rl, .n = n,
	    .uidvalidity = uidvalidity }, imap_flags_relink_line, cause);
	e = xcalloc(n, sizeof *e);
	for (i = 0; rc == 0 && i < n; i++) {
		if (rl[i].final == NULL)
			continue;
		e[k].uid = rl[i].uid;
		e[k].known = rl[i].known;
		e[k].final = rl[i].final;
		e[k].digest = rl[i].digest;
		k++;
	}
	if (rc == 0 && (rc = imap_flags_map_add(state_dir, account, folder,
	    uidvalidity, e, k, cause)) == 0)
		*linked = k;
	free(e);
	for (i = 0; i < n; i++)
		free(rl[i].final);
	free(rl);
	return (rc);
}

static int
imap_flags_hit_cmp(const void *a, const void *b)
{
	const struct imap_flags_hit	*x = a, *y = b;

	return (strcmp(x->base, y->base));
}

/* The mirrored flags an info part spells. */
static unsigned int
imap_flags_info_mask(const char *info)
{
	unsigned int	mask = 0;
	size_t		i;

	for (i = 0; i < sizeof imap_flags_table / sizeof *imap_flags_table;
	    i++) {
		if (strchr(info, imap_flags_table[i].letter) != NULL)
			mask |= imap_flags_table[i].bit;
	}
	return (mask);
}

/* The name a file gets: its base, ":2," and its info letters, those of
 * the moved bits as the server has them (mask), in ASCII order. NULL
 * when it stays as it is (or the name would be too long). */
static char *
imap_flags_target(const char *name, int in_new, unsigned int mask,
    unsigned int moved)
{
	char		 letters[IMAP_FLAGS_NAME_MAX + 1], own[5], *out;
	const char	*info, *p;
	size_t		 n = 0, base = strcspn(name, ":");
	int		 c;

	info = strncmp(name + base, ":2,", 3) == 0 ? name + base + 3 : "";
	mask = (imap_flags_info_mask(info) & ~moved) | (mask & moved);
	if (in_new && mask == 0)
		return (NULL);
	imap_flags_letters(mask, own);
	/* Each letter once, ordered: a counting pass over ASCII. */
	for (c = 0x21; c < 0x7f; c++) {
		if (strchr("DFRS", c) != NULL)
			p = strchr(own, c);
		else
			p = strchr(info, c);
		if (p != NULL && n < IMAP_FLAGS_NAME_MAX)
			letters[n++] = (char)c;
	}
	letters[n] = '\0';
	xasprintf(&out, "%.*s:2,%s", (int)base, name, letters);
	if (strlen(out) > IMAP_FLAGS_NAME_MAX || (!in_new &&
	    strcmp(out, name) == 0)) {
		free(out);
		return (NULL);
	}
	return (out);
}

/* Renames one file of sub ("new" or "cur") to its target: 1, or 0 when
 * it is no longer there. */
static int
imap_flags_rename(struct imap_flags_sync *fs, int dfd, const char *sub,
    const char *name, const char *target, char **cause)
{
	char	from[IMAP_FLAGS_NAME_MAX + 8], to[IMAP_FLAGS_NAME_MAX + 8];

	snprintf(from, sizeof from, "%s/%s", sub, name);
	snprintf(to, sizeof to, "cur/%s", target);
	if (renameat(dfd, from, dfd, to) != 0) {
		/* A reader moved or removed it meanwhile (review r26 04). */
		if (errno == ENOENT)
			return (0);
		xasprintf(cause, "cannot rename %s to %s: %s", from, to,
		    strerror(errno));
		return (-1);
	}
	fs->dirty_cur = 1;
	if (strcmp(sub, "new") == 0)
		fs->dirty_new = 1;
	return (1);
}

/* Gives one file of sub, the hit's, its flags: -1 when the rename
 * failed. A file a reader moved away in that instant (mutt moving new/X
 * to cur/X:2, as it opens the folder) is not found yet: looked for
 * again under its new name, and its map line kept as it is when it is
 * not met again, so that the next sync tries again (review r26 04). */
static int
imap_flags_file(struct imap_flags_sync *fs, int dfd, const char *sub,
    const char *name, struct imap_flags_hit *hit,
    struct imap_flags_stats *stats, char **cause)
{
	char	*target;
	int	 r;

	hit->found = 1;
	if ((target = imap_flags_target(name, strcmp(sub, "new") == 0,
	    hit->mask, hit->moved)) == NULL)
		return (0);
	r = imap_flags_rename(fs, dfd, sub, name, target, cause);
	free(target);
	if (r == 0) {
		hit->found = 0;
		hit->raced = 1;
	}
	stats->renamed += r > 0;
	return (r < 0 ? -1 : 0);
}

/* Gives the files of sub that the hits not found yet name their
 * flags. */
static int
imap_flags_scan(struct imap_flags_sync *fs, int dfd, const char *sub,
    struct imap_flags_stats *stats, char **cause)
{
	struct imap_flags_hit	 key, *hit;
	struct dirent		*de;
	DIR			*d;
	char			 base[IMAP_FLAGS_NAME_MAX + 1];
	int			 fd, rc = 0;

	if ((fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (d = fdopendir(fd)) == NULL) {
		xasprintf(cause, "cannot read %s/: %s", sub, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    strcspn(de->d_name, ":") > IMAP_FLAGS_NAME_MAX)
			continue;
		snprintf(base, sizeof base, "%.*s",
		    (int)strcspn(de->d_name, ":"), de->d_name);
		key.base = base;
		if ((hit = bsearch(&key, fs->hits, fs->nhits, sizeof *fs->hits,
		    imap_flags_hit_cmp)) != NULL && !hit->found &&
		    imap_flags_file(fs, dfd, sub, de->d_name, hit, stats,
		    cause) != 0)
			rc = -1;
	}
	closedir(d);
	return (rc);
}

/* Looks for a hit's file under the names it most likely has: new/BASE,
 * or cur/BASE:2, with one of the 16 sets of D F R S. 0 when it is under
 * none of them (a reader gave it another letter: the scan finds it). */
static int
imap_flags_probe(struct imap_flags_sync *fs, int dfd,
    struct imap_flags_hit *hit, struct imap_flags_stats *stats,
    char **cause)
{
	struct stat	 sb;
	char		 name[IMAP_FLAGS_NAME_MAX + 8], letters[5];
	unsigned int	 mask;

	snprintf(name, sizeof name, "new/%s", hit->base);
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return (imap_flags_file(fs, dfd, "new", name + 4, hit, stats,
		    cause));
	for (mask = 0; mask < 16; mask++) {
		snprintf(name, sizeof name, "cur/%s:2,%s", hit->base,
		    imap_flags_letters(mask, letters));
		if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			return (imap_flags_file(fs, dfd, "cur", name + 4, hit,
			    stats, cause));
	}
	return (0);
}

/* Sorts the hits by base, one per base. */
static void
imap_flags_hits_sort(struct imap_flags_sync *fs)
{
	size_t	i, n = 0;

	if (fs->nhits == 0)
		return;		/* qsort wants an array, even of none */
	qsort(fs->hits, fs->nhits, sizeof *fs->hits, imap_flags_hit_cmp);
	for (i = 0; i < fs->nhits; i++) {
		if (n > 0 && strcmp(fs->hits[n - 1].base,
		    fs->hits[i].base) == 0) {
			free(fs->hits[i].base);
			continue;
		}
		fs->hits[n++] = fs->hits[i];
	}
	fs->nhits = n;
}

/* fsyncs sub of the folder at dfd. */
static int
imap_flags_fsync_dir(int dfd, const char *sub, char **cause)
{
	int	fd, rc;

	if ((fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		xasprintf(cause, "cannot open %s/: %s", sub, strerror(errno));
		return (-1);
	}
	if ((rc = fsync(fd)) != 0)
		xasprintf(cause, "cannot fsync %s/: %s", sub, strerror(errno));
	close(fd);
	return (rc);
}

/* Reads new/ then cur/ (a file moved from new/ is met again in cur/,
 * already named as it should be), then makes the renames durable. */
static int
imap_flags_maildir(struct imap_flags_sync *fs, const char *path,
    struct imap_flags_stats *stats, char **cause)
{
	char	*why = NULL;
	size_t	 i, missed = 0;
	int	 dfd, rc = -1;

	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(&why, "cannot open: %s", strerror(errno));
		goto out;
	}
	/* A few changes: looked for by name, not by reading directories
	 * of 100,000 names. */
	for (i = 0; i < fs->nhits; i++)
		missed += !fs->hits[i].found;
	for (i = 0; missed <= IMAP_FLAGS_PROBE_MAX && i < fs->nhits; i++) {
		if (!fs->hits[i].found && imap_flags_probe(fs, dfd,
		    &fs->hits[i], stats, &why) != 0)
			goto out;
	}
	if (missed <= IMAP_FLAGS_PROBE_MAX)
		for (missed = 0, i = 0; i < fs->nhits; i++)
			missed += !fs->hits[i].found;
	if ((missed > 0 && (imap_flags_scan(fs, dfd, "new", stats,
	    &why) != 0 || imap_flags_scan(fs, dfd, "cur", stats,
	    &why) != 0)) ||
	    (fs->dirty_new && imap_flags_fsync_dir(dfd, "new", &why) != 0) ||
	    (fs->dirty_cur && imap_flags_fsync_dir(dfd, "cur", &why) != 0))
		goto out;
	rc = 0;
out:
	if (why != NULL) {
		xasprintf(cause, "%s: %s", path, why);
		free(why);
	}
	if (dfd != -1)
		close(dfd);
	return (rc);
}

/* Writes the map's line to out as the rewrite keeps it: not at all when
 * torn, or the folder's naming nothing; when the sync had a note for its
 * UID, before the renames (fs->pending) with the bits about to be
 * renamed as pending, after them with the note's flags as known (and
 * none pending) unless its file was lost under the rename; else as it
 * is. */
static int
imap_flags_map_keep(struct imap_flags_sync *fs, char *line, const char *hex,
    const char *folder, uint32_t uidvalidity, FILE *out)
{
	struct imap_flags_note		*note;
	struct imap_flags_line		 ml;
	char				*fresh;
	int				 rc;

	if (strchr(line, '\n') == NULL)
		return (0);
	if (strncmp(line, hex, 16) != 0)
		return (fputs(line, out) == EOF ? -1 : 0);
	if (imap_flags_line_parse(line, hex, &ml) != 0)
		return (0);
	if (ml.uidvalidity != uidvalidity ||
	    (note = imap_flags_note_find(fs, ml.uid)) == NULL ||
	    (note->mask & IMAP_FLAGS_KEEP) ||
	    (fs->pending && ml.known == IMAP_FLAGS_UNKNOWN))
		return (fputs(line, out) == EOF ? -1 : 0);
	if (fs->pending)
		ml.pending |= (ml.known ^ note->mask) & IMAP_FLAGS_ALL;
	else {
		ml.known = note->mask & IMAP_FLAGS_ALL;
		ml.pending = 0;
	}
	fresh = imap_flags_line_format(folder, uidvalidity, &ml);
	rc = fputs(fresh, out) == EOF ? -1 : 0;
	free(fresh);
	return (rc);
}

/* Copies the map into out with the notes' flags as known (line by line:
 * memory does not follow the map's size). */
static int
imap_flags_map_copy(struct imap_flags_sync *fs, FILE *in, FILE *out,
    const char *folder, uint32_t uidvalidity)
{
	char	line[IMAP_FLAGS_LINE_MAX], hex[17];
	int	whole = 1, ended;

	snprintf(hex, sizeof hex, "%016" PRIx64,
	    imap_flags_folder_hash(folder));
	while (fgets(line, sizeof line, in) != NULL) {
		ended = strchr(line, '\n') != NULL;
		if (whole && imap_flags_map_keep(fs, line, hex, folder,
		    uidvalidity, out) != 0)
			return (-1);
		whole = ended;
	}
	return (ferror(in) ? -1 : 0);
}

/* Replaces the map by a copy with the known flags the sync saw (or,
 * fs->pending, the bits it is about to rename). */
static int
imap_flags_map_rewrite(struct imap_flags_sync *fs, const char *state_dir,
    const char *account, const char *folder, uint32_t uidvalidity,
    char **cause)
{
	char	*path, *tmp;
	FILE	*in = NULL, *out = NULL;
	int	 fd = -1, rc = -1;

	path = state_account_file(state_dir, account, ".uids");
	xasprintf(&tmp, "%s.tmp", path);
	if ((in = fopen(path, "re")) == NULL ||
	    (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || (out = fdopen(fd, "w")) == NULL) {
		if (in != NULL && out == NULL && fd != -1)
			close(fd);
		goto out;
	}
	if (imap_flags_map_copy(fs, in, out, folder, uidvalidity) != 0 ||
	    fflush(out) != 0 || fsync(fileno(out)) != 0)
		goto out;
	if (fclose(out) != 0) {
		out = NULL;
		goto out;
	}
	out = NULL;
	if (rename(tmp, path) == 0 && fdio_fsync_dir(state_dir) == 0)
		rc = 0;
out:
	if (rc != 0) {
		xasprintf(cause, "cannot rewrite the UID map %s: %s (the "
		    "flags are applied again at the next sync)", path,
		    strerror(errno));
		unlink(tmp);
	}
	if (out != NULL)
		fclose(out);
	if (in != NULL)
		fclose(in);
	free(tmp);
	free(path);
	return (rc);
}

/* The notes of the files that vanished under their rename and were not
 * met again keep their map lines: what was not applied is not known. */
static void
imap_flags_keep_raced(struct imap_flags_sync *fs)
{
	struct imap_flags_note	*note;
	size_t			 i;

	for (i = 0; i < fs->nhits; i++) {
		if (fs->hits[i].raced && !fs->hits[i].found &&
		    (note = imap_flags_note_find(fs, fs->hits[i].uid)) != NULL)
			note->mask |= IMAP_FLAGS_KEEP;
	}
}

int
imap_flags_sync_apply(struct imap_flags_sync *fs, const char *state_dir,
    const char *account, const char *folder, uint32_t uidvalidity,
    const char *path, struct imap_flags_stats *stats, char **cause)
{
	size_t	i;

	memset(stats, 0, sizeof *stats);
	fs->dirty_new = fs->dirty_cur = fs->stale = 0;
	imap_flags_hits_clear(fs);
	imap_flags_notes_sort(fs);
	if (fs->n == 0)
		return (0);
	if (imap_flags_map_walk(state_dir, account, folder,
	    &(struct imap_flags_walk){ .fs = fs, .uidvalidity = uidvalidity },
	    imap_flags_map_line, cause) != 0)
		return (-1);
	imap_flags_hits_sort(fs);
	stats->mapped = fs->nhits;
	if (fs->nhits == 0)
		return (0);
	/* The bits about to be renamed are durable in the map first: a run
	 * killed before the map has the new known sets still knows which
	 * bits the files may have changed (review r26 17). */
	for (fs->pending = 0, i = 0; i < fs->nhits; i++)
		fs->pending |= !fs->hits[i].found;
	if (fs->pending && imap_flags_map_rewrite(fs, state_dir, account,
	    folder, uidvalidity, cause) != 0)
		return (-1);
	fs->pending = 0;
	if (imap_flags_maildir(fs, path, stats, cause) != 0)
		return (-1);
	for (i = 0; i < fs->nhits; i++)
		stats->absent += !fs->hits[i].found;
	imap_flags_keep_raced(fs);
	if (!fs->stale)
		return (0);
	fault_point("imap-flags-renamed");
	return (imap_flags_map_rewrite(fs, state_dir, account, folder,
	    uidvalidity, cause));
}
