/* test_imap_flags.c: local_flags = mirror after delivery: the flags a
 * FETCH names, the plan (CHANGEDSINCE or every message's flags, and why),
 * and the UID map and Maildir renames of a sync, repeated harmlessly. */
#include <sys/stat.h>

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imap_flags.h"
#include "xmalloc.h"

static char	dir[] = "/tmp/mfd-test-imap-flags.XXXXXX";

static int
setup(void **state)
{
	char	*md;

	(void)state;
	strcpy(dir, "/tmp/mfd-test-imap-flags.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return (-1);
	xasprintf(&md, "mkdir -p '%s/md/new' '%s/md/cur' '%s/md/tmp'", dir,
	    dir, dir);
	assert_int_equal(system(md), 0);
	free(md);
	return (0);
}

static int
teardown(void **state)
{
	char	*cmd;

	(void)state;
	xasprintf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return (0);
}

/* The FLAGS of one FETCH line, through the parser. */
static void
test_mask(void **state)
{
	static const char	 line[] = "* 1 FETCH (UID 7 FLAGS (\\Seen "
	    "$Junk \\Flagged \\Recent \\Answered \\Draft))\r\n";
	struct imap_parser	*p;
	const struct imap_response *r;
	char			*cause = NULL, buf[5];
	size_t			 used;

	(void)state;
	p = imap_parse_new(NULL);
	assert_int_equal(imap_parse_feed(p, line, strlen(line), &used,
	    &cause), IMAP_PARSE_RESPONSE);
	r = imap_parse_response(p);
	assert_int_equal(imap_flags_mask(imap_parse_fetch_item(r, "FLAGS")),
	    IMAP_FLAGS_DRAFT | IMAP_FLAGS_FLAGGED | IMAP_FLAGS_ANSWERED |
	    IMAP_FLAGS_SEEN);
	assert_int_equal(imap_flags_mask(NULL), 0);
	imap_parse_free(p);
	assert_string_equal(imap_flags_letters(0xf, buf), "DFRS");
	assert_string_equal(imap_flags_letters(IMAP_FLAGS_SEEN |
	    IMAP_FLAGS_FLAGGED, buf), "FS");
	assert_string_equal(imap_flags_letters(0, buf), "");
}

/* CHANGEDSINCE only with CONDSTORE, a modseq of this UIDVALIDITY and a
 * HIGHESTMODSEQ not below it; each refusal of a saved one is said. */
static void
test_plan(void **state)
{
	struct state_folder	 sf;
	char			*why;

	(void)state;
	memset(&sf, 0, sizeof sf);
	assert_int_equal(imap_flags_plan(&sf, 5, 1, 100, &why),
	    IMAP_FLAGS_FULL);
	assert_null(why);
	sf.modseq = 100;
	sf.modseq_uidvalidity = 5;
	assert_int_equal(imap_flags_plan(&sf, 5, 0, 100, &why),
	    IMAP_FLAGS_FULL);
	assert_null(why);
	assert_int_equal(imap_flags_plan(&sf, 5, 1, 100, &why),
	    IMAP_FLAGS_CHANGED);
	assert_null(why);
	assert_int_equal(imap_flags_plan(&sf, 5, 1, 200, &why),
	    IMAP_FLAGS_CHANGED);
	assert_null(why);
	assert_int_equal(imap_flags_plan(&sf, 5, 1, 99, &why),
	    IMAP_FLAGS_FULL);
	assert_non_null(strstr(why, "went backwards (99, below the 100"));
	free(why);
	assert_int_equal(imap_flags_plan(&sf, 5, 1, 0, &why),
	    IMAP_FLAGS_FULL);
	assert_non_null(strstr(why, "NOMODSEQ"));
	free(why);
	assert_int_equal(imap_flags_plan(&sf, 6, 1, 200, &why),
	    IMAP_FLAGS_FULL);
	assert_non_null(strstr(why, "UIDVALIDITY changed"));
	free(why);
}

/* Creates DIR/md/SUB/NAME. */
static void
touch(const char *sub, const char *name)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/md/%s/%s", dir, sub, name);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	free(path);
}

static int
exists(const char *sub, const char *name)
{
	char		*path;
	struct stat	 sb;
	int		 r;

	xasprintf(&path, "%s/md/%s/%s", dir, sub, name);
	r = stat(path, &sb) == 0;
	free(path);
	return (r);
}

/* Renames DIR/md/FROM to DIR/md/TO. */
static int
rename_md(const char *from, const char *to)
{
	char	*a, *b;
	int	 r;

	xasprintf(&a, "%s/md/%s", dir, from);
	xasprintf(&b, "%s/md/%s", dir, to);
	r = rename(a, b);
	free(a);
	free(b);
	return (r);
}

/* The map's lines whose hash is the folder's. */
static int
map_count(const char *folder)
{
	char		*path, line[2048], hex[17];
	uint64_t	 h = 0xcbf29ce484222325ULL;
	FILE		*f;
	int		 n = 0;

	for (; *folder != '\0'; folder++)
		h = (h ^ (unsigned char)*folder) * 0x100000001b3ULL;
	snprintf(hex, sizeof hex, "%016" PRIx64, h);
	xasprintf(&path, "%s/acct.uids", dir);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f) != NULL)
		n += strncmp(line, hex, 16) == 0;
	fclose(f);
	free(path);
	return (n);
}

/* Appends lines for n messages of folder to the map (no digests). */
static void
map_add(const char *folder, uint32_t uidvalidity, const uint32_t *uids,
    const unsigned int *known, char *const *finals, size_t n)
{
	struct imap_flags_entry	 e[8];
	char			*cause = NULL;
	size_t			 i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++) {
		e[i].uid = uids[i];
		e[i].known = known[i];
		e[i].final = finals[i];
		e[i].digest = NULL;
	}
	assert_int_equal(imap_flags_map_add(dir, "acct", folder, uidvalidity,
	    e, n, &cause), 0);
	assert_null(cause);
}

/* One apply of (UID, flags) pairs to folder "INBOX" of UIDVALIDITY 9. */
static void
apply(const uint32_t *uids, const unsigned int *masks, size_t n,
    uint32_t uidvalidity, struct imap_flags_stats *st)
{
	struct imap_flags_sync	*fs;
	char			*cause = NULL, *md;
	size_t			 i;

	fs = imap_flags_sync_new();
	for (i = 0; i < n; i++)
		assert_int_equal(imap_flags_sync_note(fs, uids[i], masks[i],
		    IMAP_FLAGS_MAX), 0);
	assert_int_equal(imap_flags_sync_count(fs), n);
	xasprintf(&md, "%s/md", dir);
	assert_int_equal(imap_flags_sync_apply(fs, dir, "acct", "INBOX",
	    uidvalidity, md, st, &cause), 0);
	assert_null(cause);
	free(md);
	imap_flags_sync_free(fs);
}

/* The map names each UID's file; an apply gives new/ and cur/ files the
 * server's changes since the flags the map knows, keeps a reader's own
 * letters (T, a), leaves a file of no flag in new/, counts a file gone,
 * ignores another folder's and another UIDVALIDITY's lines, and a second
 * apply changes nothing; the map rewritten by the first keeps the lines
 * of other folders and UIDVALIDITYs. */
static void
test_apply(void **state)
{
	static const uint32_t	 u[] = { 1, 2, 3, 4, 5 };
	static char		*finals[] = { "a,S=1", "b,S=2:2,S",
	    "c,S=3:2,FS", "d,S=4", "gone,S=5" };
	static const uint32_t	 cu[] = { 1, 2, 3, 4, 5, 6, 1 };
	static const unsigned int cm[] = { IMAP_FLAGS_SEEN, 0,
	    IMAP_FLAGS_ANSWERED | IMAP_FLAGS_SEEN, 0, IMAP_FLAGS_SEEN,
	    IMAP_FLAGS_SEEN, IMAP_FLAGS_FLAGGED };
	/* As delivered: the flags each was fetched with. */
	static const unsigned int known[] = { 0, IMAP_FLAGS_SEEN,
	    IMAP_FLAGS_FLAGGED | IMAP_FLAGS_SEEN, 0, 0 };
	static char		*other[] = { "b,S=2" };
	struct imap_flags_stats	 st;

	(void)state;
	map_add("INBOX", 9, u, known, finals, 5);
	/* The same UID in another folder, and in an older epoch. */
	map_add("Sent", 9, u + 1, known + 1, other, 1);
	map_add("INBOX", 8, u + 1, known + 1, other, 1);
	touch("new", "a,S=1");
	touch("cur", "b,S=2:2,STa");	/* the reader trashed it */
	touch("cur", "c,S=3:2,FS");
	touch("new", "d,S=4");
	touch("new", "unrelated,S=9");

	/* UID 1 twice: the last note (\Flagged) wins. */
	apply(cu, cm, 7, 9, &st);
	assert_int_equal(st.mapped, 5);
	assert_int_equal(st.renamed, 3);
	assert_int_equal(st.absent, 1);
	assert_true(exists("cur", "a,S=1:2,F"));
	assert_false(exists("new", "a,S=1"));
	assert_true(exists("cur", "b,S=2:2,Ta"));
	assert_true(exists("cur", "c,S=3:2,RS"));
	assert_true(exists("new", "d,S=4"));
	assert_true(exists("new", "unrelated,S=9"));

	/* Repeated (a crash before the modseq was saved): nothing moves. */
	apply(cu, cm, 7, 9, &st);
	assert_int_equal(st.renamed, 0);
	assert_true(exists("cur", "a,S=1:2,F"));
	assert_true(exists("cur", "b,S=2:2,Ta"));

	/* Another epoch's UIDs name its own lines only. */
	apply(cu, cm, 7, 8, &st);
	assert_int_equal(st.mapped, 1);
	assert_int_equal(st.renamed, 0);
	assert_true(exists("cur", "b,S=2:2,Ta"));
	assert_int_equal(map_count("Sent"), 1);
	assert_int_equal(map_count("INBOX"), 6);
}

/* Lines that are no map line of the folder name nothing: another
 * folder's hash, UID 0, a UID past 32 bits, a base with '/' or a
 * leading '.', a name past 255 bytes, a line past 1024 bytes (and its
 * rest), a torn last line; the one good line among them does. */
static void
test_map_foreign(void **state)
{
	static const uint32_t	 u[] = { 3 };
	static char		*finals[] = { "good,S=3:2,S" };
	static const uint32_t	 nu[] = { 1, 2, 3, 4 };
	static const unsigned int nm[] = { IMAP_FLAGS_SEEN, IMAP_FLAGS_SEEN,
	    IMAP_FLAGS_SEEN, IMAP_FLAGS_SEEN };
	static const unsigned int none[] = { 0 };
	struct imap_flags_stats	 st;
	char			*path, hex[17], big[1100];
	FILE			*f;

	(void)state;
	map_add("INBOX", 9, u, nm, finals, 1);
	xasprintf(&path, "%s/acct.uids", dir);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(hex, sizeof hex, f));
	fclose(f);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_non_null(f = fopen(path, "a"));
	fprintf(f, "0000000000000000 9 1 other\n%s 9 0 zero\n"
	    "%s 9 4294967297 wide\n%s 9 1 a/b\n%s 9 2 .hidden\n"
	    "%s 9 1 %.300s\n%s 9 2 %s\n%s 9 4 torn", hex, hex, hex, hex,
	    hex, big, hex, big, hex);
	fclose(f);
	free(path);
	touch("cur", "good,S=3:2,");
	touch("new", "torn");
	/* Known \Seen, the reader took it off locally: the server
	 * changes nothing, nothing is done. */
	apply(nu, nm, 4, 9, &st);
	assert_int_equal(st.mapped, 1);
	assert_int_equal(st.renamed, 0);
	assert_true(exists("cur", "good,S=3:2,"));
	/* The server takes \Seen off, then sets it again: followed. */
	apply(nu + 2, none, 1, 9, &st);
	assert_true(exists("cur", "good,S=3:2,"));
	apply(nu, nm, 4, 9, &st);
	assert_int_equal(st.mapped, 1);
	assert_int_equal(st.renamed, 1);
	assert_true(exists("cur", "good,S=3:2,S"));
	assert_true(exists("new", "torn"));
}

/* An append cut short (ENOSPC, a power cut) left a torn last line: the
 * next batch's line starts a line of its own and names its file (review
 * r24 04). */
static void
test_map_torn(void **state)
{
	static const uint32_t	 u[] = { 2, 3 };
	static const unsigned int m[] = { 0, 0 };
	static const unsigned int fl[] = { IMAP_FLAGS_FLAGGED,
	    IMAP_FLAGS_FLAGGED };
	static char		*finals[] = { "two,S=2", "three,S=3" };
	struct imap_flags_stats	 st;
	char			*path;
	struct stat		 sb;

	(void)state;
	map_add("INBOX", 9, u, m, finals, 1);
	xasprintf(&path, "%s/acct.uids", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(truncate(path, sb.st_size - 5), 0);
	free(path);
	map_add("INBOX", 9, u + 1, m + 1, finals + 1, 1);
	touch("new", "two,S=2");
	touch("new", "three,S=3");
	apply(u, fl, 2, 9, &st);
	assert_int_equal(st.renamed, 1);
	assert_true(exists("cur", "three,S=3:2,F"));
	assert_true(exists("new", "two,S=2"));
}

/* Makes the map one line of folder "INBOX" (its hash, taken from the
 * line map_add wrote), UIDVALIDITY 9, UID 7 and rest (its base and
 * known flags, as a version or a crash left them). */
static void
map_set_line(const char *rest)
{
	static const uint32_t	 u[] = { 7 };
	static const unsigned int none[] = { 0 };
	char			*path, hex[17];
	FILE			*f;

	map_add("INBOX", 9, u, none, (char *[]){ "x,S=1" }, 1);
	xasprintf(&path, "%s/acct.uids", dir);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(hex, sizeof hex, f));
	fclose(f);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s 9 7 %s\n", hex, rest);
	fclose(f);
	free(path);
}

/* A line of an older version (no known flags) gets the server's flags
 * whole once, then only their changes. */
static void
test_map_old(void **state)
{
	static const uint32_t	 u[] = { 7 };
	static const unsigned int seen[] = { IMAP_FLAGS_SEEN };
	struct imap_flags_stats	 st;

	(void)state;
	map_set_line("old,S=1");
	touch("cur", "old,S=1:2,F");
	apply(u, seen, 1, 9, &st);
	assert_int_equal(st.renamed, 1);
	assert_true(exists("cur", "old,S=1:2,S"));
	/* Known now: a local change stays. */
	assert_int_equal(rename_md("cur/old,S=1:2,S", "cur/old,S=1:2,"), 0);
	apply(u, seen, 1, 9, &st);
	assert_int_equal(st.renamed, 0);
	assert_true(exists("cur", "old,S=1:2,"));
}

/* A line with pending bits (an apply killed before the map had the new
 * known set: "<known>+<bits>"): the pending bits are set as the server
 * has them now, also when that is the known set (the server took the
 * flag back, review r26 17), and the rewrite clears them. */
static void
test_map_pending(void **state)
{
	static const uint32_t	 u[] = { 7 };
	static const unsigned int none[] = { 0 };
	char			*path, line[256];
	struct imap_flags_stats	 st;
	FILE			*f;

	(void)state;
	map_set_line("p,S=1 0+2");
	xasprintf(&path, "%s/acct.uids", dir);
	touch("cur", "p,S=1:2,FT");
	apply(u, none, 1, 9, &st);
	assert_int_equal(st.mapped, 1);
	assert_int_equal(st.renamed, 1);
	assert_true(exists("cur", "p,S=1:2,T"));
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_null(strchr(line, '+'));
	free(path);
	/* Known now, nothing pending: a local change stays. */
	assert_int_equal(rename_md("cur/p,S=1:2,T", "cur/p,S=1:2,FT"), 0);
	apply(u, none, 1, 9, &st);
	assert_int_equal(st.renamed, 0);
	assert_true(exists("cur", "p,S=1:2,FT"));
}

/* After a UIDVALIDITY change, a recognised message (by its digest) gets
 * a line under its new UID naming the file delivered before, with the
 * flags known then: a server change since is applied, and the digest
 * goes along for the next change (review r24 01). */
static void
test_relink(void **state)
{
	static const unsigned char dg[3][MSGIDS_DIGEST_LEN] = {
	    { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } };
	struct imap_flags_entry	 e[2] = {
	    { 1, IMAP_FLAGS_SEEN, "a,S=1:2,S", dg[0] },
	    { 2, 0, "b,S=2", dg[1] } };
	static const uint32_t	 nu[] = { 101, 103 }, nu2[] = { 201 };
	static const unsigned int none[] = { 0 };
	unsigned char		 nd[2 * MSGIDS_DIGEST_LEN];
	struct imap_flags_stats	 st;
	char			*cause = NULL;
	size_t			 linked;

	(void)state;
	assert_int_equal(imap_flags_map_add(dir, "acct", "INBOX", 8, e, 2,
	    &cause), 0);
	touch("cur", "a,S=1:2,S");
	memcpy(nd, dg[0], MSGIDS_DIGEST_LEN);
	memcpy(nd + MSGIDS_DIGEST_LEN, dg[2], MSGIDS_DIGEST_LEN);
	assert_int_equal(imap_flags_map_relink(dir, "acct", "INBOX", 9, nu,
	    nd, 2, &linked, &cause), 0);
	assert_null(cause);
	assert_int_equal(linked, 1);
	/* The server took \Seen off across the change: applied. */
	apply(nu, none, 1, 9, &st);
	assert_int_equal(st.mapped, 1);
	assert_true(exists("cur", "a,S=1:2,"));
	/* Another change: the rewritten line kept its digest. */
	assert_int_equal(imap_flags_map_relink(dir, "acct", "INBOX", 10, nu2,
	    nd, 1, &linked, &cause), 0);
	assert_int_equal(linked, 1);
	assert_int_equal(imap_flags_map_relink(dir, "acct", "Sent", 10, nu2,
	    nd, 1, &linked, &cause), 0);
	assert_int_equal(linked, 0);
}

/* No map at all: nothing mapped, no error. The notes are bounded by the
 * cap in distinct UIDs (twice over before repeats are weeded out), not
 * in answers: a server repeating one UID costs no memory. */
static void
test_bounds(void **state)
{
	static const uint32_t	 u[] = { 1 };
	static const unsigned int m[] = { IMAP_FLAGS_SEEN };
	struct imap_flags_sync	*fs;
	struct imap_flags_stats	 st;
	uint32_t		 i;

	(void)state;
	apply(u, m, 1, 9, &st);
	assert_int_equal(st.mapped, 0);
	fs = imap_flags_sync_new();
	for (i = 0; i < 100000; i++)
		assert_int_equal(imap_flags_sync_note(fs, 5 + i % 3, 0, 1000),
		    0);
	/* Up to the cap distinct: taken; past twice it: refused. */
	for (i = 0; i < 1000 - 3; i++)
		assert_int_equal(imap_flags_sync_note(fs, 100 + i, 0, 1000),
		    0);
	for (; i < 3000 && imap_flags_sync_note(fs, 100 + i, 0, 1000) == 0;
	    i++)
		;
	assert_true(i < 3000);
	imap_flags_sync_free(fs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_plan),
		cmocka_unit_test_setup_teardown(test_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_foreign, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_map_torn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_map_old, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_map_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_relink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
