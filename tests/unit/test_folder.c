/* test_folder.c: the one mapping of folder names (folder.h): configured
 * (UTF-8, '/') to the server's spelling (modified UTF-7, its separator),
 * the server's to UTF-8 for the user, and to the local Maildir++ name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "folder.h"
#include "imap_parse.h"

/* The configured name sent to a server whose separator is delim. */
static void
wire_is(const char *conf, int delim, const char *want)
{
	char	*got, *cause = NULL;

	got = folder_conf_to_wire(conf, delim, &cause);
	if (got == NULL)
		fail_msg("\"%s\" (delim %c): %s", conf, delim, cause);
	assert_string_equal(got, want);
	free(got);
}

static void
local_is(const char *utf8, int delim, const char *want)
{
	char	*got;

	got = folder_local_name(utf8, delim);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* Issue 15 point 4: '&' in a configured name is always a character, even
 * when the name happens to be valid modified UTF-7. */
static void
test_ampersand_never_guessed(void **state)
{
	(void)state;
	wire_is("Tom&Jennifer-Wedding", '/', "Tom&-Jennifer-Wedding");
	wire_is("A&B", '.', "A&-B");
	wire_is("&-", '/', "&--");
	wire_is("Entw&APw-rfe", '/', "Entw&-APw-rfe");
}

/* Issue 15 point 3: non-ASCII names (a Cyrillic trash) are encoded. */
static void
test_non_ascii(void **state)
{
	(void)state;
	wire_is("INBOX/Корзина", '.', "INBOX.&BBoEPgRABDcEOAQ9BDA-");
	wire_is("[Gmail]/Корзина", '/', "[Gmail]/&BBoEPgRABDcEOAQ9BDA-");
	wire_is("Entwürfe", '|', "Entw&APw-rfe");
}

/* Issue 15 point 6: '/' in the configuration is the server's separator,
 * whatever it is; patterns too; the server's own separator written in a
 * name reaches the same folder. */
static void
test_separator(void **state)
{
	(void)state;
	wire_is("Lists/*", '|', "Lists|*");
	wire_is("Lists/dev", '.', "Lists.dev");
	wire_is("Lists/dev", '/', "Lists/dev");
	wire_is("Lists/dev", 0, "Lists/dev");
	wire_is("INBOX.Lists.dev", '.', "INBOX.Lists.dev");
	wire_is("a/b/%", '|', "a|b|%");
}

static void
test_bad_utf8(void **state)
{
	char	*cause = NULL;

	(void)state;
	assert_null(folder_conf_to_wire("bad\xff", '/', &cause));
	assert_non_null(cause);
	free(cause);
}

/* Issue 15 point 5: the local name of the server's folder is the
 * configured name, whatever the server's separator. */
static void
test_local_one_mapping(void **state)
{
	const char	*confs[] = { "INBOX/Lists/dev", "Lists/dev", "Корзина",
	    "Tom&Jennifer-Wedding", "a b/c.d" };
	const int	 delims[] = { '/', '.', '|' };
	char		*wire, *utf8, *local, *cause = NULL;
	size_t		 i, j;

	(void)state;
	for (i = 0; i < sizeof confs / sizeof *confs; i++) {
		for (j = 0; j < sizeof delims / sizeof *delims; j++) {
			/* A '.' inside a level cannot exist on a '.' server. */
			if (delims[j] == '.' && strchr(confs[i], '.') != NULL)
				continue;
			wire = folder_conf_to_wire(confs[i], delims[j], &cause);
			assert_non_null(wire);
			utf8 = imap_parse_mutf7_decode(wire, strlen(wire),
			    &cause);
			assert_non_null(utf8);
			local = folder_local_name(utf8, delims[j]);
			assert_non_null(local);
			assert_string_equal(local, confs[i]);
			free(local);
			free(utf8);
			free(wire);
		}
	}
}

static void
test_local_names(void **state)
{
	char	long_name[FOLDER_LOCAL_MAX + 2];

	(void)state;
	local_is("A|B/C", '|', "A/B_C");	/* a '/' inside a level */
	local_is("..|x", '|', "_../x");
	local_is(".", '/', "_.");
	local_is("a/../b", '/', "a/_../b");
	local_is("a/.../b", '/', "a/.../b");
	local_is("a.b", '.', "a/b");
	local_is("/a/", '/', "_a_");
	local_is("a\tb", '/', "a_b");
	local_is("flat/name", 0, "flat_name");
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_null(folder_local_name(long_name, '/'));
}

/* Issue 15 point 7: UTF-8 for the user, not octal escapes; control
 * characters still escaped; a name that is not mUTF-7 shown as sent. */
static void
test_wire_to_utf8(void **state)
{
	char	*s;
	int	 bad;

	(void)state;
	s = folder_wire_to_utf8("INBOX.&BBoEPgRABDcEOAQ9BDA-", &bad);
	assert_string_equal(s, "INBOX.Корзина");
	assert_int_equal(bad, 0);
	free(s);
	s = folder_wire_to_utf8("Tom&-Jennifer", &bad);
	assert_string_equal(s, "Tom&Jennifer");
	free(s);
	s = folder_wire_to_utf8("a&AAE-b\\", &bad);
	assert_string_equal(s, "a\\001b\\134");
	assert_int_equal(bad, 0);
	free(s);
	s = folder_wire_to_utf8("a&AIU-b", &bad);	/* U+0085, C1 */
	assert_string_equal(s, "a\\302\\205b");
	free(s);
	s = folder_wire_to_utf8("broken&", &bad);
	assert_int_equal(bad, 1);
	assert_string_equal(s, "broken&");
	free(s);
	s = folder_wire_to_utf8("raw\xd0\x9a", &bad);
	assert_int_equal(bad, 1);
	assert_string_equal(s, "raw\\320\\232");
	free(s);
}

/* A configured name the server lacks that reads as modified UTF-7 gets
 * its decoded form as a hint; others none. */
static void
test_mutf7_hint(void **state)
{
	char	*h;

	(void)state;
	h = folder_conf_mutf7_hint("Entw&APw-rfe");
	assert_non_null(h);
	assert_string_equal(h, "Entwürfe");
	free(h);
	assert_null(folder_conf_mutf7_hint("Tom&-Jerry"));	/* "&-" only */
	assert_null(folder_conf_mutf7_hint("Plain"));
	assert_null(folder_conf_mutf7_hint("Bad&%%-"));	/* not mUTF-7 */
	assert_null(folder_conf_mutf7_hint("Корзина"));
}

/* A name beginning with '\' is a role (any case); "\\" escapes a real
 * folder's leading '\'; anything else is a name. */
static void
test_roles_of_conf(void **state)
{
	(void)state;
	assert_int_equal(folder_role_of_conf("\\Junk"), FOLDER_ROLE_JUNK);
	assert_int_equal(folder_role_of_conf("\\junk"), FOLDER_ROLE_JUNK);
	assert_int_equal(folder_role_of_conf("\\All"), FOLDER_ROLE_ALL);
	assert_int_equal(folder_role_of_conf("\\Trash"), FOLDER_ROLE_TRASH);
	assert_int_equal(folder_role_of_conf("\\Sent"), FOLDER_ROLE_SENT);
	assert_int_equal(folder_role_of_conf("\\Spam"), -1); /* XLIST's */
	assert_int_equal(folder_role_of_conf("\\Junk/x"), -1);
	assert_int_equal(folder_role_of_conf("\\"), -1);
	assert_int_equal(folder_role_of_conf("Junk"), FOLDER_ROLE_NONE);
	assert_int_equal(folder_role_of_conf("\\\\Junk"), FOLDER_ROLE_NONE);
	assert_string_equal(folder_conf_unescape("\\\\Junk"), "\\Junk");
	assert_string_equal(folder_conf_unescape("\\Junk"), "\\Junk");
	assert_string_equal(folder_conf_unescape("A\\\\B"), "A\\\\B");
	assert_string_equal(folder_role_name(FOLDER_ROLE_FLAGGED), "\\Flagged");
	assert_string_equal(folder_role_name(FOLDER_ROLE_NONE), "");
	assert_string_equal(folder_role_name(FOLDER_ROLE_MAX), "");
}

/* NAMESPACE (RFC 2342): each namespace's prefix and separator; a name
 * takes the separator of the longest prefix it falls in. */
static void
test_namespaces(void **state)
{
	static const char	 line[] = "* NAMESPACE ((\"\" \".\")) "
	    "((\"~\" \".\")) ((\"#shared/\" \"/\")(\"#shared/a|\" \"|\")"
	    "(\"&BBoEPgRABDcEOAQ9BDA-|\" \"|\")(\"#flat\" NIL)(\"&Jjo\" \"/\"))\r\n";
	struct imap_parser	*p = imap_parse_new(NULL);
	struct folder_ns	 ns = { .n = 0 };
	size_t			 used;
	char			*cause = NULL, *wire;

	(void)state;
	assert_int_equal(imap_parse_feed(p, line, strlen(line), &used,
	    &cause), IMAP_PARSE_RESPONSE);
	folder_ns_parse(&ns, imap_parse_response(p));
	assert_int_equal(ns.n, 6);	/* the bad mUTF-7 one left out */
	assert_string_equal(ns.prefix[4], "\xd0\x9a\xd0\xbe\xd1\x80\xd0\xb7"
	    "\xd0\xb8\xd0\xbd\xd0\xb0/");
	assert_int_equal(folder_ns_delim(&ns, "Lists/dev", 0), '.');
	assert_int_equal(folder_ns_delim(&ns, "#shared/team", '.'), '/');
	assert_int_equal(folder_ns_delim(&ns, "#shared", '.'), '/');
	assert_int_equal(folder_ns_delim(&ns, "#shared/a/b", '.'), '|');
	assert_int_equal(folder_ns_delim(&ns, "#flat", '.'), 0);
	wire = folder_ns_conf_to_wire(&ns, "#shared/a/b/c", '.', &cause);
	assert_string_equal(wire, "#shared|a|b|c");
	free(wire);
	/* The personal namespace ("" here) is the first kind only. */
	assert_int_equal(ns.npersonal, 1);
	assert_true(folder_ns_personal(&ns, "Trash", '.'));
	/* One namespace was left out (bad mUTF-7): a folder below the top
	 * level under the "" prefix may be in it (review r11 07). */
	assert_true(ns.partial);
	assert_false(folder_ns_personal(&ns, "INBOX.Trash", '.'));
	assert_false(folder_ns_personal(&ns, "~bob.Trash", '.'));
	assert_false(folder_ns_personal(&ns, "#shared/Trash", '/'));
	assert_false(folder_ns_personal(&ns, "#shared", '/'));
	assert_false(folder_ns_personal(&ns,
	    "&BBoEPgRABDcEOAQ9BDA-|x", '|'));
	folder_ns_clear(&ns);
	assert_int_equal(ns.n, 0);
	/* Without a NAMESPACE answer every folder is the user's own but
	 * one in a '#' namespace (RFC 2342's convention). */
	assert_true(folder_ns_personal(&ns, "Lists/Trash", '/'));
	assert_false(folder_ns_personal(&ns, "#shared/Trash", '/'));
	assert_int_equal(folder_ns_delim(&ns, "#shared/team", '.'), '.');
	imap_parse_free(p);
}

/* Namespaces are told apart from the user's own folders without case
 * (a server may list "Public/Trash" under "public/"), and fail closed
 * when some are not known (review r11 07, 09). */
static void
test_namespaces_closed(void **state)
{
	static const char	 line[] = "* NAMESPACE ((\"\" \"/\")) NIL "
	    "((\"public/\" \"/\"))\r\n";
	static const char	 bad[] = "* NAMESPACE ((\"\" \"/\") (((\"x\r\n";
	struct imap_parser	*p = imap_parse_new(NULL);
	struct folder_ns	 ns = { .n = 0 };
	size_t			 used;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(imap_parse_feed(p, line, strlen(line), &used,
	    &cause), IMAP_PARSE_RESPONSE);
	folder_ns_parse(&ns, imap_parse_response(p));
	assert_false(ns.partial);
	assert_false(folder_ns_personal(&ns, "Public/Trash", '/'));
	assert_true(folder_ns_personal(&ns, "Lists/Trash", '/'));
	/* An unreadable answer: passed over, only top-level folders. */
	assert_int_equal(imap_parse_feed(p, bad, strlen(bad), &used,
	    &cause), IMAP_PARSE_RESPONSE);
	assert_int_equal(used, strlen(bad));
	assert_non_null(imap_parse_response(p)->skipped);
	folder_ns_parse(&ns, imap_parse_response(p));
	assert_true(ns.partial);
	assert_int_equal(ns.n, 0);
	assert_true(folder_ns_personal(&ns, "Trash", '/'));
	assert_false(folder_ns_personal(&ns, "Public/Trash", '/'));
	folder_ns_clear(&ns);
	imap_parse_free(p);
}

/* Without NAMESPACE: the '#' prefixes to ask LIST "" "#x" about. */
static void
test_namespace_guess(void **state)
{
	struct folder_ns	 ns = { .n = 0 };
	char			*g;

	(void)state;
	assert_null(folder_ns_guess("Lists/dev"));
	assert_null(folder_ns_guess("#shared"));
	assert_null(folder_ns_guess("#/x"));
	assert_null(folder_ns_guess("#sh*/x"));
	assert_null(folder_ns_guess("#sh%/x"));
	g = folder_ns_guess("#shared/team/a");
	assert_string_equal(g, "#shared");
	assert_false(folder_ns_has(&ns, g));
	folder_ns_set(&ns, g, '|');
	assert_true(folder_ns_has(&ns, g));
	assert_false(folder_ns_has(&ns, "#share"));
	assert_int_equal(folder_ns_delim(&ns, "#shared/team/a", '.'), '|');
	assert_int_equal(folder_ns_delim(&ns, "#sharedx/a", '.'), '.');
	free(g);
	folder_ns_clear(&ns);
}

/* INBOX in any case is the INBOX, also as the first level of a name: a
 * configured "Inbox/Trash" is the server's "INBOX/Trash" (review r11
 * 15: the trash fetched back, each message delivered twice). */
static void
test_name_eq(void **state)
{
	struct folder_conf	 f = { .remote = (char *)"Inbox/Trash" };
	struct folder_ns	 ns = { .n = 0 };
	char			*roles[FOLDER_ROLE_MAX] = { NULL };

	(void)state;
	assert_true(folder_name_eq("INBOX", "inbox", '/'));
	assert_true(folder_name_eq("INBOX/Trash", "Inbox/Trash", '/'));
	assert_true(folder_name_eq("INBOX.Trash", "inbox.Trash", '.'));
	assert_false(folder_name_eq("INBOX/Trash", "Inbox/trash", '/'));
	assert_false(folder_name_eq("INBOXES", "inboxes", '/'));
	assert_false(folder_name_eq("inbox.x", "INBOX.x", '/'));
	assert_false(folder_name_eq("Trash", "trash", '/'));
	assert_true(folder_conf_fetches(&f, 1, roles, &ns, '/',
	    "INBOX/Trash"));
	assert_false(folder_conf_fetches(&f, 1, roles, &ns, '/',
	    "INBOX/Junk"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ampersand_never_guessed),
		cmocka_unit_test(test_non_ascii),
		cmocka_unit_test(test_separator),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_local_one_mapping),
		cmocka_unit_test(test_local_names),
		cmocka_unit_test(test_wire_to_utf8),
		cmocka_unit_test(test_mutf7_hint),
		cmocka_unit_test(test_roles_of_conf),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_namespaces_closed),
		cmocka_unit_test(test_name_eq),
		cmocka_unit_test(test_namespace_guess),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
