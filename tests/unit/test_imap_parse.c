/* test_imap_parse.c: the IMAP response parser, mailbox name helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap_parse.h"
#include "xmalloc.h"

/* A growing string. */
struct sbuf {
	char	*s;
	size_t	 len;
	size_t	 size;
};

static void
sb_add(struct sbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->size) {
		b->size = (b->len + n + 1) * 2;
		b->s = xreallocarray(b->s, 1, b->size);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void printflike(2, 3)
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sb_str(b, buf);
}

/* Bytes shown unambiguously: printable as is, others as \xNN. */
static void
sb_escaped(struct sbuf *b, const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			sb_printf(b, "\\%c", s[i]);
		else if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
			sb_add(b, &s[i], 1);
		else
			sb_printf(b, "\\x%02x", (unsigned char)s[i]);
	}
}

/* A node: atom as is, #number, "string", {n}"literal", ~{n}"...",
 * {n}S when streamed, NIL, (list). */
static void
dump_node(struct sbuf *b, const struct imap_node *n)
{
	const struct imap_node	*c;

	switch (n->type) {
	case IMAP_NODE_ATOM:
		sb_str(b, n->str);
		break;
	case IMAP_NODE_NUMBER:
		sb_printf(b, "#%llu", (unsigned long long)n->num);
		break;
	case IMAP_NODE_STRING:
		sb_str(b, "\"");
		sb_escaped(b, n->str, n->len);
		sb_str(b, "\"");
		break;
	case IMAP_NODE_LITERAL:
		sb_printf(b, "%s{%zu}", (n->flags & IMAP_NODE_LITERAL8) ? "~" :
		    "", n->len);
		if (n->flags & IMAP_NODE_STREAMED)
			sb_str(b, "S");
		else if (n->str != NULL) {
			sb_str(b, "\"");
			sb_escaped(b, n->str, n->len);
			sb_str(b, "\"");
		}
		break;
	case IMAP_NODE_NIL:
		sb_str(b, "NIL");
		break;
	case IMAP_NODE_LIST:
		sb_str(b, "(");
		for (c = n->child; c != NULL; c = c->next) {
			dump_node(b, c);
			if (c->next != NULL)
				sb_str(b, " ");
		}
		sb_str(b, ")");
		break;
	}
}

/* A response in one line: who, [number,] keyword, [code], "text", args. */
static void
dump_response(struct sbuf *b, const struct imap_response *r)
{
	if (r->type == IMAP_RESP_TAGGED)
		sb_str(b, r->tag);
	else
		sb_str(b, r->type == IMAP_RESP_UNTAGGED ? "*" : "+");
	if (r->has_number)
		sb_printf(b, " %u", r->number);
	if (r->name != NULL)
		sb_printf(b, " %s", r->name);
	if (r->code_name != NULL) {
		sb_printf(b, " [%s", r->code_name);
		if (r->code_args != NULL) {
			sb_str(b, " ");
			dump_node(b, r->code_args);
		} else if (*r->code_text != '\0')
			sb_printf(b, " raw:%s", r->code_text);
		sb_str(b, "]");
	}
	if (r->status != IMAP_STATUS_NONE ||
	    r->type == IMAP_RESP_CONTINUATION) {
		sb_str(b, " \"");
		sb_escaped(b, r->text, strlen(r->text));
		sb_str(b, "\"");
	}
	if (r->args != NULL) {
		sb_str(b, " ");
		dump_node(b, r->args);
	}
}

enum policy {
	BUFFER_ALL,
	STREAM_BODY,		/* BODY[...] and BINARY[...] literals */
	STREAM_ALL,
};

/* Feeds in by pieces of step bytes (0: all at once) and returns the
 * transcript: one line per response ("R ..."), literal ("L size key"),
 * run of chunks ("C bytes", merged across events) and error ("E ..."). */
static char *
run(const char *in, size_t len, size_t step, enum policy pol,
    const struct imap_parse_limits *lim)
{
	struct imap_parser	*p;
	const struct imap_node	*lit, *key;
	struct sbuf		 b = { NULL, 0, 0 }, chunks = { NULL, 0, 0 };
	const char		*chunk;
	char			*cause, *piece;
	size_t			 off = 0, end, used, clen, poff;
	int			 r, last;

	p = imap_parse_new(lim);
	sb_str(&b, "");
	while (off < len) {
		end = step == 0 || len - off < step ? len : off + step;
		/* A fresh copy of each piece, so that chunks must point into
		 * the buffer given, not some earlier one. */
		piece = xmalloc(end - off + 1);
		memcpy(piece, in + off, end - off);
		for (poff = 0;;) {
			r = imap_parse_feed(p, piece + poff, end - off - poff,
			    &used, &cause);
			poff += used;
			if (r != IMAP_PARSE_CHUNK && r != IMAP_PARSE_MORE &&
			    chunks.len > 0) {
				sb_str(&b, "C ");
				sb_escaped(&b, chunks.s, chunks.len);
				sb_str(&b, "\n");
				chunks.len = 0;
			}
			if (r == IMAP_PARSE_MORE) {
				assert_int_equal(poff, end - off);
				break;
			}
			if (r == IMAP_PARSE_ERROR) {
				sb_printf(&b, "E %s\n", cause);
				free(cause);
				free(piece);
				goto out;
			}
			if (r == IMAP_PARSE_RESPONSE) {
				sb_str(&b, "R ");
				dump_response(&b, imap_parse_response(p));
				sb_str(&b, "\n");
			} else if (r == IMAP_PARSE_SEARCH) {
				sb_str(&b, "S ");
				dump_response(&b, imap_parse_response(p));
				sb_str(&b, "\n");
			} else if (r == IMAP_PARSE_LITERAL) {
				lit = imap_parse_literal(p, &key);
				assert_non_null(lit);
				sb_printf(&b, "L %zu %s\n", lit->len,
				    key != NULL ? key->str : "-");
				if (pol == STREAM_ALL || (pol == STREAM_BODY &&
				    key != NULL &&
				    (strncmp(key->str, "BODY[", 5) == 0 ||
				    strncmp(key->str, "BINARY[", 7) == 0)))
					imap_parse_literal_stream(p);
			} else if (r == IMAP_PARSE_CHUNK) {
				chunk = imap_parse_chunk(p, &clen, &last);
				assert_true(clen > 0);
				assert_ptr_equal(chunk, piece + poff - clen);
				sb_add(&chunks, chunk, clen);
			}
		}
		free(piece);
		off = end;
	}
	if (chunks.len > 0) {
		sb_str(&b, "C ");
		sb_escaped(&b, chunks.s, chunks.len);
		sb_str(&b, "\n");
	}
	if (!imap_parse_idle(p))
		sb_str(&b, "INCOMPLETE\n");
out:
	imap_parse_free(p);
	free(chunks.s);
	return (b.s);
}

/* The transcript must be the same for every split of the input. */
static char *
run_all_splits(const char *in, size_t len, enum policy pol,
    const struct imap_parse_limits *lim)
{
	static const size_t	 steps[] = { 1, 2, 3, 7, 64 };
	char			*whole, *split;
	size_t			 i;

	whole = run(in, len, 0, pol, lim);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		split = run(in, len, steps[i], pol, lim);
		if (strcmp(whole, split) != 0)
			fail_msg("split %zu differs on \"%s\":\nwhole:\n%s"
			    "split:\n%s", steps[i], in, whole, split);
		free(split);
	}
	return (whole);
}

/* ---- syntax and response types ------------------------------------------ */

/* A string literal and its length (inputs may hold NULs). */
#define IN(s)	(s), sizeof(s) - 1

static const struct {
	const char	*in;
	size_t		 len;
	enum policy	 pol;
	const char	*out;
} cases[] = {
	/* Status responses, codes, text. */
	{ IN("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
	  "LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n"), BUFFER_ALL,
	  "R * OK [CAPABILITY (IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
	  "LITERAL+ STARTTLS AUTH=PLAIN)] \"Dovecot (Debian) ready.\"\n" },
	{ IN("a1 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"), BUFFER_ALL,
	  "R a1 OK [READ-WRITE] \"Select completed (0.001 + 0.000 secs).\"\n" },
	{ IN("a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"), BUFFER_ALL,
	  "R a2 NO [AUTHENTICATIONFAILED] \"Authentication failed.\"\n" },
	{ IN("a3 BAD Error in IMAP command: Unknown command.\r\n"), BUFFER_ALL,
	  "R a3 BAD \"Error in IMAP command: Unknown command.\"\n" },
	{ IN("* PREAUTH IMAP4rev1 server logged in as Smith\r\n"), BUFFER_ALL,
	  "R * PREAUTH \"IMAP4rev1 server logged in as Smith\"\n" },
	{ IN("* BYE [UNAVAILABLE] Server shutting down\r\n"), BUFFER_ALL,
	  "R * BYE [UNAVAILABLE] \"Server shutting down\"\n" },
	{ IN("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"), BUFFER_ALL,
	  "R * OK [UIDVALIDITY (#3857529045)] \"UIDs valid\"\n" },
	{ IN("* OK [UIDNEXT 4392] Predicted next UID\r\n"), BUFFER_ALL,
	  "R * OK [UIDNEXT (#4392)] \"Predicted next UID\"\n" },
	{ IN("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"), BUFFER_ALL,
	  "R * OK [PERMANENTFLAGS ((\\Deleted \\Seen \\*))] \"Limited\"\n" },
	{ IN("* OK [HIGHESTMODSEQ 9223372036854775807] Highest\r\n"), BUFFER_ALL,
	  "R * OK [HIGHESTMODSEQ (#9223372036854775807)] \"Highest\"\n" },
	{ IN("a4 OK [APPENDUID 38505 3955] APPEND completed\r\n"), BUFFER_ALL,
	  "R a4 OK [APPENDUID (#38505 #3955)] \"APPEND completed\"\n" },
	{ IN("a5 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"), BUFFER_ALL,
	  "R a5 OK [COPYUID (#38505 304,319:320 3956:3958)] \"Done\"\n" },
	{ IN("* OK [CLOSED] Previous mailbox closed.\r\n"), BUFFER_ALL,
	  "R * OK [CLOSED] \"Previous mailbox closed.\"\n" },
	{ IN("a6 NO [LIMIT] Too many connections\r\n"), BUFFER_ALL,
	  "R a6 NO [LIMIT] \"Too many connections\"\n" },
	{ IN("a7 NO [TRYCREATE] No such mailbox\r\n"), BUFFER_ALL,
	  "R a7 NO [TRYCREATE] \"No such mailbox\"\n" },
	{ IN("a8 OK [READ-ONLY] Examined\r\n"), BUFFER_ALL,
	  "R a8 OK [READ-ONLY] \"Examined\"\n" },
	{ IN("* OK [ALERT] System going down in 5 minutes\r\n"), BUFFER_ALL,
	  "R * OK [ALERT] \"System going down in 5 minutes\"\n" },
	{ IN("* NO [WEBALERT https://x.example/?a=b] Web login required\r\n"), BUFFER_ALL,
	  "R * NO [WEBALERT raw:https://x.example/?a=b] \"Web login required\"\n" },
	{ IN("* OK [BADCHARSET (UTF-8 \"US-ASCII\")] x\r\n"), BUFFER_ALL,
	  "R * OK [BADCHARSET ((UTF-8 \"US-ASCII\"))] \"x\"\n" },
	{ IN("a9 OK\r\n"), BUFFER_ALL, "R a9 OK \"\"\n" },
	{ IN("a9 OK \r\n"), BUFFER_ALL, "R a9 OK \"\"\n" },
	{ IN("a9 ok [read-write]\r\n"), BUFFER_ALL, "R a9 ok [read-write] \"\"\n" },
	/* Garbage in a status's text is just text. */
	{ IN("a10 OK done ( { \" ] [ {5}\r\n"), BUFFER_ALL,
	  "R a10 OK \"done ( { \\\" ] [ {5}\"\n" },
	{ IN("a11 OK [ALERT]text\r\n"), BUFFER_ALL, "R a11 OK [ALERT] \"text\"\n" },
	{ IN("a12 OK \x80\xff 8-bit\ttab\r\n"), BUFFER_ALL,
	  "R a12 OK \"\\x80\\xff 8-bit\\x09tab\"\n" },
	/* Continuations. */
	{ IN("+ idling\r\n"), BUFFER_ALL, "R + \"idling\"\n" },
	{ IN("+\r\n"), BUFFER_ALL, "R + \"\"\n" },
	{ IN("+ \r\n"), BUFFER_ALL, "R + \"\"\n" },
	{ IN("+ [ALERT] raw {3}\r\n"), BUFFER_ALL, "R + \"[ALERT] raw {3}\"\n" },
	{ IN("+ dGVzdA==\r\n"), BUFFER_ALL, "R + \"dGVzdA==\"\n" },
	/* Number-first data. */
	{ IN("* 23 EXISTS\r\n"), BUFFER_ALL, "R * 23 EXISTS\n" },
	{ IN("* 5 EXPUNGE\r\n"), BUFFER_ALL, "R * 5 EXPUNGE\n" },
	{ IN("* 1 RECENT\r\n"), BUFFER_ALL, "R * 1 RECENT\n" },
	{ IN("* 0 EXISTS\r\n"), BUFFER_ALL, "R * 0 EXISTS\n" },
	{ IN("* 4294967295 EXISTS\r\n"), BUFFER_ALL, "R * 4294967295 EXISTS\n" },
	{ IN("* 7 XUNKNOWN a (b)\r\n"), BUFFER_ALL, "R * 7 XUNKNOWN (a (b))\n" },
	/* Other data. */
	{ IN("* CAPABILITY IMAP4rev1 IMAP4rev2 UIDPLUS CONDSTORE\r\n"), BUFFER_ALL,
	  "R * CAPABILITY (IMAP4rev1 IMAP4rev2 UIDPLUS CONDSTORE)\n" },
	{ IN("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n"), BUFFER_ALL,
	  "R * FLAGS ((\\Answered \\Flagged \\Deleted \\Seen \\Draft "
	  "$Forwarded))\n" },
	{ IN("* FLAGS ()\r\n"), BUFFER_ALL, "R * FLAGS (())\n" },
	{ IN("* LIST (\\HasNoChildren) \".\" INBOX\r\n"), BUFFER_ALL,
	  "R * LIST ((\\HasNoChildren) \".\" INBOX)\n" },
	{ IN("* LIST (\\Noselect \\HasChildren) NIL \"\"\r\n"), BUFFER_ALL,
	  "R * LIST ((\\Noselect \\HasChildren) NIL \"\")\n" },
	{ IN("* LIST () \"/\" \"Entw&APw-rfe\"\r\n"), BUFFER_ALL,
	  "R * LIST (() \"/\" \"Entw&APw-rfe\")\n" },
	{ IN("* LIST () \"\\\\\" {5}\r\nab)cd\r\n"), BUFFER_ALL,
	  "L 5 -\nR * LIST (() \"\\\\\" {5}\"ab)cd\")\n" },
	{ IN("* LSUB () \"/\" 2024\r\n"), BUFFER_ALL,
	  "R * LSUB (() \"/\" #2024)\n" },
	{ IN("* LIST (\\Subscribed) \"/\" foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"), BUFFER_ALL,
	  "R * LIST ((\\Subscribed) \"/\" foo (\"CHILDINFO\" "
	  "(\"SUBSCRIBED\")))\n" },
	{ IN("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 1 "
	  "UNSEEN 0 HIGHESTMODSEQ 7011231777)\r\n"), BUFFER_ALL,
	  "R * STATUS (blurdybloop (MESSAGES #231 UIDNEXT #44292 UIDVALIDITY #1 "
	  "UNSEEN #0 HIGHESTMODSEQ #7011231777))\n" },
	{ IN("* SEARCH 2 84 882\r\n"), BUFFER_ALL, "R * SEARCH (#2 #84 #882)\n" },
	{ IN("* SEARCH\r\n"), BUFFER_ALL, "R * SEARCH\n" },
	{ IN("* SEARCH 2 5 (MODSEQ 917162500)\r\n"), BUFFER_ALL,
	  "R * SEARCH (#2 #5 (MODSEQ #917162500))\n" },
	{ IN("* ESEARCH (TAG \"a567\") UID MIN 7 MAX 3800 ALL 4:18,21,28\r\n"), BUFFER_ALL,
	  "R * ESEARCH ((TAG \"a567\") UID MIN #7 MAX #3800 ALL 4:18,21,28)\n" },
	{ IN("* ENABLED CONDSTORE QRESYNC\r\n"), BUFFER_ALL,
	  "R * ENABLED (CONDSTORE QRESYNC)\n" },
	{ IN("* ENABLED\r\n"), BUFFER_ALL, "R * ENABLED\n" },
	{ IN("* ID (\"name\" \"Dovecot\" \"version\" NIL)\r\n"), BUFFER_ALL,
	  "R * ID ((\"name\" \"Dovecot\" \"version\" NIL))\n" },
	{ IN("* ID NIL\r\n"), BUFFER_ALL, "R * ID (NIL)\n" },
	{ IN("* VANISHED (EARLIER) 300:310,405,411\r\n"), BUFFER_ALL,
	  "R * VANISHED ((EARLIER) 300:310,405,411)\n" },
	{ IN("* VANISHED 405\r\n"), BUFFER_ALL, "R * VANISHED (#405)\n" },
	{ IN("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"), BUFFER_ALL,
	  "R * NAMESPACE (((\"\" \"/\")) NIL NIL)\n" },
	/* Syntax elements inside FETCH. */
	{ IN("* 12 FETCH (FLAGS (\\Seen \\Recent $Junk) UID 9 MODSEQ "
	  "(12345678901234))\r\n"), BUFFER_ALL,
	  "R * 12 FETCH ((FLAGS (\\Seen \\Recent $Junk) UID #9 MODSEQ "
	  "(#12345678901234)))\n" },
	{ IN("* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)]<0> {7}\r\nFrom: a)\r\n"), BUFFER_ALL,
	  "L 7 BODY[HEADER.FIELDS (FROM TO)]<0>\n"
	  "R * 1 FETCH ((BODY[HEADER.FIELDS (FROM TO)]<0> {7}\"From: a\"))\n" },
	{ IN("* 1 FETCH (ENVELOPE (\"date\" \"sub \\\"q\\\" \\\\ x\" ((NIL NIL "
	  "\"a\" \"b.c\")) NIL NIL NIL NIL NIL NIL \"<id@x>\"))\r\n"), BUFFER_ALL,
	  "R * 1 FETCH ((ENVELOPE (\"date\" \"sub \\\"q\\\" \\\\ x\" ((NIL NIL "
	  "\"a\" \"b.c\")) NIL NIL NIL NIL NIL NIL \"<id@x>\")))\n" },
	/* Multipart BODYSTRUCTURE: ")(" without a space is legal. */
	{ IN("* 2 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 3 1)"
	  "(\"text\" \"html\" NIL NIL NIL \"7bit\" 5 1) \"alternative\"))\r\n"), BUFFER_ALL,
	  "R * 2 FETCH ((BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" "
	  "#3 #1) (\"text\" \"html\" NIL NIL NIL \"7bit\" #5 #1) "
	  "\"alternative\")))\n" },
	{ IN("* 3 FETCH (UID 7 BODY[] {0}\r\n)\r\n"), BUFFER_ALL,
	  "L 0 BODY[]\nR * 3 FETCH ((UID #7 BODY[] {0}\"\"))\n" },
	{ IN("* 3 FETCH (UID 7 BODY[] {0}\r\n)\r\n"), STREAM_BODY,
	  "L 0 BODY[]\nR * 3 FETCH ((UID #7 BODY[] {0}S))\n" },
	/* A realistic body, streamed, with NUL, 8-bit and a bare CR. */
	{ IN("* 1 FETCH (UID 7 FLAGS (\\Seen) RFC822.SIZE 13 BODY[] {13}\r\n"
	  "a\r\nb\0c\x80\xff\rd\n\r\n)\r\n"), STREAM_BODY,
	  "L 13 BODY[]\nC a\\x0d\\x0ab\\x00c\\x80\\xff\\x0dd\\x0a\\x0d\\x0a\n"
	  "R * 1 FETCH ((UID #7 FLAGS (\\Seen) RFC822.SIZE #13 BODY[] {13}S))\n" },
	/* BODY[] before UID. */
	{ IN("* 2 FETCH (BODY[] {3}\r\nxyz UID 8)\r\n"), STREAM_BODY,
	  "L 3 BODY[]\nC xyz\nR * 2 FETCH ((BODY[] {3}S UID #8))\n" },
	/* literal8. */
	{ IN("* 4 FETCH (BINARY[] ~{4}\r\n\0\1\2\3 UID 9)\r\n"), BUFFER_ALL,
	  "L 4 BINARY[]\n"
	  "R * 4 FETCH ((BINARY[] ~{4}\"\\x00\\x01\\x02\\x03\" UID #9))\n" },
	{ IN("* 4 FETCH (BINARY[] ~{4}\r\nabcd UID 9)\r\n"), STREAM_BODY,
	  "L 4 BINARY[]\nC abcd\nR * 4 FETCH ((BINARY[] ~{4}S UID #9))\n" },
	/* Two literals, one buffered one streamed, in one response. */
	{ IN("* 5 FETCH (BODY[HEADER] {2}\r\nhh BODY[TEXT] {3}\r\nttt)\r\n"), STREAM_ALL,
	  "L 2 BODY[HEADER]\nC hh\nL 3 BODY[TEXT]\nC ttt\n"
	  "R * 5 FETCH ((BODY[HEADER] {2}S BODY[TEXT] {3}S))\n" },
	/* Atoms: '~' not before '{', NIL in any case, nested lists. */
	{ IN("* XDATA ~foo nil Nil ((a) ((b)) ()) \"\"\r\n"), BUFFER_ALL,
	  "R * XDATA (~foo NIL NIL ((a) ((b)) ()) \"\")\n" },
	/* Extra spaces are tolerated between items. */
	{ IN("* SEARCH 1  2 \r\n"), BUFFER_ALL, "R * SEARCH (#1 #2)\n" },
	/* A bare LF ends a line too. */
	{ IN("* 3 EXISTS\na1 OK done\n"), BUFFER_ALL,
	  "R * 3 EXISTS\nR a1 OK \"done\"\n" },
	/* Several responses in one buffer. */
	{ IN("* 1 EXISTS\r\n* 0 RECENT\r\na OK x\r\n"), BUFFER_ALL,
	  "R * 1 EXISTS\nR * 0 RECENT\nR a OK \"x\"\n" },
	/* Incomplete at the end. */
	{ IN("* 1 FETCH (UID 4"), BUFFER_ALL, "INCOMPLETE\n" },
	{ IN("* 1 FETCH (BODY[] {10}\r\nabc"), STREAM_BODY,
	  "L 10 BODY[]\nC abc\nINCOMPLETE\n" },
};

static void
test_table(void **state)
{
	char	*out;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		out = run_all_splits(cases[i].in, cases[i].len, cases[i].pol,
		    NULL);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: \"%s\"\nwant: %sgot:  %s", i,
			    cases[i].in, cases[i].out, out);
		free(out);
	}
}

/* ---- malformed input ---------------------------------------------------- */

static const struct {
	const char	*in;
	size_t		 len;
	const char	*err;		/* must appear in the error */
} bad[] = {
	{ IN("* LIST () \"/\" \"foo\r\n"), "unterminated quoted string" },
	{ IN("* LIST () \"/\" \"fo\\o\"\r\n"), "bad escape \\'o'" },
	{ IN("* LIST () \"/\" \"fo\\\r\n"), "unterminated quoted string" },
	{ IN("* 1 FETCH (BODY[] {abc}\r\n"), "bad literal size" },
	{ IN("* 1 FETCH (BODY[] {}\r\n"), "bad literal size" },
	{ IN("* 1 FETCH (BODY[] {12a}\r\n"), "bad literal size" },
	{ IN("* 1 FETCH (BODY[] {3+}\r\nabc)\r\n"), "non-synchronizing literal" },
	{ IN("* 1 FETCH (BODY[] {3} \r\nabc)\r\n"),
	  "expected end of line after literal size" },
	{ IN("* 1 FETCH (BODY[] {99999999999999999999}\r\n"),
	  "literal size too large" },
	{ IN("* 1 FETCH (BODY[] {268435457}\r\n"),
	  "literal of 268435457 bytes exceeds the limit of 268435456" },
	{ IN("* 1 FETCH (UID 99999999999999999999)\r\n"), "number too large" },
	{ IN("* 4294967296 EXISTS\r\n"), "number too large" },
	{ IN("* OK [UIDVALIDITY 4294967296] x\r\n"),
	  "malformed [UIDVALIDITY] response code" },
	{ IN("* OK [UIDVALIDITY abc] x\r\n"),
	  "malformed [UIDVALIDITY] response code" },
	{ IN("* OK [UIDNEXT] x\r\n"), "malformed [UIDNEXT] response code" },
	{ IN("* OK [UIDVALIDITY 99999999999999999999] x\r\n"),
	  "malformed [UIDVALIDITY] response code" },
	{ IN("* OK [PERMANENTFLAGS \\Seen] x\r\n"),
	  "malformed [PERMANENTFLAGS] response code" },
	{ IN("* OK [COPYUID 1 2] x\r\n"), "malformed [COPYUID] response code" },
	{ IN("* OK [CAPABILITY IMAP4rev1 \"x\"] x\r\n"),
	  "malformed [CAPABILITY] response code" },
	{ IN("* OK [ALERT x\r\n"), "unterminated response code" },
	{ IN("* OK [CAPABILITY IMAP4rev1\r\n"), "unterminated response code" },
	{ IN("* OK [PERMANENTFLAGS (\\Seen] x\r\n"), "unexpected ']' inside" },
	{ IN("* OK [] x\r\n"), "empty response code" },
	{ IN("* OK [ALERT(x)] x\r\n"), "unexpected '(' in response code" },
	/* Garbage inside a list is an error. */
	{ IN("* 1 FETCH (UID 4 \"a\"b)\r\n"), "expected a space, got 'b'" },
	{ IN("* 1 FETCH (UID 4 (a)b)\r\n"), "expected a space, got 'b'" },
	{ IN("* 1 FETCH (UID 4 ))\r\n"), "unexpected ')'" },
	{ IN("* 1 FETCH (UID 4\r\n"), "end of line inside a list" },
	{ IN("* 1 FETCH (UID 4 \x01)\r\n"), "unexpected \\001" },
	{ IN("* 1 FETCH (UID 4 \x80)\r\n"), "unexpected \\200" },
	{ IN("* 1 FETCH (BODY[HEADER\r\n"), "unterminated section" },
	{ IN("* 1 FETCH (BODY[HE{1}] x)\r\n"), "unexpected '{' in section" },
	{ IN("* SEARCH 1 (2)x\r\n"), "expected a space, got 'x'" },
	/* Lines. */
	{ IN("* 1 EXISTS\rX\r\n"), "CR not followed by LF" },
	{ IN("* LIST () \"/\" \"a\0b\"\r\n"), "NUL byte outside a literal" },
	{ IN("a1 OK text\0more\r\n"), "NUL byte outside a literal" },
	{ IN("\r\n"), "empty line" },
	{ IN(" * OK\r\n"), "expected a tag, '*' or '+', got ' '" },
	{ IN("*OK\r\n"), "expected a space after '*'" },
	{ IN("* \r\n"), "expected a keyword" },
	{ IN("a1\r\n"), "unexpected \\012 in tag" },
	{ IN("a1 FETCH (UID 1)\r\n"), "tagged response must be OK, NO or BAD" },
	{ IN("a1 BYE x\r\n"), "tagged response must be OK, NO or BAD" },
	{ IN("a1 5 EXISTS\r\n"), "tagged response must be OK, NO or BAD" },
	{ IN("* 5\r\n"), "expected a keyword after the number" },
	{ IN("* 5 OK x\r\n"), "unexpected number before OK" },
	{ IN("* OK[ALERT] x\r\n"), "expected a space after the keyword" },
	/* Shapes of known data. */
	{ IN("* EXISTS\r\n"), "EXISTS without a number" },
	{ IN("* 3 LIST () \"/\" x\r\n"), "unexpected number before LIST" },
	{ IN("* 3 EXISTS 4\r\n"), "malformed EXISTS response" },
	{ IN("* 3 FETCH UID 4\r\n"), "malformed FETCH response" },
	{ IN("* 3 FETCH (UID)\r\n"), "malformed FETCH response" },
	{ IN("* 3 FETCH (\"UID\" 4)\r\n"), "malformed FETCH response" },
	{ IN("* LIST () \"/\"\r\n"), "malformed LIST response" },
	{ IN("* LIST () \"//\" x\r\n"), "malformed LIST response" },
	{ IN("* LIST (\"a\") \"/\" x\r\n"), "malformed LIST response" },
	{ IN("* LIST () \"/\" {3}\r\na\0b\r\n"), "malformed LIST response" },
	{ IN("* STATUS x (MESSAGES)\r\n"), "malformed STATUS response" },
	{ IN("* STATUS x (MESSAGES a)\r\n"), "malformed STATUS response" },
	{ IN("* FLAGS \\Seen\r\n"), "malformed FLAGS response" },
	{ IN("* CAPABILITY IMAP4rev1 (x)\r\n"), "malformed CAPABILITY response" },
	{ IN("* SEARCH 1 x\r\n"), "malformed SEARCH response" },
	{ IN("* SEARCH 1 4294967296\r\n"), "malformed SEARCH response" },
};

static void
test_errors(void **state)
{
	char	*out;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		out = run_all_splits(bad[i].in, bad[i].len, BUFFER_ALL, NULL);
		if (strstr(out, "E ") == NULL || strstr(out, bad[i].err) == NULL)
			fail_msg("bad %zu: \"%s\"\nwant error: %s\ngot: %s", i,
			    bad[i].in, bad[i].err, out);
		free(out);
	}
}

/* The error says where, and shows the recent input sanitised. */
static void
test_error_message(void **state)
{
	char	*out;

	(void)state;
	out = run(IN("* 1 FETCH (UID 4 \"a\\q\")\r\n"), 0, BUFFER_ALL, NULL);
	assert_string_equal(out, "E bad escape \\'q' in quoted string at byte "
	    "21 of the response (after \"* 1 FETCH (UID 4 \\\"a\\\\q\")\n");
	free(out);
	/* Control bytes are escaped, and only the last 32 bytes shown. */
	out = run(IN("a1 OK 0123456789012345678901234567890123456789\r\r\n"), 0,
	    BUFFER_ALL, NULL);
	assert_string_equal(out, "E CR not followed by LF at byte 48 of the "
	    "response (after \"012345678901234567890123456789\\015\\015\")\n");
	free(out);
}

/* After an error the parser keeps failing. */
static void
test_error_sticky(void **state)
{
	struct imap_parser	*p;
	char			*cause;
	size_t			 used;

	(void)state;
	p = imap_parse_new(NULL);
	assert_int_equal(imap_parse_feed(p, "* 1 FETCH ((\r\n", 14, &used,
	    &cause), IMAP_PARSE_ERROR);
	assert_int_equal(used, 14);
	free(cause);
	assert_int_equal(imap_parse_feed(p, "* 1 EXISTS\r\n", 12, &used,
	    &cause), IMAP_PARSE_ERROR);
	assert_int_equal(used, 0);
	assert_non_null(strstr(cause, "end of line inside a list"));
	free(cause);
	imap_parse_free(p);
	imap_parse_free(NULL);
}

/* An untagged NAMESPACE that cannot be read (too long, malformed, a
 * literal too large) is passed over to its line end, literals included,
 * and returned with skipped set; the next response parses as ever, for
 * any split of the input (review r11 09). */
static void
test_namespace_skipped(void **state)
{
	static const char *const in[] = {
		"* NAMESPACE ((\"0123456789012345678901234567890123456789\" "
		    "\"/\")) NIL NIL\r\nA1 OK done\r\n",
		"* NAMESPACE ((\"\" \"/\") (((\"x\r\nA1 OK done\r\n",
		"* NAMESPACE ((\"\" \"/\")) ({5}\r\na\nb\n} \"/\") NIL ((\r\n"
		    "A1 OK done\r\n",
		"* NAMESPACE (({40}\r\n0123456789012345678901234567890\n"
		    "23456789 \"/\")) NIL NIL\r\nA1 OK done\r\n",
	};
	struct imap_parse_limits	 lim = { .max_line = 48,
					    .max_buffered = 32 };
	struct imap_parser		*p;
	size_t				 i, j, off, used;
	char				*cause = NULL;
	int				 ev, got;

	(void)state;
	for (i = 0; i < sizeof in / sizeof in[0]; i++) {
		for (j = 1; j <= strlen(in[i]); j += strlen(in[i]) - 1) {
			p = imap_parse_new(&lim);
			for (off = 0, got = 0; off < strlen(in[i]); off += used) {
				ev = imap_parse_feed(p, in[i] + off,
				    j < strlen(in[i]) - off ? j :
				    strlen(in[i]) - off, &used, &cause);
				assert_int_not_equal(ev, IMAP_PARSE_ERROR);
				if (ev == IMAP_PARSE_LITERAL)
					continue;
				if (ev != IMAP_PARSE_RESPONSE)
					continue;
				if (got++ == 0) {
					assert_non_null(imap_parse_response(p)
					    ->skipped);
					assert_int_equal(imap_parse_response(p)
					    ->data, IMAP_DATA_NAMESPACE);
				} else
					assert_string_equal(
					    imap_parse_response(p)->tag, "A1");
			}
			assert_int_equal(got, 2);
			imap_parse_free(p);
		}
	}
}

/* ---- limits -------------------------------------------------------------- */

/* Feeds everything at once; returns the transcript. */
static char *
run_lim(const char *in, size_t len, enum policy pol, size_t max_line,
    size_t max_response, size_t max_buffered, uint64_t max_literal,
    size_t max_nodes, size_t max_depth)
{
	struct imap_parse_limits lim;

	memset(&lim, 0, sizeof lim);
	lim.max_line = max_line;
	lim.max_response = max_response;
	lim.max_buffered = max_buffered;
	lim.max_literal = max_literal;
	lim.max_nodes = max_nodes;
	lim.max_depth = max_depth;
	return (run_all_splits(in, len, pol, &lim));
}

static void
test_limits(void **state)
{
	char	*out, *big;
	size_t	 i;

	(void)state;
	/* Line length. */
	out = run_lim(IN("a1 OK 123456789\r\n"), BUFFER_ALL, 16, 0, 0, 0, 0, 0);
	assert_string_equal(out, "R a1 OK \"123456789\"\n");
	free(out);
	out = run_lim(IN("a1 OK 1234567890\r\n"), BUFFER_ALL, 16, 0, 0, 0, 0, 0);
	assert_non_null(strstr(out, "E line too long (more than 16 bytes) at "
	    "byte 17 "));
	free(out);
	/* Literal bytes do not count towards the line. */
	out = run_lim(IN("* 1 FETCH (BODY[] {20}\r\n01234567890123456789)\r\n"),
	    BUFFER_ALL, 24, 0, 0, 0, 0, 0);
	assert_string_equal(out, "L 20 BODY[]\nR * 1 FETCH ((BODY[] {20}"
	    "\"01234567890123456789\"))\n");
	free(out);
	/* Default line cap: 64 KiB, with no more buffered than that. */
	big = xmalloc(70000);
	memcpy(big, "a1 OK ", 6);
	memset(big + 6, 'x', 70000 - 6);
	out = run(big, 70000, 0, BUFFER_ALL, NULL);
	assert_non_null(strstr(out, "E line too long (more than 65536 bytes) "
	    "at byte 65537 "));
	free(out);
	free(big);

	/* Literal above max_literal: refused at the header, even streamed. */
	out = run_lim(IN("* 1 FETCH (BODY[] {101}\r\n"), STREAM_ALL, 0, 0, 0,
	    100, 0, 0);
	assert_non_null(strstr(out, "E literal of 101 bytes exceeds the "
	    "limit of 100 at byte 23 "));
	free(out);
	out = run_lim(IN("* 1 FETCH (BODY[] {100}\r\n"), STREAM_ALL, 0, 0, 0,
	    100, 0, 0);
	assert_string_equal(out, "L 100 BODY[]\nINCOMPLETE\n");
	free(out);

	/* Buffering cap: a literal must be streamed above it. */
	out = run_lim(IN("* LIST () \"/\" {9}\r\n123456789\r\n"), BUFFER_ALL,
	    0, 0, 8, 0, 0, 0);
	assert_non_null(strstr(out, "L 9 -\nE literal of 9 bytes is too large "
	    "to buffer (limit 8)"));
	free(out);
	out = run_lim(IN("* 1 FETCH (BODY[] {9}\r\n123456789)\r\n"), STREAM_ALL,
	    0, 0, 8, 0, 0, 0);
	assert_string_equal(out, "L 9 BODY[]\nC 123456789\n"
	    "R * 1 FETCH ((BODY[] {9}S))\n");
	free(out);

	/* Depth: 3 levels allowed, not 4. */
	out = run_lim(IN("* X (((a)))\r\n"), BUFFER_ALL, 0, 0, 0, 0, 0, 3);
	assert_string_equal(out, "R * X ((((a))))\n");
	free(out);
	out = run_lim(IN("* X ((((a))))\r\n"), BUFFER_ALL, 0, 0, 0, 0, 0, 3);
	assert_non_null(strstr(out, "E lists nested too deeply (more than 3 "
	    "levels) at byte 8 "));
	free(out);
	/* Default depth 32. */
	big = xmalloc(100);
	memcpy(big, "* X ", 4);
	memset(big + 4, '(', 33);
	out = run(big, 37, 0, BUFFER_ALL, NULL);
	assert_non_null(strstr(out, "E lists nested too deeply (more than 32 "
	    "levels)"));
	free(out);
	free(big);

	/* Nodes: the root list plus 3 items. */
	out = run_lim(IN("* X a b c\r\n"), BUFFER_ALL, 0, 0, 0, 0, 4, 0);
	assert_string_equal(out, "R * X (a b c)\n");
	free(out);
	out = run_lim(IN("* X a b c d\r\n"), BUFFER_ALL, 0, 0, 0, 0, 4, 0);
	assert_non_null(strstr(out, "E too many items in one response (more "
	    "than 4)"));
	free(out);

	/* Response size: strings and buffered literals together. */
	out = run_lim(IN("* X {10}\r\n0123456789 {10}\r\n0123456789 {10}\r\n"
	    "0123456789\r\n"), BUFFER_ALL, 0, 30, 0, 0, 0, 0);
	assert_non_null(strstr(out, "E response too large (more than 30 "
	    "bytes)"));
	free(out);

	/* Many lines of empty literals cannot grow memory without bound:
	 * the node cap stops them. */
	big = xmalloc(6 * 20000 + 16);
	memcpy(big, "* X", 3);
	for (i = 0; i < 20000; i++)
		memcpy(big + 3 + 6 * i, " {0}\r\n", 6);
	out = run(big, 3 + 6 * 20000, 0, STREAM_ALL, NULL);
	assert_non_null(strstr(out, "E too many items in one response (more "
	    "than 16384)"));
	free(out);
	free(big);
}

/* A streamed literal costs no memory: 20 MB through a parser that may keep
 * only 4 KiB per response, in 64 KiB reads, byte-exact. */
static void
test_stream_big(void **state)
{
	struct imap_parse_limits lim;
	struct imap_parser	*p;
	const struct imap_response *r;
	const struct imap_node	*lit, *key;
	const unsigned char	*c;
	char			*buf, *cause, head[128];
	size_t			 size = 20 * 1024 * 1024, total, len, off, used;
	size_t			 n, clen, i, chunks = 0;
	int			 ev, last = 0, lastseen = 0;

	(void)state;
	memset(&lim, 0, sizeof lim);
	lim.max_response = 4096;
	p = imap_parse_new(&lim);
	n = snprintf(head, sizeof head, "* 9 FETCH (BODY[] {%zu}\r\n", size);
	total = n + size + strlen(" UID 42)\r\n");
	buf = xmalloc(total);
	memcpy(buf, head, n);
	for (i = 0; i < size; i++)
		buf[n + i] = (char)(i * 7 + (i >> 13));
	memcpy(buf + n + size, " UID 42)\r\n", strlen(" UID 42)\r\n"));

	total = n + size + strlen(" UID 42)\r\n");
	off = i = 0;
	for (;;) {
		len = total - off < 65536 ? total - off : 65536;
		ev = imap_parse_feed(p, buf + off, len, &used, &cause);
		off += used;
		if (ev == IMAP_PARSE_LITERAL) {
			lit = imap_parse_literal(p, &key);
			assert_int_equal(lit->len, size);
			assert_string_equal(key->str, "BODY[]");
			imap_parse_literal_stream(p);
		} else if (ev == IMAP_PARSE_CHUNK) {
			c = imap_parse_chunk(p, &clen, &last);
			assert_false(lastseen);
			for (n = 0; n < clen; n++, i++)
				assert_true(c[n] ==
				    (unsigned char)(i * 7 + (i >> 13)));
			lastseen = last;
			chunks++;
		} else if (ev == IMAP_PARSE_RESPONSE)
			break;
		else
			assert_int_equal(ev, IMAP_PARSE_MORE);
	}
	assert_int_equal(i, size);
	assert_true(lastseen);
	assert_true(chunks > 300);
	assert_int_equal(off, total);
	r = imap_parse_response(p);
	assert_int_equal(imap_parse_fetch_item(r, "UID")->num, 42);
	assert_true(imap_parse_fetch_item(r, "BODY[]")->flags &
	    IMAP_NODE_STREAMED);
	assert_null(imap_parse_fetch_item(r, "BODY[]")->str);
	free(buf);
	imap_parse_free(p);
}

/* ---- values and accessors ---------------------------------------------- */

/* Parses one complete response (buffering literals) into p. */
static const struct imap_response *
one(struct imap_parser *p, const char *in)
{
	char	*cause = NULL;
	size_t	 used, len = strlen(in), off = 0;
	int	 ev;

	for (;;) {
		ev = imap_parse_feed(p, in + off, len - off, &used, &cause);
		off += used;
		if (ev == IMAP_PARSE_ERROR)
			fail_msg("%s: %s", in, cause);
		assert_int_not_equal(ev, IMAP_PARSE_MORE);
		if (ev == IMAP_PARSE_RESPONSE)
			break;
	}
	assert_int_equal(off, len);
	return (imap_parse_response(p));
}

/* ---- FETCH item names by structure ------------------------------------- */

#define MSGID_ITEM	"BODY[HEADER.FIELDS (MESSAGE-ID)]"

/* Courier quotes the field name in its answer; case, spaces next to the
 * parentheses and quoting do not make another item, anything else does. */
static void
test_item_eq(void **state)
{
	char	 longname[400];

	(void)state;
	assert_true(imap_parse_item_eq("BODY[HEADER.FIELDS (\"MESSAGE-ID\")]",
	    MSGID_ITEM));
	assert_true(imap_parse_item_eq("body[header.fields (message-id)]",
	    MSGID_ITEM));
	assert_true(imap_parse_item_eq("BODY[HEADER.FIELDS ( \"Message-ID\" )]",
	    MSGID_ITEM));
	assert_true(imap_parse_item_eq("BODY[HEADER.FIELDS  (\"MESSAGE-\\ID\")]",
	    MSGID_ITEM));
	assert_true(imap_parse_item_eq("BODY[HEADER.FIELDS (\"A\" \"B\")]",
	    "BODY[HEADER.FIELDS (a b)]"));
	assert_true(imap_parse_item_eq("BODY[]", "body[]"));
	assert_false(imap_parse_item_eq("BODY[HEADER.FIELDS (MESSAGE-ID FROM)]",
	    MSGID_ITEM));
	assert_false(imap_parse_item_eq("BODY[HEADER.FIELDS.NOT (MESSAGE-ID)]",
	    MSGID_ITEM));
	assert_false(imap_parse_item_eq("BODY[HEADER.FIELDS (MESSAGEID)]",
	    MSGID_ITEM));
	assert_false(imap_parse_item_eq("BODY[HEADER.FIELDS (\"MESSAGE-ID)]",
	    MSGID_ITEM));
	assert_false(imap_parse_item_eq("BODY[HEADER.FIELDS (\"MESSAGE ID\")]",
	    "BODY[HEADER.FIELDS (MESSAGE ID)]"));
	assert_false(imap_parse_item_eq("BODY[HEADER.FIELDS (\"(X)\")]",
	    "BODY[HEADER.FIELDS ((X))]"));
	assert_false(imap_parse_item_eq("BODY[]<0>", "BODY[]"));
	assert_false(imap_parse_item_eq("BODY[TEXT]", "BODY[]"));
	assert_false(imap_parse_item_eq("BODY[1]", "BODY[]"));
	/* Too long to bring into canonical form: only the same text. */
	memset(longname, 'A', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_true(imap_parse_item_eq(longname, longname));
	longname[300] = ' ';
	assert_false(imap_parse_item_eq(longname, "A"));
}

/* The Message-ID literal of a Courier FETCH answer is found by the name
 * mailfetchd asked with. */
static void
test_fetch_item_courier(void **state)
{
	struct imap_parser		*p;
	const struct imap_response	*r;
	const struct imap_node		*n;

	(void)state;
	p = imap_parse_new(NULL);
	r = one(p, "* 1 FETCH (UID 7 RFC822.SIZE 504 "
	    "BODY[HEADER.FIELDS (\"MESSAGE-ID\")] {29}\r\n"
	    "Message-ID: <a@example.org>\r\n)\r\n");
	n = imap_parse_fetch_item(r, MSGID_ITEM);
	assert_non_null(n);
	assert_int_equal(n->type, IMAP_NODE_LITERAL);
	assert_int_equal(n->len, 29);
	assert_memory_equal(n->str, "Message-ID: <a@example.org>\r\n", 29);
	assert_null(imap_parse_fetch_item(r, "BODY[]"));
	assert_int_equal(imap_parse_fetch_item(r, "uid")->num, 7);
	imap_parse_free(p);
}

/* ---- long SEARCH lines -------------------------------------------------- */

#define SEARCH_UIDS	200000

/* A "* SEARCH" line of n ascending UIDs of 1 to 10 digits (gaps of
 * pseudo-random size), with an optional tail before the CRLF. */
static char *
search_line(uint32_t *uids, size_t n, const char *tail, size_t *len)
{
	struct sbuf	b = { NULL, 0, 0 };
	uint64_t	x = 88172645463325252ULL;
	uint32_t	uid = 0;
	size_t		i;

	sb_str(&b, "* SEARCH");
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Mostly small gaps, sometimes a big one, up to 2^32-1. */
		uid += 1 + (uint32_t)(x % 8 == 0 ? x % 40000 : x % 3);
		if (i == n - 1)
			uid = UINT32_MAX;
		uids[i] = uid;
		sb_printf(&b, " %u", uid);
	}
	sb_printf(&b, "%s\r\n", tail);
	*len = b.len;
	return (b.s);
}

/* Takes the numbers of one event's args; returns how many. */
static size_t
search_take(const struct imap_response *r, const uint32_t *uids,
    size_t seen, size_t n)
{
	const struct imap_node	*c;
	size_t			 k = 0;

	assert_int_equal(r->data, IMAP_DATA_SEARCH);
	assert_string_equal(r->name, "SEARCH");
	for (c = r->args != NULL ? r->args->child : NULL; c != NULL;
	    c = c->next) {
		if (c->type == IMAP_NODE_LIST)
			break;
		assert_true(seen + k < n);
		assert_int_equal(c->type, IMAP_NODE_NUMBER);
		assert_int_equal(c->num, uids[seen + k]);
		k++;
	}
	return (k);
}

/* A SEARCH line of 200,000 UIDs (1.3 MB), fed in random pieces of 1 byte
 * to 64 KiB, under the default caps (a 64 KiB line, 16,384 items): every
 * UID comes out once, in order, in batches each within the caps, and the
 * (MODSEQ n) that ends the line is in the final response. */
static void
test_search_long(void **state)
{
	struct imap_parser		*p;
	const struct imap_response	*r;
	uint32_t			*uids;
	uint64_t			 x = 0x9e3779b97f4a7c15ULL;
	char				*in, *cause = NULL;
	size_t				 len, off = 0, n, used, seen = 0, k;
	size_t				 batches = 0;
	int				 ev = IMAP_PARSE_MORE;

	(void)state;
	uids = xreallocarray(NULL, SEARCH_UIDS, sizeof *uids);
	in = search_line(uids, SEARCH_UIDS, " (MODSEQ 917162500)", &len);
	assert_true(len > 16 * 64 * 1024);
	p = imap_parse_new(NULL);
	while (off < len) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = 1 + x % (x % 4 == 0 ? 65536 : 32);
		if (n > len - off)
			n = len - off;
		ev = imap_parse_feed(p, in + off, n, &used, &cause);
		if (ev == IMAP_PARSE_ERROR)
			fail_msg("at %zu: %s", off, cause);
		off += used;
		if (ev == IMAP_PARSE_SEARCH) {
			assert_false(imap_parse_idle(p));
			k = search_take(imap_parse_response(p), uids, seen,
			    SEARCH_UIDS);
			assert_true(k > 0 && k <= 1024);
			seen += k;
			batches++;
		} else if (ev == IMAP_PARSE_RESPONSE)
			break;
		else
			assert_int_equal(ev, IMAP_PARSE_MORE);
	}
	assert_int_equal(ev, IMAP_PARSE_RESPONSE);
	assert_int_equal(off, len);
	r = imap_parse_response(p);
	seen += search_take(r, uids, seen, SEARCH_UIDS);
	assert_int_equal(seen, SEARCH_UIDS);
	assert_true(batches >= SEARCH_UIDS / 1024);
	assert_string_equal(imap_parse_node_at(r->args,
	    r->args->len - 1)->child->str, "MODSEQ");
	/* The parser goes on with the next response as usual. */
	r = one(p, "a1 OK SEARCH done\r\n");
	assert_string_equal(r->tag, "a1");
	imap_parse_free(p);
	free(in);
	free(uids);
}

/* The batches come at the same bytes for any split, and a word that is
 * not a 32-bit number anywhere in a long line is an error, as in a short
 * one; a tagged response or "* n SEARCH" is not streamed. */
static void
test_search_split(void **state)
{
	struct imap_parse_limits	 lim;
	uint32_t			 uids[10000];
	char				*in, *a, *b, *broken;
	size_t				 len;

	(void)state;
	in = search_line(uids, 10000, "", &len);
	a = run(in, len, 0, BUFFER_ALL, NULL);
	b = run(in, len, 7, BUFFER_ALL, NULL);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "S * SEARCH (#"));
	assert_null(strstr(a, "E "));
	free(b);
	/* Small caps: batches shrink to fit them. */
	memset(&lim, 0, sizeof lim);
	lim.max_line = 200;
	lim.max_nodes = 64;
	b = run(in, len, 3, BUFFER_ALL, &lim);
	assert_null(strstr(b, "E "));
	assert_non_null(strstr(b, "R * SEARCH (#"));
	free(b);
	free(a);
	/* A non-number deep in the line. */
	broken = xstrdup(in);
	memcpy(broken + len / 2 - 1, " x ", 3);
	a = run(broken, len, 0, BUFFER_ALL, NULL);
	assert_non_null(strstr(a, "E malformed SEARCH response"));
	free(a);
	/* A list before the end of the line. */
	memcpy(broken + len / 2 - 1, " () ", 4);
	a = run(broken, len, 5, BUFFER_ALL, NULL);
	assert_non_null(strstr(a, "E malformed SEARCH response"));
	free(a);
	/* A number above 32 bits. */
	in[len / 2 - 1] = ' ';
	memcpy(broken, in, len);
	memcpy(broken + len / 2, "4294967296 ", 11);
	a = run(broken, len, 0, BUFFER_ALL, NULL);
	assert_non_null(strstr(a, "E malformed SEARCH response"));
	free(a);
	/* Not an untagged SEARCH: the line cap holds. */
	memcpy(broken, in, len);
	memcpy(broken, "a1 OK   ", 8);
	a = run(broken, len, 0, BUFFER_ALL, NULL);
	assert_non_null(strstr(a, "E line too long"));
	free(a);
	free(broken);
	free(in);
}

static void
test_greeting(void **state)
{
	struct imap_parser		*p;
	const struct imap_response	*r;

	(void)state;
	p = imap_parse_new(NULL);
	r = one(p, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID "
	    "ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) "
	    "ready.\r\n");
	assert_int_equal(r->type, IMAP_RESP_UNTAGGED);
	assert_null(r->tag);
	assert_int_equal(r->status, IMAP_STATUS_OK);
	assert_int_equal(r->data, IMAP_DATA_NONE);
	assert_int_equal(r->code, IMAP_CODE_CAPABILITY);
	assert_string_equal(r->code_name, "CAPABILITY");
	assert_string_equal(r->text, "Dovecot (Debian) ready.");
	assert_true(imap_parse_has_capability(r, "STARTTLS"));
	assert_true(imap_parse_has_capability(r, "idle"));
	assert_true(imap_parse_has_capability(r, "AUTH=PLAIN"));
	assert_false(imap_parse_has_capability(r, "AUTH=LOGIN"));
	assert_false(imap_parse_has_capability(r, "IMAP4rev2"));
	assert_int_equal(r->code_args->len, 9);

	r = one(p, "* CAPABILITY IMAP4rev1 SASL-IR IDLE AUTH=PLAIN "
	    "AUTH=XOAUTH2\r\n");
	assert_int_equal(r->data, IMAP_DATA_CAPABILITY);
	assert_int_equal(r->status, IMAP_STATUS_NONE);
	assert_int_equal(r->code, IMAP_CODE_NONE);
	assert_string_equal(r->name, "CAPABILITY");
	assert_true(imap_parse_has_capability(r, "AUTH=XOAUTH2"));
	assert_false(imap_parse_has_capability(r, "STARTTLS"));

	r = one(p, "A0001 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
	assert_int_equal(r->type, IMAP_RESP_TAGGED);
	assert_string_equal(r->tag, "A0001");
	assert_true(imap_parse_has_capability(r, "IDLE"));
	imap_parse_free(p);
}

static void
test_codes(void **state)
{
	static const struct {
		const char	*in;
		enum imap_status status;
		enum imap_code	 code;
		uint64_t	 num;
	} t[] = {
		{ "a NO [AUTHENTICATIONFAILED] x\r\n", IMAP_STATUS_NO,
		  IMAP_CODE_AUTHENTICATIONFAILED, 0 },
		{ "a NO [UNAVAILABLE] x\r\n", IMAP_STATUS_NO,
		  IMAP_CODE_UNAVAILABLE, 0 },
		{ "a NO [LIMIT] x\r\n", IMAP_STATUS_NO, IMAP_CODE_LIMIT, 0 },
		{ "* OK [ALERT] x\r\n", IMAP_STATUS_OK, IMAP_CODE_ALERT, 0 },
		{ "* OK [UIDVALIDITY 4294967295] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_UIDVALIDITY, 4294967295U },
		{ "* OK [UIDNEXT 17] x\r\n", IMAP_STATUS_OK, IMAP_CODE_UIDNEXT,
		  17 },
		{ "* OK [UNSEEN 12] x\r\n", IMAP_STATUS_OK, IMAP_CODE_UNSEEN,
		  12 },
		{ "* OK [HIGHESTMODSEQ 715194045007] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_HIGHESTMODSEQ, 715194045007ULL },
		/* A broken one is no session error: 0, no mod-sequence. */
		{ "* OK [HIGHESTMODSEQ 9223372036854775808] x\r\n",
		  IMAP_STATUS_OK, IMAP_CODE_HIGHESTMODSEQ, 0 },
		{ "* OK [HIGHESTMODSEQ 99999999999999999999999] x\r\n",
		  IMAP_STATUS_OK, IMAP_CODE_HIGHESTMODSEQ, 0 },
		{ "* OK [HIGHESTMODSEQ abc] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_HIGHESTMODSEQ, 0 },
		{ "* OK [HIGHESTMODSEQ] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_HIGHESTMODSEQ, 0 },
		{ "* OK [HIGHESTMODSEQ 1 2] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_HIGHESTMODSEQ, 0 },
		{ "* OK [PERMANENTFLAGS ()] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_PERMANENTFLAGS, 0 },
		{ "a OK [READ-ONLY] x\r\n", IMAP_STATUS_OK, IMAP_CODE_READ_ONLY,
		  0 },
		{ "a OK [READ-WRITE] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_READ_WRITE, 0 },
		{ "a NO [TRYCREATE] x\r\n", IMAP_STATUS_NO, IMAP_CODE_TRYCREATE,
		  0 },
		{ "a OK [APPENDUID 38505 3955] x\r\n", IMAP_STATUS_OK,
		  IMAP_CODE_APPENDUID, 38505 },
		{ "a OK [COPYUID 38505 304,319:320 3956:3958] x\r\n",
		  IMAP_STATUS_OK, IMAP_CODE_COPYUID, 38505 },
		{ "* OK [CLOSED] x\r\n", IMAP_STATUS_OK, IMAP_CODE_CLOSED, 0 },
		{ "* BYE [UNAVAILABLE] x\r\n", IMAP_STATUS_BYE,
		  IMAP_CODE_UNAVAILABLE, 0 },
		{ "* PREAUTH [ALERT] x\r\n", IMAP_STATUS_PREAUTH,
		  IMAP_CODE_ALERT, 0 },
		{ "a BAD [CLIENTBUG] x\r\n", IMAP_STATUS_BAD,
		  IMAP_CODE_CLIENTBUG, 0 },
		{ "a NO [OVERQUOTA] x\r\n", IMAP_STATUS_NO, IMAP_CODE_OVERQUOTA,
		  0 },
		{ "a NO [XSOMETHING with text] x\r\n", IMAP_STATUS_NO,
		  IMAP_CODE_OTHER, 0 },
		{ "a OK x\r\n", IMAP_STATUS_OK, IMAP_CODE_NONE, 0 },
	};
	struct imap_parser		*p;
	const struct imap_response	*r;
	size_t				 i;

	(void)state;
	p = imap_parse_new(NULL);
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		r = one(p, t[i].in);
		if (r->status != t[i].status || r->code != t[i].code ||
		    r->code_num != t[i].num)
			fail_msg("%s: status %d code %d num %llu", t[i].in,
			    r->status, r->code, (unsigned long long)r->code_num);
		assert_string_equal(r->text, "x");
	}
	r = one(p, "a NO [XSOMETHING with text] x\r\n");
	assert_string_equal(r->code_name, "XSOMETHING");
	assert_string_equal(r->code_text, "with text");
	assert_null(r->code_args);
	r = one(p, "* OK [PERMANENTFLAGS (\\Seen \\*)] x\r\n");
	assert_true(imap_parse_list_has(imap_parse_node_at(r->code_args, 0),
	    "\\*"));
	assert_true(imap_parse_list_has(imap_parse_node_at(r->code_args, 0),
	    "\\seen"));
	assert_false(imap_parse_list_has(imap_parse_node_at(r->code_args, 0),
	    "\\Deleted"));
	imap_parse_free(p);
}

static void
test_data(void **state)
{
	struct imap_parser		*p;
	const struct imap_response	*r;
	const struct imap_node		*n;
	uint64_t			 v;
	uint32_t			 u;
	size_t				 len;

	(void)state;
	p = imap_parse_new(NULL);

	r = one(p, "* 23 EXISTS\r\n");
	assert_int_equal(r->data, IMAP_DATA_EXISTS);
	assert_true(r->has_number);
	assert_int_equal(r->number, 23);
	assert_null(r->args);
	r = one(p, "* 5 expunge\r\n");
	assert_int_equal(r->data, IMAP_DATA_EXPUNGE);
	assert_int_equal(r->number, 5);
	r = one(p, "* 1 RECENT\r\n");
	assert_int_equal(r->data, IMAP_DATA_RECENT);

	r = one(p, "* LIST (\\HasNoChildren \\Sent) \".\" \"INBOX.Sent\"\r\n");
	assert_int_equal(r->data, IMAP_DATA_LIST);
	assert_string_equal(r->mailbox, "INBOX.Sent");
	assert_int_equal(r->delim, '.');
	assert_true(imap_parse_list_has(r->flags, "\\Sent"));
	assert_false(imap_parse_list_has(r->flags, "\\Noselect"));
	r = one(p, "* LIST (\\Noselect) NIL \"\"\r\n");
	assert_int_equal(r->delim, 0);
	assert_string_equal(r->mailbox, "");
	r = one(p, "* LSUB () \"\\\\\" {7}\r\nA \"b\" c\r\n");
	assert_int_equal(r->data, IMAP_DATA_LSUB);
	assert_int_equal(r->delim, '\\');
	assert_string_equal(r->mailbox, "A \"b\" c");
	r = one(p, "* LIST () \"/\" nil\r\n");
	assert_string_equal(r->mailbox, "nil");

	r = one(p, "* STATUS \"Drafts\" (MESSAGES 231 UIDNEXT 44292 "
	    "UIDVALIDITY 1 UNSEEN 0 HIGHESTMODSEQ 7011231777)\r\n");
	assert_int_equal(r->data, IMAP_DATA_STATUS);
	assert_string_equal(r->mailbox, "Drafts");
	assert_int_equal(imap_parse_status_item(r, "UIDNEXT", &v), 0);
	assert_int_equal(v, 44292);
	assert_int_equal(imap_parse_status_item(r, "unseen", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(imap_parse_status_item(r, "HIGHESTMODSEQ", &v), 0);
	assert_int_equal(v, 7011231777ULL);
	assert_int_equal(imap_parse_status_item(r, "RECENT", &v), -1);

	r = one(p, "* FLAGS (\\Answered \\Seen)\r\n");
	assert_int_equal(r->data, IMAP_DATA_FLAGS);
	assert_int_equal(r->flags->len, 2);
	assert_true(imap_parse_list_has(r->flags, "\\ANSWERED"));

	r = one(p, "* SEARCH 2 84 4294967295\r\n");
	assert_int_equal(r->data, IMAP_DATA_SEARCH);
	assert_int_equal(r->args->len, 3);
	assert_int_equal(imap_parse_node_u32(imap_parse_node_at(r->args, 2),
	    &u), 0);
	assert_int_equal(u, 4294967295U);
	assert_null(imap_parse_node_at(r->args, 3));

	r = one(p, "* ESEARCH (TAG \"a1\") UID ALL 1:5\r\n");
	assert_int_equal(r->data, IMAP_DATA_ESEARCH);
	assert_string_equal(imap_parse_node_at(r->args, 3)->str, "1:5");
	r = one(p, "* ENABLED QRESYNC\r\n");
	assert_int_equal(r->data, IMAP_DATA_ENABLED);
	r = one(p, "* ID (\"name\" \"Dovecot\")\r\n");
	assert_int_equal(r->data, IMAP_DATA_ID);
	r = one(p, "* VANISHED (EARLIER) 1:3\r\n");
	assert_int_equal(r->data, IMAP_DATA_VANISHED);
	r = one(p, "* XFOO bar\r\n");
	assert_int_equal(r->data, IMAP_DATA_OTHER);
	assert_string_equal(r->name, "XFOO");

	r = one(p, "* 3 FETCH (UID 7 FLAGS (\\Seen $label1) RFC822.SIZE 1234 "
	    "MODSEQ (9223372036854775807) BODY[HEADER.FIELDS (SUBJECT)] {11}\r\n"
	    "Subject: x\n INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n");
	assert_int_equal(r->data, IMAP_DATA_FETCH);
	assert_int_equal(r->number, 3);
	assert_int_equal(imap_parse_node_u32(imap_parse_fetch_item(r, "uid"),
	    &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(imap_parse_fetch_item(r, "RFC822.SIZE")->num, 1234);
	assert_true(imap_parse_list_has(imap_parse_fetch_item(r, "FLAGS"),
	    "$label1"));
	n = imap_parse_node_at(imap_parse_fetch_item(r, "MODSEQ"), 0);
	assert_int_equal(n->num, 9223372036854775807ULL);
	assert_int_equal(imap_parse_node_u32(n, &u), -1);
	n = imap_parse_fetch_item(r, "BODY[HEADER.FIELDS (SUBJECT)]");
	assert_int_equal(n->type, IMAP_NODE_LITERAL);
	assert_string_equal(imap_parse_node_str(n, &len), "Subject: x\n");
	assert_int_equal(len, 11);
	assert_string_equal(imap_parse_node_str(imap_parse_fetch_item(r,
	    "INTERNALDATE"), NULL), "17-Jul-1996 02:44:25 -0700");
	assert_null(imap_parse_fetch_item(r, "BODY[]"));
	assert_null(imap_parse_fetch_item(r, "UIDX"));
	assert_null(imap_parse_node_str(imap_parse_fetch_item(r, "FLAGS"),
	    NULL));
	assert_int_equal(imap_parse_node_u32(imap_parse_fetch_item(r,
	    "INTERNALDATE"), &u), -1);
	/* Accessors on the wrong kind of response. */
	assert_null(imap_parse_fetch_item(one(p, "* 1 EXISTS\r\n"), "UID"));
	assert_int_equal(imap_parse_status_item(imap_parse_response(p), "UID",
	    &v), -1);
	assert_null(imap_parse_node_at(NULL, 0));
	imap_parse_free(p);
}

/* At the literal event the response so far is visible: enough to decide
 * that this is a message body, and whose. */
static void
test_literal_event(void **state)
{
	static const char	 in[] = "* 12 FETCH (UID 5 RFC822.SIZE 3 "
	    "BODY[] {3}\r\nabc)\r\n* 1 EXISTS\r\n";
	struct imap_parser		*p;
	const struct imap_response	*r;
	const struct imap_node		*lit, *key;
	const char			*c;
	char				*cause;
	size_t				 used, len;
	int				 last;

	(void)state;
	p = imap_parse_new(NULL);
	assert_true(imap_parse_idle(p));
	assert_null(imap_parse_literal(p, &key));
	assert_int_equal(imap_parse_feed(p, in, sizeof in - 1, &used, &cause),
	    IMAP_PARSE_LITERAL);
	assert_false(imap_parse_idle(p));
	assert_int_equal(used, strchr(in, '\n') + 1 - in);
	r = imap_parse_response(p);
	assert_int_equal(r->data, IMAP_DATA_FETCH);
	assert_int_equal(r->number, 12);
	assert_int_equal(imap_parse_fetch_item(r, "UID")->num, 5);
	lit = imap_parse_literal(p, &key);
	assert_int_equal(lit->len, 3);
	assert_int_equal(lit->type, IMAP_NODE_LITERAL);
	assert_string_equal(key->str, "BODY[]");
	imap_parse_literal_stream(p);

	assert_int_equal(imap_parse_feed(p, in + used, sizeof in - 1 - used,
	    &len, &cause), IMAP_PARSE_CHUNK);
	c = imap_parse_chunk(p, &len, &last);
	assert_int_equal(len, 3);
	assert_memory_equal(c, "abc", 3);
	assert_true(last);
	assert_ptr_equal(c, in + used);
	/* Not a literal any more: stream requests are ignored. */
	imap_parse_literal_stream(p);
	used += 3;
	assert_int_equal(imap_parse_feed(p, in + used, sizeof in - 1 - used,
	    &len, &cause), IMAP_PARSE_RESPONSE);
	used += len;
	/* The next response is left for the next call. */
	assert_string_equal(in + used, "* 1 EXISTS\r\n");
	assert_true(imap_parse_idle(p));
	r = imap_parse_response(p);
	assert_int_equal(imap_parse_fetch_item(r, "BODY[]")->len, 3);
	assert_int_equal(imap_parse_feed(p, in + used, sizeof in - 1 - used,
	    &len, &cause), IMAP_PARSE_RESPONSE);
	assert_int_equal(imap_parse_response(p)->data, IMAP_DATA_EXISTS);
	/* Nothing at all: more needed, and still idle. */
	assert_int_equal(imap_parse_feed(p, "", 0, &len, &cause),
	    IMAP_PARSE_MORE);
	assert_int_equal(len, 0);
	assert_true(imap_parse_idle(p));
	imap_parse_free(p);
}

/* ---- mailbox names ------------------------------------------------------ */

static void
test_mutf7(void **state)
{
	static const struct {
		const char	*mutf7;
		const char	*utf8;
	} t[] = {
		{ "INBOX", "INBOX" },
		{ "", "" },
		{ "&-", "&" },
		{ "a&-b&-", "a&b&" },
		{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
		{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
		{ "&AOQA9gD8-", "\xc3\xa4\xc3\xb6\xc3\xbc" },
		{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
		  "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
		  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
		{ "&2D3eAA-", "\xf0\x9f\x98\x80" },		/* U+1F600 */
		{ "a&AAk-b", "a\tb" },
		{ "&AH8-", "\x7f" },
		{ "&AOk-&-", "\xc3\xa9&" },
		{ "[Gmail]/All Mail", "[Gmail]/All Mail" },
	};
	static const char *const invalid[] = {
		"&",			/* unterminated */
		"&ZeVn",		/* unterminated */
		"&ZeV-",		/* 18 bits: padding nonzero */
		"&ZeVnLIqeA-",		/* 9 chars: 6 bits left over */
		"&AGE-",		/* encodes 'a' */
		"&ACY-",		/* encodes '&' */
		"&2D0-",		/* lone high surrogate */
		"&3gA-",		/* lone low surrogate */
		"&2D3YPQ-",		/* high surrogate twice */
		"&AAA-",		/* NUL */
		"&Ze*-",		/* bad base64 */
		"&Ze/-",		/* '/' is not modified base64 */
		"a\tb",			/* raw control */
		"Entw\xc3\xbcrfe",	/* raw 8-bit */
	};
	static const char *const bad_utf8[] = {
		"\xc3",			/* truncated */
		"\xc3\x28",		/* bad continuation */
		"\xc0\xaf",		/* overlong */
		"\xe0\x80\xaf",		/* overlong */
		"\xed\xa0\x80",		/* surrogate */
		"\xf4\x90\x80\x80",	/* above U+10FFFF */
		"\xff",
	};
	char	*s, *cause;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		s = imap_parse_mutf7_decode(t[i].mutf7, strlen(t[i].mutf7),
		    &cause);
		if (s == NULL)
			fail_msg("decode %s: %s", t[i].mutf7, cause);
		assert_string_equal(s, t[i].utf8);
		free(s);
		s = imap_parse_mutf7_encode(t[i].utf8, &cause);
		if (s == NULL)
			fail_msg("encode %s: %s", t[i].utf8, cause);
		assert_string_equal(s, t[i].mutf7);
		free(s);
	}
	for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		cause = NULL;
		s = imap_parse_mutf7_decode(invalid[i], strlen(invalid[i]),
		    &cause);
		if (s != NULL)
			fail_msg("decode %s gave %s", invalid[i], s);
		assert_non_null(cause);
		assert_non_null(strstr(cause, "mailbox name \""));
		free(cause);
	}
	/* An embedded NUL is invalid too. */
	assert_null(imap_parse_mutf7_decode("a\0b", 3, &cause));
	assert_string_equal(cause,
	    "mailbox name \"a\\000b\": byte outside printable ASCII");
	free(cause);
	assert_null(imap_parse_mutf7_decode("&2D0-", 5, &cause));
	assert_string_equal(cause, "mailbox name \"&2D0-\": unpaired surrogate");
	free(cause);
	for (i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
		cause = NULL;
		assert_null(imap_parse_mutf7_encode(bad_utf8[i], &cause));
		assert_non_null(strstr(cause, "invalid UTF-8"));
		free(cause);
	}
	/* Control characters and long runs round-trip. */
	s = imap_parse_mutf7_encode("\x01\x02\xe2\x82\xac\xe2\x82\xac x", &cause);
	assert_string_equal(s, "&AAEAAiCsIKw- x");
	free(s);
}

static void
test_quote(void **state)
{
	char	*s, *cause;

	(void)state;
	s = imap_parse_quote("INBOX", 5, &cause);
	assert_string_equal(s, "\"INBOX\"");
	free(s);
	s = imap_parse_quote("", 0, &cause);
	assert_string_equal(s, "\"\"");
	free(s);
	s = imap_parse_quote("p\"a\\ss word", 11, &cause);
	assert_string_equal(s, "\"p\\\"a\\\\ss word\"");
	free(s);
	s = imap_parse_quote("\xc3\xbc", 2, &cause);
	assert_string_equal(s, "\"\xc3\xbc\"");
	free(s);
	cause = NULL;
	assert_null(imap_parse_quote("a\r\nb", 4, &cause));
	assert_non_null(strstr(cause, "CR, LF or NUL"));
	free(cause);
	assert_null(imap_parse_quote("a\nb", 3, &cause));
	free(cause);
	assert_null(imap_parse_quote("a\0b", 3, &cause));
	free(cause);
}

/* The quoted form parses back to the original. */
static void
test_quote_roundtrip(void **state)
{
	static const char *const t[] = { "", "a", "\\", "\"", "a \\\" b",
	    "\\\\\"\"", "(x) {3} ]" };
	struct imap_parser		*p;
	const struct imap_response	*r;
	char				*q, *cause, *line;
	size_t				 i;

	(void)state;
	p = imap_parse_new(NULL);
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		q = imap_parse_quote(t[i], strlen(t[i]), &cause);
		xasprintf(&line, "* LIST () \"/\" %s\r\n", q);
		r = one(p, line);
		assert_string_equal(r->mailbox, t[i]);
		free(line);
		free(q);
	}
	imap_parse_free(p);
}

/* The capability bits both sessions use, from a response and a code. */
static void
test_capabilities(void **state)
{
	static const char	 data[] = "* CAPABILITY IMAP4rev1 idle "
	    "AUTH=PLAIN SASL-IR COMPRESS=DEFLATE\r\n";
	static const char	 code[] = "a1 OK [CAPABILITY IMAP4rev2 STARTTLS "
	    "LOGINDISABLED UIDPLUS MOVE ID AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi\r\n";
	struct imap_parser	*p;
	size_t			 used;
	char			*cause = NULL;

	(void)state;
	p = imap_parse_new(NULL);
	assert_int_equal(imap_parse_feed(p, data, sizeof data - 1, &used,
	    &cause), IMAP_PARSE_RESPONSE);
	assert_int_equal(imap_parse_capabilities(imap_parse_response(p)),
	    IMAP_CAP_IDLE | IMAP_CAP_AUTH_PLAIN | IMAP_CAP_SASL_IR |
	    IMAP_CAP_COMPRESS);
	assert_int_equal(imap_parse_feed(p, code, sizeof code - 1, &used,
	    &cause), IMAP_PARSE_RESPONSE);
	assert_int_equal(imap_parse_capabilities(imap_parse_response(p)),
	    IMAP_CAP_IMAP4REV2 | IMAP_CAP_STARTTLS | IMAP_CAP_LOGINDISABLED |
	    IMAP_CAP_UIDPLUS | IMAP_CAP_MOVE | IMAP_CAP_ID |
	    IMAP_CAP_AUTH_XOAUTH2 | IMAP_CAP_AUTH_OAUTHBEARER);
	imap_parse_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_error_sticky),
		cmocka_unit_test(test_namespace_skipped),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_stream_big),
		cmocka_unit_test(test_search_long),
		cmocka_unit_test(test_search_split),
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_literal_event),
		cmocka_unit_test(test_mutf7),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_roundtrip),
		cmocka_unit_test(test_item_eq),
		cmocka_unit_test(test_fetch_item_courier),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
