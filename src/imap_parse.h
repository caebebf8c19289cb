/* imap_parse.h: a pure, resumable IMAP4rev1/rev2 response parser.
 *
 * Bytes in, events out: no sockets, no event loop, no globals. The owner
 * (the IMAP session, a test, the fuzzer) feeds whatever it has received, in
 * any split, and gets one event per call:
 *
 *	for (;;) {
 *		r = imap_parse_feed(p, buf, len, &used, &cause);
 *		buf += used; len -= used;
 *		switch (r) {
 *		case IMAP_PARSE_MORE:		read more, feed again
 *		case IMAP_PARSE_LITERAL:	look at the response so far and
 *						maybe imap_parse_literal_stream()
 *		case IMAP_PARSE_CHUNK:		write imap_parse_chunk() somewhere
 *		case IMAP_PARSE_SEARCH:		take the numbers so far
 *		case IMAP_PARSE_RESPONSE:	handle imap_parse_response()
 *		case IMAP_PARSE_ERROR:		log cause, free it, drop the link
 *		}
 *	}
 *
 * Literals ({n} and ~{n}) are buffered into the response by default, up to
 * a small cap; a consumer that expects a message body streams it instead,
 * and its bytes then come out as chunks that point into the caller's buffer
 * and are never stored, so a 50 MB body costs no memory here.
 *
 * An untagged SEARCH ("* SEARCH 2 84 882 ...", the answer to UID SEARCH) is
 * streamed too, since a mailbox of 100,000 unseen messages answers with a
 * line of a megabyte: every 1024 numbers come out as an IMAP_PARSE_SEARCH
 * event, whose response (imap_parse_response) has args holding only those
 * numbers, all 32-bit; the parser forgets them at the next feed and the
 * line goes on, so max_line and max_nodes bound one batch, not the line.
 * The final IMAP_PARSE_RESPONSE holds the last numbers (and a trailing
 * (MODSEQ n), if any). A shorter SEARCH gives just the response.
 *
 * Lines end with CRLF. A bare LF is accepted as a line end too (isync and
 * OpenSMTPD do the same; it costs nothing to be lenient there), but a CR
 * that is not followed by LF, or a NUL byte, outside a literal is an error.
 *
 * Everything a response holds lives in the parser (one arena of strings and
 * one array of nodes) and stays valid until the next imap_parse_feed() or
 * imap_parse_free(). Memory is bounded by struct imap_parse_limits for any
 * input. */
#ifndef MAILFETCHD_IMAP_PARSE_H
#define MAILFETCHD_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct imap_parser;

/* Caps. A zero field takes the default shown. */
struct imap_parse_limits {
	size_t		 max_line;	/* bytes of one line outside literals;
					   64 KiB */
	size_t		 max_response;	/* bytes one response keeps (strings
					   and buffered literals); 1 MiB */
	size_t		 max_buffered;	/* one buffered literal; 64 KiB */
	uint64_t	 max_literal;	/* any literal, even streamed (the
					   maximum message size); 256 MiB */
	size_t		 max_nodes;	/* items in one response; 16384 */
	size_t		 max_depth;	/* nested parentheses; 32 */
};

enum imap_node_type {
	IMAP_NODE_ATOM,		/* also flags (\Seen) and FETCH items
				   (BODY[HEADER.FIELDS (FROM)]<0>) */
	IMAP_NODE_NUMBER,	/* 0 .. 2^63-1; str holds the digits */
	IMAP_NODE_STRING,	/* quoted string, unescaped */
	IMAP_NODE_LITERAL,	/* {n} or ~{n} */
	IMAP_NODE_NIL,		/* str is "NIL" as sent */
	IMAP_NODE_LIST,		/* parenthesised list, or a response's
				   argument list */
};

#define IMAP_NODE_LITERAL8	0x1	/* sent as ~{n} */
#define IMAP_NODE_STREAMED	0x2	/* bytes went out as chunks; str NULL */

/* One item of a response. Owned by the parser. */
struct imap_node {
	enum imap_node_type	 type;
	int			 flags;
	const char		*str;	/* NUL-terminated text (a literal may
					   also hold NULs: use len); NULL for
					   lists and streamed literals */
	size_t			 len;	/* bytes in str; a literal's size; a
					   list's number of children */
	uint64_t		 num;	/* IMAP_NODE_NUMBER */
	const struct imap_node	*child;	/* first item of a list */
	const struct imap_node	*next;	/* next item of the same list */

	/* The parser's own bookkeeping. */
	size_t			 p_off;
	size_t			 p_child;
	size_t			 p_last;
	size_t			 p_next;
};

enum imap_resp_type {
	IMAP_RESP_TAGGED,
	IMAP_RESP_UNTAGGED,		/* "* ..." */
	IMAP_RESP_CONTINUATION,		/* "+ ..." */
};

enum imap_status {
	IMAP_STATUS_NONE,		/* a data response */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE,
};

/* Response codes, "[CODE ...]" after a status. */
enum imap_code {
	IMAP_CODE_NONE,
	IMAP_CODE_OTHER,		/* any other atom: see code_name */
	IMAP_CODE_ALERT,
	IMAP_CODE_ALREADYEXISTS,
	IMAP_CODE_APPENDUID,		/* code_num: UIDVALIDITY; code_args */
	IMAP_CODE_AUTHENTICATIONFAILED,
	IMAP_CODE_AUTHORIZATIONFAILED,
	IMAP_CODE_BADCHARSET,		/* code_args: optional list */
	IMAP_CODE_CANNOT,
	IMAP_CODE_CAPABILITY,		/* code_args: atoms */
	IMAP_CODE_CLIENTBUG,
	IMAP_CODE_CLOSED,
	IMAP_CODE_CONTACTADMIN,
	IMAP_CODE_COPYUID,		/* code_num: UIDVALIDITY; code_args */
	IMAP_CODE_CORRUPTION,
	IMAP_CODE_EXPIRED,
	IMAP_CODE_EXPUNGEISSUED,
	IMAP_CODE_HIGHESTMODSEQ,	/* code_num (63 bits); 0 when the
					   argument is missing, not a
					   number or past 63 bits: the
					   client falls back to a full
					   flag fetch, the session goes
					   on */
	IMAP_CODE_INUSE,
	IMAP_CODE_LIMIT,
	IMAP_CODE_NOMODSEQ,
	IMAP_CODE_NONEXISTENT,
	IMAP_CODE_NOPERM,
	IMAP_CODE_OVERQUOTA,
	IMAP_CODE_PARSE,
	IMAP_CODE_PERMANENTFLAGS,	/* code_args: one list of flags */
	IMAP_CODE_PRIVACYREQUIRED,
	IMAP_CODE_READ_ONLY,
	IMAP_CODE_READ_WRITE,
	IMAP_CODE_SERVERBUG,
	IMAP_CODE_TRYCREATE,
	IMAP_CODE_UIDNEXT,		/* code_num (32 bits) */
	IMAP_CODE_UIDNOTSTICKY,
	IMAP_CODE_UIDVALIDITY,		/* code_num (32 bits) */
	IMAP_CODE_UNAVAILABLE,
	IMAP_CODE_UNSEEN,		/* code_num (32 bits) */
};

/* Data responses, by keyword. */
enum imap_data {
	IMAP_DATA_NONE,			/* a status or continuation */
	IMAP_DATA_OTHER,		/* any other keyword: see name */
	IMAP_DATA_CAPABILITY,		/* args: atoms */
	IMAP_DATA_ENABLED,		/* args: atoms */
	IMAP_DATA_ESEARCH,
	IMAP_DATA_EXISTS,		/* number */
	IMAP_DATA_EXPUNGE,		/* number */
	IMAP_DATA_FETCH,		/* number; args: one list of pairs */
	IMAP_DATA_FLAGS,		/* flags */
	IMAP_DATA_ID,
	IMAP_DATA_LIST,			/* flags, delim, mailbox */
	IMAP_DATA_LSUB,			/* flags, delim, mailbox */
	IMAP_DATA_NAMESPACE,
	IMAP_DATA_RECENT,		/* number */
	IMAP_DATA_SEARCH,		/* args: numbers, maybe (MODSEQ n) */
	IMAP_DATA_STATUS,		/* mailbox; args[1]: list of pairs */
	IMAP_DATA_VANISHED,
};

/* One response. Owned by the parser, valid until the next feed. text and
 * code_text are "" when absent, never NULL. */
struct imap_response {
	enum imap_resp_type	 type;
	const char		*tag;		/* tagged only, else NULL */
	enum imap_status	 status;
	const char		*name;		/* status or data keyword as
						   sent ("OK", "EXISTS"); NULL
						   for a continuation */

	/* Status responses. */
	enum imap_code		 code;
	const char		*code_name;	/* as sent; NULL without code */
	const struct imap_node	*code_args;	/* list: arguments of the codes
						   marked above, else NULL */
	const char		*code_text;	/* other codes: raw text after
						   the atom, "" when none */
	uint64_t		 code_num;
	const char		*text;		/* human text (or the
						   continuation's text), "" */

	/* Data responses. */
	enum imap_data		 data;
	int			 has_number;	/* "* 23 EXISTS" */
	uint32_t		 number;
	const struct imap_node	*args;		/* list of the items after
						   the keyword, NULL if none */
	const struct imap_node	*flags;		/* LIST, LSUB, FLAGS */
	int			 delim;		/* LIST, LSUB: 0 for NIL */
	const char		*mailbox;	/* LIST, LSUB, STATUS: as sent
						   (modified UTF-7) */
	const char		*skipped;	/* NAMESPACE only: the answer
						   could not be read (why;
						   passed over to its end,
						   args NULL), else NULL */
};

enum imap_parse_event {
	IMAP_PARSE_ERROR = -1,	/* *cause set (caller frees); the parser
				   stays in error: free it */
	IMAP_PARSE_MORE = 0,	/* everything consumed, response unfinished */
	IMAP_PARSE_RESPONSE,	/* a response is complete */
	IMAP_PARSE_LITERAL,	/* a literal's header {n} was read */
	IMAP_PARSE_CHUNK,	/* bytes of a streamed literal */
	IMAP_PARSE_SEARCH,	/* a batch of an untagged SEARCH's numbers */
};

/* A parser with limits (NULL for every default). Free with
 * imap_parse_free(); NULL is a no-op there. */
struct imap_parser *imap_parse_new(const struct imap_parse_limits *);
void		 imap_parse_free(struct imap_parser *);

/* Parses from buf until an event; *consumed says how much of buf was used
 * (all of it for IMAP_PARSE_MORE, otherwise the rest belongs to the next
 * call). The result is the same for any split of the input. Errors say what
 * and where (byte offset in the response, sanitised recent input). */
int		 imap_parse_feed(struct imap_parser *, const void *buf,
		    size_t len, size_t *consumed, char **cause);

/* The current response: complete after IMAP_PARSE_RESPONSE; after
 * IMAP_PARSE_LITERAL or IMAP_PARSE_CHUNK what was parsed so far (type, tag,
 * data, number, args up to the literal; convenience fields such as mailbox
 * are filled only on completion). Valid until the next feed. Do not free. */
const struct imap_response *imap_parse_response(const struct imap_parser *);
/* 1 between responses (nothing of a response read yet), else 0. */
int		 imap_parse_idle(const struct imap_parser *);

/* After IMAP_PARSE_LITERAL: the literal's node (len is its size, str NULL
 * until read) and the atom just before it in the same list (e.g. "BODY[]"
 * in a FETCH), NULL if the previous item is not an atom. */
const struct imap_node *imap_parse_literal(const struct imap_parser *,
		    const struct imap_node **key);
/* After IMAP_PARSE_LITERAL, before the next feed: deliver this literal as
 * IMAP_PARSE_CHUNK events instead of buffering it (buffering is the
 * default, and a literal above max_buffered that is not streamed is an
 * error). A literal of size 0 gives no chunk. Ignored at any other time. */
void		 imap_parse_literal_stream(struct imap_parser *);
/* After IMAP_PARSE_CHUNK: the bytes, inside the buffer given to the feed
 * (valid as long as that buffer is); *last is 1 on the literal's final
 * chunk. */
const void	*imap_parse_chunk(const struct imap_parser *, size_t *len,
		    int *last);

/* Accessors for the session. None allocates; returned pointers are owned
 * by the parser. */
/* The n-th item (from 0) of a list; NULL past the end or if not a list. */
const struct imap_node *imap_parse_node_at(const struct imap_node *list,
		    size_t n);
/* The text of an atom, number, quoted string or buffered literal (*len may
 * be NULL); NULL for NIL, lists and streamed literals. */
const char	*imap_parse_node_str(const struct imap_node *, size_t *len);
/* A number that fits 32 bits: 0, else -1. */
int		 imap_parse_node_u32(const struct imap_node *, uint32_t *);
/* 1 if the list holds this atom (ASCII case-insensitive), else 0. */
int		 imap_parse_list_has(const struct imap_node *list,
		    const char *atom);
/* 1 if a CAPABILITY response or a [CAPABILITY ...] code names cap. */
int		 imap_parse_has_capability(const struct imap_response *,
		    const char *cap);
/* The capabilities the sessions act on, as bits. */
#define IMAP_CAP_STARTTLS		0x0001
#define IMAP_CAP_LOGINDISABLED		0x0002
#define IMAP_CAP_SASL_IR		0x0004
#define IMAP_CAP_AUTH_PLAIN		0x0008
#define IMAP_CAP_AUTH_XOAUTH2		0x0010
#define IMAP_CAP_AUTH_OAUTHBEARER	0x0020
#define IMAP_CAP_UIDPLUS		0x0040
#define IMAP_CAP_MOVE			0x0080
#define IMAP_CAP_ID			0x0100
#define IMAP_CAP_IDLE			0x0200
#define IMAP_CAP_IMAP4REV2		0x0400
#define IMAP_CAP_COMPRESS		0x0800	/* COMPRESS=DEFLATE */
#define IMAP_CAP_XGM			0x1000	/* X-GM-EXT-1 (Gmail) */
#define IMAP_CAP_SPECIAL_USE		0x2000	/* RFC 6154 */
#define IMAP_CAP_NAMESPACE		0x4000	/* RFC 2342 */
#define IMAP_CAP_CONDSTORE		0x8000	/* RFC 7162 */
#define IMAP_CAP_ENABLE			0x10000	/* RFC 5161 */
/* The IMAP_CAP_* bits a CAPABILITY response or code names. */
unsigned int	 imap_parse_capabilities(const struct imap_response *);
/* FETCH: the value of an item ("UID", "FLAGS", "BODY[]"), NULL if absent.
 * Names compare as imap_parse_item_eq does. */
const struct imap_node *imap_parse_fetch_item(const struct imap_response *,
		    const char *name);
/* Whether two FETCH item names are the same item, by structure rather than
 * text: ASCII case-insensitive, spaces inside the section insignificant
 * next to parentheses and otherwise one, header field names as astrings,
 * so that "BODY[HEADER.FIELDS (\"Message-ID\")]" (Courier) is
 * "BODY[HEADER.FIELDS (MESSAGE-ID)]". 1 or 0; a name longer than
 * IMAP_ITEM_NAME_MAX matches only itself (case-insensitively). */
#define IMAP_ITEM_NAME_MAX	256
int		 imap_parse_item_eq(const char *, const char *);
/* STATUS: an item's value ("UIDNEXT"): 0, or -1 if absent. */
int		 imap_parse_status_item(const struct imap_response *,
		    const char *name, uint64_t *);

/* Mailbox names. Each returns a string the caller frees, or NULL with
 * *cause set (caller frees) saying what is wrong with which name. */
/* Modified UTF-7 (RFC 3501 5.1.3) to UTF-8; invalid sequences (bad base64,
 * unterminated shift, nonzero padding, lone surrogates, encoded printable
 * ASCII, raw bytes outside 0x20-0x7e) are errors. */
char		*imap_parse_mutf7_decode(const char *, size_t len,
		    char **cause);
/* UTF-8 (validated) to modified UTF-7. */
char		*imap_parse_mutf7_encode(const char *, char **cause);
/* A quoted string for a command: "..." with \ and " escaped. CR, LF and
 * NUL cannot be quoted (send a literal instead): error. 8-bit bytes pass
 * through (IMAP4rev2 and UTF8=ACCEPT allow them). */
char		*imap_parse_quote(const void *, size_t len, char **cause);

#endif
