/* imap_parse.c: a pure, resumable IMAP response parser (RFC 3501 section 9,
 * RFC 9051, literal8 and LITERAL+ from RFC 7888), plus the mailbox name
 * helpers the session needs (modified UTF-7, quoting).
 *
 * The parser is a byte-level state machine, so it can stop anywhere and
 * resume with the next byte: a split input gives exactly the events of an
 * unsplit one. Tokens go into one growing arena of strings and one array of
 * nodes, linked by index; pointers are filled in ("resolved") only when a
 * response or a partial one is shown to the owner, because both arrays may
 * move while they grow. Literal bytes are the only bytes not looked at one
 * by one: they are copied, or handed out as chunks, in bulk. */
#include "imap_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "xmalloc.h"

#define NONE		((size_t)-1)
#define MAX_U63		((uint64_t)INT64_MAX)
#define RING_SIZE	32	/* recent input shown in errors */

#define DEF_MAX_LINE		(64 * 1024)
#define DEF_MAX_RESPONSE	(1024 * 1024)
#define DEF_MAX_BUFFERED	(64 * 1024)
#define DEF_MAX_LITERAL		((uint64_t)256 * 1024 * 1024)
#define DEF_MAX_NODES		16384
#define DEF_MAX_DEPTH		32
#define MAX_DEPTH		4096	/* keeps the stack allocation sane */
/* Numbers of an untagged SEARCH handed out per IMAP_PARSE_SEARCH event: far
 * below max_nodes and, at 11 bytes a number, below max_line. */
#define SEARCH_BATCH		1024

enum pstate {
	S_START,		/* first byte of a response */
	S_TAG,
	S_STAR,			/* after '*' */
	S_PLUS,			/* after '+' */
	S_WORD,			/* an atom, number or keyword; see wctx */
	S_SECTION,		/* inside BODY[...] */
	S_AFTER_FIRST,		/* after the word following tag or '*' */
	S_AFTER_KEYWORD,	/* after "* n KEYWORD" */
	S_RESP_TEXT,		/* first byte of a status's resp-text */
	S_AFTER_CODE_NAME,
	S_CODE_RAW,		/* text of a code we do not tokenise */
	S_AFTER_CODE,		/* after ']' */
	S_TEXT,			/* human text up to the line end */
	S_TOKENS,		/* between items of a list */
	S_QUOTED,
	S_QUOTED_ESC,
	S_TILDE,		/* '~' at the start of an item */
	S_LIT_OPEN,		/* after '{' */
	S_LIT_SIZE,
	S_LIT_EOL,		/* after '}' */
	S_LIT_DECIDE,		/* literal event returned, owner decides */
	S_LIT_DATA,
	S_SKIP,			/* an optional response that could not be
				 * read: passed over up to its line end */
	S_DONE,			/* response returned */
	S_ERROR,
};

/* What the word being read is. */
enum wctx {
	W_FIRST,		/* number or keyword after tag or '*' */
	W_KEYWORD,		/* keyword after "* n" */
	W_CODE,			/* response code atom */
	W_TOKEN,		/* an item of a list */
};

/* What a step did with its byte. */
#define R_ERR		-1
#define R_OK		0	/* consumed */
#define R_AGAIN		1	/* not consumed: state changed, look again */
#define R_RESPONSE	2	/* consumed, response complete */
#define R_LITERAL	3	/* consumed, literal header complete */
#define R_SEARCH	4	/* consumed, a batch of SEARCH numbers */

struct imap_parser {
	struct imap_parse_limits lim;
	enum pstate		 state;
	enum wctx		 wctx;
	char			*error;
	enum pstate		 err_state;	/* where the error came */

	/* S_SKIP: why, and the framing of the line passed over (a literal
	 * "{n}" at a line end carries n more bytes of the same line). */
	char			*skip_why;
	uint64_t		 skip_lit;	/* literal bytes still to pass */
	uint64_t		 skip_num;	/* digits after a '{' */
	int			 skip_brace;	/* 1: in "{n", 2: after '}' */

	/* Position in the current response. */
	uint64_t		 off;
	size_t			 linelen;
	int			 cr;
	unsigned char		 ring[RING_SIZE];
	size_t			 ringpos;
	size_t			 ringlen;

	/* Storage of the current response. */
	char			*arena;
	size_t			 alen;
	size_t			 asize;
	struct imap_node	*nodes;
	size_t			 nnodes;
	size_t			 nsize;
	size_t			*stack;		/* open lists, [0] the root */
	size_t			 depth;

	/* The token being read. */
	size_t			 tok;		/* arena offset */
	int			 in_code;	/* tokens end at ']' */
	int			 need_sep;
	int			 after_close;

	/* Arena offsets and node indices of the response's parts. */
	size_t			 tag_off;
	size_t			 name_off;
	size_t			 code_name_off;
	size_t			 code_text_off;
	size_t			 text_off;
	size_t			 args;
	size_t			 code_args;
	int			 number_first;	/* first word was a number */

	/* The literal being read. */
	uint64_t		 litsize;
	uint64_t		 litleft;
	int			 lit8;
	int			 litstream;
	size_t			 litnode;
	size_t			 litkey;
	const unsigned char	*chunk;
	size_t			 chunklen;
	int			 chunklast;

	/* An untagged SEARCH is streamed: its numbers go out in batches, and
	 * a batch shown is dropped at the next feed (search_drop), so the
	 * line may be of any length. */
	int			 search_stream;
	int			 search_shown;
	size_t			 search_alen;	/* arena before the numbers */

	struct imap_response	 resp;
};

/* How the arguments of a response code are read. */
enum code_args {
	CA_RAW,			/* raw text up to ']' */
	CA_ANY,			/* tokens, no checks */
	CA_U32,			/* one 32-bit number */
	CA_U63,			/* one 63-bit number */
	CA_ATOMS,		/* atoms */
	CA_FLAGLIST,		/* one list of atoms */
	CA_UIDSET,		/* UIDVALIDITY then n-1 sets */
};

static const struct {
	const char	*name;
	enum imap_code	 code;
	enum code_args	 args;
	size_t		 n;
} imap_codes[] = {
	{ "ALERT", IMAP_CODE_ALERT, CA_RAW, 0 },
	{ "ALREADYEXISTS", IMAP_CODE_ALREADYEXISTS, CA_RAW, 0 },
	{ "APPENDUID", IMAP_CODE_APPENDUID, CA_UIDSET, 2 },
	{ "AUTHENTICATIONFAILED", IMAP_CODE_AUTHENTICATIONFAILED, CA_RAW, 0 },
	{ "AUTHORIZATIONFAILED", IMAP_CODE_AUTHORIZATIONFAILED, CA_RAW, 0 },
	{ "BADCHARSET", IMAP_CODE_BADCHARSET, CA_ANY, 0 },
	{ "CANNOT", IMAP_CODE_CANNOT, CA_RAW, 0 },
	{ "CAPABILITY", IMAP_CODE_CAPABILITY, CA_ATOMS, 0 },
	{ "CLIENTBUG", IMAP_CODE_CLIENTBUG, CA_RAW, 0 },
	{ "CLOSED", IMAP_CODE_CLOSED, CA_RAW, 0 },
	{ "CONTACTADMIN", IMAP_CODE_CONTACTADMIN, CA_RAW, 0 },
	{ "COPYUID", IMAP_CODE_COPYUID, CA_UIDSET, 3 },
	{ "CORRUPTION", IMAP_CODE_CORRUPTION, CA_RAW, 0 },
	{ "EXPIRED", IMAP_CODE_EXPIRED, CA_RAW, 0 },
	{ "EXPUNGEISSUED", IMAP_CODE_EXPUNGEISSUED, CA_RAW, 0 },
	{ "HIGHESTMODSEQ", IMAP_CODE_HIGHESTMODSEQ, CA_U63, 0 },
	{ "INUSE", IMAP_CODE_INUSE, CA_RAW, 0 },
	{ "LIMIT", IMAP_CODE_LIMIT, CA_RAW, 0 },
	{ "NOMODSEQ", IMAP_CODE_NOMODSEQ, CA_RAW, 0 },
	{ "NONEXISTENT", IMAP_CODE_NONEXISTENT, CA_RAW, 0 },
	{ "NOPERM", IMAP_CODE_NOPERM, CA_RAW, 0 },
	{ "OVERQUOTA", IMAP_CODE_OVERQUOTA, CA_RAW, 0 },
	{ "PARSE", IMAP_CODE_PARSE, CA_RAW, 0 },
	{ "PERMANENTFLAGS", IMAP_CODE_PERMANENTFLAGS, CA_FLAGLIST, 0 },
	{ "PRIVACYREQUIRED", IMAP_CODE_PRIVACYREQUIRED, CA_RAW, 0 },
	{ "READ-ONLY", IMAP_CODE_READ_ONLY, CA_RAW, 0 },
	{ "READ-WRITE", IMAP_CODE_READ_WRITE, CA_RAW, 0 },
	{ "SERVERBUG", IMAP_CODE_SERVERBUG, CA_RAW, 0 },
	{ "TRYCREATE", IMAP_CODE_TRYCREATE, CA_RAW, 0 },
	{ "UIDNEXT", IMAP_CODE_UIDNEXT, CA_U32, 0 },
	{ "UIDNOTSTICKY", IMAP_CODE_UIDNOTSTICKY, CA_RAW, 0 },
	{ "UIDVALIDITY", IMAP_CODE_UIDVALIDITY, CA_U32, 0 },
	{ "UNAVAILABLE", IMAP_CODE_UNAVAILABLE, CA_RAW, 0 },
	{ "UNSEEN", IMAP_CODE_UNSEEN, CA_U32, 0 },
};

/* Data keywords; numbered: 1 needs "* n KEYWORD", 0 refuses it, -1 both. */
static const struct {
	const char	*name;
	enum imap_data	 data;
	int		 numbered;
} imap_datas[] = {
	{ "CAPABILITY", IMAP_DATA_CAPABILITY, 0 },
	{ "ENABLED", IMAP_DATA_ENABLED, 0 },
	{ "ESEARCH", IMAP_DATA_ESEARCH, 0 },
	{ "EXISTS", IMAP_DATA_EXISTS, 1 },
	{ "EXPUNGE", IMAP_DATA_EXPUNGE, 1 },
	{ "FETCH", IMAP_DATA_FETCH, 1 },
	{ "FLAGS", IMAP_DATA_FLAGS, 0 },
	{ "ID", IMAP_DATA_ID, 0 },
	{ "LIST", IMAP_DATA_LIST, 0 },
	{ "LSUB", IMAP_DATA_LSUB, 0 },
	{ "NAMESPACE", IMAP_DATA_NAMESPACE, 0 },
	{ "RECENT", IMAP_DATA_RECENT, 1 },
	{ "SEARCH", IMAP_DATA_SEARCH, 0 },
	{ "STATUS", IMAP_DATA_STATUS, 0 },
	{ "VANISHED", IMAP_DATA_VANISHED, 0 },
};

static const struct {
	const char		*name;
	enum imap_status	 status;
} imap_statuses[] = {
	{ "OK", IMAP_STATUS_OK },
	{ "NO", IMAP_STATUS_NO },
	{ "BAD", IMAP_STATUS_BAD },
	{ "PREAUTH", IMAP_STATUS_PREAUTH },
	{ "BYE", IMAP_STATUS_BYE },
};

static int	step(struct imap_parser *, unsigned char);
static int	validate(struct imap_parser *);

/* Makes untrusted bytes printable for an error message: \ooo escapes,
 * backslash and quote escaped. The result is at most 4 * len + 1 bytes. */
static void
sanitize(char *out, const unsigned char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"') {
			*out++ = '\\';
			*out++ = s[i];
		} else if (s[i] >= 0x20 && s[i] < 0x7f)
			*out++ = s[i];
		else {
			snprintf(out, 5, "\\%03o", s[i]);
			out += 4;
		}
	}
	*out = '\0';
}

/* A byte as it appears in an error: 'x' or \ooo. */
static const char *
byte_name(unsigned char c, char *buf, size_t size)
{
	if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "\\%03o", c);
	return (buf);
}

/* Puts the parser in error with what went wrong and where. */
static int printflike(2, 3)
parse_error(struct imap_parser *p, const char *fmt, ...)
{
	char		 what[256], near[RING_SIZE * 4 + 1];
	unsigned char	 recent[RING_SIZE];
	size_t		 i, start;
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);

	start = (p->ringpos + RING_SIZE - p->ringlen) % RING_SIZE;
	for (i = 0; i < p->ringlen; i++)
		recent[i] = p->ring[(start + i) % RING_SIZE];
	sanitize(near, recent, p->ringlen);

	free(p->error);
	xasprintf(&p->error, "%s at byte %llu of the response (after \"%s\")",
	    what, (unsigned long long)p->off, near);
	p->err_state = p->state;
	p->state = S_ERROR;
	return (R_ERR);
}

/* Appends one byte to the arena, within the response cap. */
static int
arena_put(struct imap_parser *p, char c)
{
	size_t	size;

	if (p->alen >= p->asize) {
		if (p->alen >= p->lim.max_response + 1)
			return (parse_error(p, "response too large (more than "
			    "%zu bytes)", p->lim.max_response));
		size = p->asize < 256 ? 256 : p->asize * 2;
		if (size > p->lim.max_response + 1)
			size = p->lim.max_response + 1;
		p->arena = xreallocarray(p->arena, 1, size);
		p->asize = size;
	}
	p->arena[p->alen++] = c;
	return (0);
}

/* Makes room for n more arena bytes at once (a buffered literal). */
static int
arena_reserve(struct imap_parser *p, size_t n)
{
	size_t	size;

	if (n > p->lim.max_response + 1 - p->alen)
		return (parse_error(p, "response too large (more than %zu "
		    "bytes)", p->lim.max_response));
	if (p->alen + n <= p->asize)
		return (0);
	size = p->alen + n;
	if (size < p->asize * 2)
		size = p->asize * 2;
	if (size > p->lim.max_response + 1)
		size = p->lim.max_response + 1;
	p->arena = xreallocarray(p->arena, 1, size);
	p->asize = size;
	return (0);
}

/* Starts a token in the arena. */
static void
tok_begin(struct imap_parser *p)
{
	p->tok = p->alen;
}

/* Ends the token: NUL-terminates it and returns its offset. */
static int
tok_end(struct imap_parser *p, size_t *off)
{
	if (arena_put(p, '\0') != 0)
		return (-1);
	*off = p->tok;
	return (0);
}

/* Adds a node as the last item of the innermost open list (or, for a root,
 * to no list). Returns its index, or NONE after an error. */
static size_t
node_add(struct imap_parser *p, enum imap_node_type type, int root)
{
	struct imap_node	*n, *list;
	size_t			 i, size;

	if (p->nnodes >= p->lim.max_nodes) {
		parse_error(p, "too many items in one response (more than "
		    "%zu)", p->lim.max_nodes);
		return (NONE);
	}
	if (p->nnodes == p->nsize) {
		size = p->nsize < 16 ? 16 : p->nsize * 2;
		if (size > p->lim.max_nodes)
			size = p->lim.max_nodes;
		p->nodes = xreallocarray(p->nodes, size, sizeof *p->nodes);
		p->nsize = size;
	}
	i = p->nnodes++;
	n = &p->nodes[i];
	memset(n, 0, sizeof *n);
	n->type = type;
	n->p_off = n->p_child = n->p_last = n->p_next = NONE;
	if (root)
		return (i);

	list = &p->nodes[p->stack[p->depth]];
	if (list->p_last == NONE)
		list->p_child = i;
	else
		p->nodes[list->p_last].p_next = i;
	list->p_last = i;
	list->len++;
	return (i);
}

/* Opens the root list of a response's items (or a code's arguments). */
static int
tokens_begin(struct imap_parser *p, int in_code)
{
	size_t	i;

	if ((i = node_add(p, IMAP_NODE_LIST, 1)) == NONE)
		return (R_ERR);
	if (in_code)
		p->code_args = i;
	else
		p->args = i;
	p->stack[0] = i;
	p->depth = 0;
	p->in_code = in_code;
	/* Only "* SEARCH n ...": the answer to UID SEARCH, which can be of
	 * any length (a mailbox of 100,000 unseen messages). */
	p->search_stream = !in_code && p->resp.type == IMAP_RESP_UNTAGGED &&
	    p->resp.data == IMAP_DATA_SEARCH && !p->resp.has_number;
	p->search_alen = p->alen;
	p->need_sep = 0;
	p->after_close = 0;
	p->state = S_TOKENS;
	return (R_OK);
}

/* Fills in the pointers of every node and of the response. */
static void
resolve(struct imap_parser *p)
{
	struct imap_response	*r = &p->resp;
	struct imap_node	*n;
	size_t			 i;

	for (i = 0; i < p->nnodes; i++) {
		n = &p->nodes[i];
		n->str = n->p_off == NONE ? NULL : p->arena + n->p_off;
		n->child = n->p_child == NONE ? NULL : &p->nodes[n->p_child];
		n->next = n->p_next == NONE ? NULL : &p->nodes[n->p_next];
	}
	r->tag = p->tag_off == NONE ? NULL : p->arena + p->tag_off;
	r->name = p->name_off == NONE ? NULL : p->arena + p->name_off;
	r->code_name = p->code_name_off == NONE ? NULL :
	    p->arena + p->code_name_off;
	r->code_text = p->code_text_off == NONE ? "" :
	    p->arena + p->code_text_off;
	r->text = p->text_off == NONE ? "" : p->arena + p->text_off;
	r->args = p->args == NONE ? NULL : &p->nodes[p->args];
	r->code_args = p->code_args == NONE ? NULL : &p->nodes[p->code_args];
}

/* Forgets the previous response, keeping the allocations. */
static void
parse_reset(struct imap_parser *p)
{
	p->state = S_START;
	p->off = 0;
	p->linelen = 0;
	p->cr = 0;
	p->ringpos = p->ringlen = 0;
	p->alen = 0;
	p->nnodes = 0;
	p->depth = 0;
	p->in_code = 0;
	p->tag_off = p->name_off = p->code_name_off = NONE;
	p->code_text_off = p->text_off = NONE;
	p->args = p->code_args = NONE;
	p->number_first = 0;
	p->search_stream = p->search_shown = 0;
	p->litnode = p->litkey = NONE;
	p->chunk = NULL;
	p->chunklen = 0;
	p->chunklast = 0;
	free(p->skip_why);
	p->skip_why = NULL;
	p->skip_lit = p->skip_num = 0;
	p->skip_brace = 0;
	memset(&p->resp, 0, sizeof p->resp);
	resolve(p);
}

/* A parser with the given caps (zero fields and NULL take defaults). */
struct imap_parser *
imap_parse_new(const struct imap_parse_limits *lim)
{
	struct imap_parser	*p;

	p = xcalloc(1, sizeof *p);
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.max_line == 0)
		p->lim.max_line = DEF_MAX_LINE;
	if (p->lim.max_response == 0)
		p->lim.max_response = DEF_MAX_RESPONSE;
	if (p->lim.max_buffered == 0)
		p->lim.max_buffered = DEF_MAX_BUFFERED;
	if (p->lim.max_literal == 0)
		p->lim.max_literal = DEF_MAX_LITERAL;
	if (p->lim.max_literal > MAX_U63)
		p->lim.max_literal = MAX_U63;
	if (p->lim.max_nodes == 0)
		p->lim.max_nodes = DEF_MAX_NODES;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = DEF_MAX_DEPTH;
	if (p->lim.max_depth > MAX_DEPTH)
		p->lim.max_depth = MAX_DEPTH;
	if (p->lim.max_response > SIZE_MAX / 2)
		p->lim.max_response = SIZE_MAX / 2;
	p->stack = xreallocarray(NULL, p->lim.max_depth + 1,
	    sizeof *p->stack);
	parse_reset(p);
	return (p);
}

/* Frees the parser and every response it holds. */
void
imap_parse_free(struct imap_parser *p)
{
	if (p == NULL)
		return;
	free(p->arena);
	free(p->nodes);
	free(p->stack);
	free(p->error);
	free(p->skip_why);
	free(p);
}

/* Characters of an atom (RFC 3501 ATOM-CHAR, plus what flags, sequence
 * sets and astrings need: '\', '*', '%', and ']' outside a code). */
static int
is_atom_char(unsigned char c, int in_code)
{
	if (c <= 0x20 || c >= 0x7f)
		return (0);
	switch (c) {
	case '(':
	case ')':
	case '{':
	case '"':
		return (0);
	case ']':
		return (!in_code);
	}
	return (1);
}

/* Whether an arena string is a decimal number; its value in *v, and -1
 * when it does not fit 63 bits. */
static int
parse_digits(const char *s, uint64_t *v)
{
	uint64_t	n = 0;
	unsigned	d;

	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return (0);
		d = *s - '0';
		if (n > (MAX_U63 - d) / 10)
			return (-1);
		n = n * 10 + d;
	}
	*v = n;
	return (1);
}

/* Finishes the response: fills the pointers, then checks the shape of the
 * responses the session relies on. */
static int
finish(struct imap_parser *p)
{
	resolve(p);
	if (validate(p) != 0)
		return (R_ERR);
	p->state = S_DONE;
	return (R_RESPONSE);
}

/* The first byte: a tag, '*' or '+'. */
static int
st_start(struct imap_parser *p, unsigned char c)
{
	char	b[8];

	if (c == '*') {
		p->resp.type = IMAP_RESP_UNTAGGED;
		p->state = S_STAR;
		return (R_OK);
	}
	if (c == '+') {
		p->resp.type = IMAP_RESP_CONTINUATION;
		p->state = S_PLUS;
		return (R_OK);
	}
	if (c == '\n')
		return (parse_error(p, "empty line"));
	if (!is_atom_char(c, 0))
		return (parse_error(p, "expected a tag, '*' or '+', got %s",
		    byte_name(c, b, sizeof b)));
	p->resp.type = IMAP_RESP_TAGGED;
	tok_begin(p);
	p->state = S_TAG;
	return (R_AGAIN);
}

/* The tag of a tagged response, up to its space. */
static int
st_tag(struct imap_parser *p, unsigned char c)
{
	char	b[8];

	if (is_atom_char(c, 0) && c != '+')
		return (arena_put(p, c) == 0 ? R_OK : R_ERR);
	if (c != ' ')
		return (parse_error(p, "unexpected %s in tag",
		    byte_name(c, b, sizeof b)));
	if (tok_end(p, &p->tag_off) != 0)
		return (R_ERR);
	p->wctx = W_FIRST;
	tok_begin(p);
	p->state = S_WORD;
	return (R_OK);
}

/* The space after '*'. */
static int
st_star(struct imap_parser *p, unsigned char c)
{
	if (c != ' ')
		return (parse_error(p, "expected a space after '*'"));
	p->wctx = W_FIRST;
	tok_begin(p);
	p->state = S_WORD;
	return (R_OK);
}

/* "+ text", "+" alone, or (leniently) "+text". */
static int
st_plus(struct imap_parser *p, unsigned char c)
{
	if (c == '\n')
		return (finish(p));
	tok_begin(p);
	p->state = S_TEXT;
	return (c == ' ' ? R_OK : R_AGAIN);
}

/* The word after the tag or '*': a number, a status or a data keyword. */
static int
first_word(struct imap_parser *p, size_t off)
{
	const char	*w = p->arena + off;
	uint64_t	 v = 0;
	size_t		 i;
	int		 r;

	if (*w == '\0')
		return (parse_error(p, "expected a keyword"));
	if ((r = parse_digits(w, &v)) != 0) {
		if (r == -1 || v > UINT32_MAX)
			return (parse_error(p, "number too large"));
		if (p->resp.type == IMAP_RESP_TAGGED)
			return (parse_error(p, "tagged response must be OK, "
			    "NO or BAD"));
		p->resp.has_number = 1;
		p->resp.number = v;
		p->number_first = 1;
		return (0);
	}
	p->name_off = off;
	for (i = 0; i < nitems(imap_statuses); i++) {
		if (strcasecmp(w, imap_statuses[i].name) == 0) {
			p->resp.status = imap_statuses[i].status;
			break;
		}
	}
	if (p->resp.type == IMAP_RESP_TAGGED &&
	    p->resp.status != IMAP_STATUS_OK &&
	    p->resp.status != IMAP_STATUS_NO &&
	    p->resp.status != IMAP_STATUS_BAD)
		return (parse_error(p, "tagged response must be OK, NO or "
		    "BAD"));
	if (p->resp.status != IMAP_STATUS_NONE)
		return (0);
	p->resp.data = IMAP_DATA_OTHER;
	for (i = 0; i < nitems(imap_datas); i++) {
		if (strcasecmp(w, imap_datas[i].name) == 0) {
			p->resp.data = imap_datas[i].data;
			break;
		}
	}
	return (0);
}

/* The keyword after "* n". */
static int
keyword_word(struct imap_parser *p, size_t off)
{
	const char	*w = p->arena + off;
	size_t		 i;

	if (*w == '\0')
		return (parse_error(p, "expected a keyword after the number"));
	for (i = 0; i < nitems(imap_statuses); i++) {
		if (strcasecmp(w, imap_statuses[i].name) == 0)
			return (parse_error(p, "unexpected number before %s",
			    imap_statuses[i].name));
	}
	p->name_off = off;
	p->resp.data = IMAP_DATA_OTHER;
	for (i = 0; i < nitems(imap_datas); i++) {
		if (strcasecmp(w, imap_datas[i].name) == 0) {
			p->resp.data = imap_datas[i].data;
			break;
		}
	}
	return (0);
}

/* The atom of a response code. */
static int
code_word(struct imap_parser *p, size_t off)
{
	const char	*w = p->arena + off;
	size_t		 i;

	if (*w == '\0')
		return (parse_error(p, "empty response code"));
	p->code_name_off = off;
	p->resp.code = IMAP_CODE_OTHER;
	for (i = 0; i < nitems(imap_codes); i++) {
		if (strcasecmp(w, imap_codes[i].name) == 0) {
			p->resp.code = imap_codes[i].code;
			break;
		}
	}
	return (0);
}

/* An item of a list: number, NIL or atom. */
static int
token_word(struct imap_parser *p, size_t off)
{
	enum imap_node_type	 type = IMAP_NODE_ATOM;
	uint64_t		 v = 0;
	size_t			 i;
	int			 r;

	/* Past 63 bits in a response code: an atom, so that the code's
	 * check decides (a broken HIGHESTMODSEQ costs the client its
	 * CHANGEDSINCE, not the session). */
	if ((r = parse_digits(p->arena + off, &v)) == -1 && !p->in_code)
		return (parse_error(p, "number too large"));
	if (r == 1)
		type = IMAP_NODE_NUMBER;
	else if (strcasecmp(p->arena + off, "NIL") == 0)
		type = IMAP_NODE_NIL;
	if ((i = node_add(p, type, 0)) == NONE)
		return (-1);
	p->nodes[i].p_off = off;
	p->nodes[i].len = p->alen - 1 - off;
	p->nodes[i].num = v;
	return (0);
}

/* Reads an atom-like word; the first byte that cannot belong to it ends it
 * and is looked at again by the next state. */
static int
st_word(struct imap_parser *p, unsigned char c)
{
	size_t	off;
	int	r;

	if (p->wctx == W_TOKEN && c == '[' && !p->in_code) {
		p->state = S_SECTION;
		return (arena_put(p, c) == 0 ? R_OK : R_ERR);
	}
	if (is_atom_char(c, p->wctx != W_TOKEN || p->in_code) &&
	    (p->wctx == W_TOKEN || c != '['))
		return (arena_put(p, c) == 0 ? R_OK : R_ERR);
	if (tok_end(p, &off) != 0)
		return (R_ERR);
	switch (p->wctx) {
	case W_FIRST:
		r = first_word(p, off);
		p->state = S_AFTER_FIRST;
		break;
	case W_KEYWORD:
		r = keyword_word(p, off);
		p->state = S_AFTER_KEYWORD;
		break;
	case W_CODE:
		r = code_word(p, off);
		p->state = S_AFTER_CODE_NAME;
		break;
	default:
		r = token_word(p, off);
		p->state = S_TOKENS;
		p->need_sep = 1;
		p->after_close = 0;
		break;
	}
	return (r == 0 ? R_AGAIN : R_ERR);
}

/* Inside the brackets of BODY[...]: part of the atom, spaces and
 * parentheses included (BODY[HEADER.FIELDS (FROM TO)]). */
static int
st_section(struct imap_parser *p, unsigned char c)
{
	char	b[8];

	if (c == '\n')
		return (parse_error(p, "unterminated section"));
	if (c == ']')
		p->state = S_WORD;
	else if (c < 0x20 || c >= 0x7f || c == '[' || c == '{')
		return (parse_error(p, "unexpected %s in section",
		    byte_name(c, b, sizeof b)));
	return (arena_put(p, c) == 0 ? R_OK : R_ERR);
}

/* After the first word: a number wants a keyword, a status its text, a
 * data keyword its items. */
static int
st_after_first(struct imap_parser *p, unsigned char c)
{
	if (c != ' ' && c != '\n')
		return (parse_error(p, "expected a space after the keyword"));
	if (p->number_first) {
		if (c == '\n')
			return (parse_error(p, "expected a keyword after the "
			    "number"));
		p->wctx = W_KEYWORD;
		tok_begin(p);
		p->state = S_WORD;
		return (R_OK);
	}
	if (p->resp.status != IMAP_STATUS_NONE) {
		if (c == '\n')
			return (finish(p));
		p->state = S_RESP_TEXT;
		return (R_OK);
	}
	if (c == '\n')
		return (finish(p));
	return (tokens_begin(p, 0));
}

/* After "* n KEYWORD": items or the end. */
static int
st_after_keyword(struct imap_parser *p, unsigned char c)
{
	if (c == '\n')
		return (finish(p));
	if (c != ' ')
		return (parse_error(p, "expected a space after the keyword"));
	return (tokens_begin(p, 0));
}

/* resp-text: an optional "[CODE ...]", then text. */
static int
st_resp_text(struct imap_parser *p, unsigned char c)
{
	if (c == '\n')
		return (finish(p));
	if (c == '[') {
		p->wctx = W_CODE;
		tok_begin(p);
		p->state = S_WORD;
		return (R_OK);
	}
	tok_begin(p);
	p->state = S_TEXT;
	return (R_AGAIN);
}

/* How the current code's arguments are read. */
static enum code_args
code_args_kind(enum imap_code code)
{
	size_t	i;

	for (i = 0; i < nitems(imap_codes); i++) {
		if (imap_codes[i].code == code)
			return (imap_codes[i].args);
	}
	return (CA_RAW);
}

/* After the code's atom: ']', or its arguments (tokens or raw text). */
static int
st_after_code_name(struct imap_parser *p, unsigned char c)
{
	char	b[8];

	if (c == ']') {
		p->state = S_AFTER_CODE;
		return (R_OK);
	}
	if (c == '\n')
		return (parse_error(p, "unterminated response code"));
	if (c != ' ')
		return (parse_error(p, "unexpected %s in response code",
		    byte_name(c, b, sizeof b)));
	if (code_args_kind(p->resp.code) != CA_RAW)
		return (tokens_begin(p, 1));
	tok_begin(p);
	p->state = S_CODE_RAW;
	return (R_OK);
}

/* Raw text of a code we do not tokenise, up to ']'. */
static int
st_code_raw(struct imap_parser *p, unsigned char c)
{
	if (c == '\n')
		return (parse_error(p, "unterminated response code"));
	if (c != ']')
		return (arena_put(p, c) == 0 ? R_OK : R_ERR);
	if (tok_end(p, &p->code_text_off) != 0)
		return (R_ERR);
	p->state = S_AFTER_CODE;
	return (R_OK);
}

/* After "]": a space and text, the end, or (leniently) text at once. */
static int
st_after_code(struct imap_parser *p, unsigned char c)
{
	if (c == '\n')
		return (finish(p));
	tok_begin(p);
	p->state = S_TEXT;
	return (c == ' ' ? R_OK : R_AGAIN);
}

/* Human text, kept as sent, up to the line end. */
static int
st_text(struct imap_parser *p, unsigned char c)
{
	if (c != '\n')
		return (arena_put(p, c) == 0 ? R_OK : R_ERR);
	if (tok_end(p, &p->text_off) != 0)
		return (R_ERR);
	return (finish(p));
}

/* Opens a parenthesised list. */
static int
list_open(struct imap_parser *p)
{
	size_t	i;

	if (p->depth >= p->lim.max_depth)
		return (parse_error(p, "lists nested too deeply (more than "
		    "%zu levels)", p->lim.max_depth));
	if ((i = node_add(p, IMAP_NODE_LIST, 0)) == NONE)
		return (R_ERR);
	p->stack[++p->depth] = i;
	p->need_sep = 0;
	return (R_OK);
}

/* Closes the list of a response code: "]". */
static int
code_close(struct imap_parser *p)
{
	if (p->depth > 0)
		return (parse_error(p, "unexpected ']' inside a list"));
	p->in_code = 0;
	p->state = S_AFTER_CODE;
	return (R_OK);
}

/* Whether the SEARCH being streamed has a full batch to show: SEARCH_BATCH
 * numbers, or fewer if the caps are lower (half of max_line, so that the
 * next number fits too). Only after a number at the top level, so that a
 * (MODSEQ n) list, which must come last, is never cut from the end. */
static int
search_batch_full(const struct imap_parser *p)
{
	const struct imap_node	*root;
	size_t			 n;

	if (!p->search_stream || p->depth != 0)
		return (0);
	n = p->nnodes - p->args - 1;
	if (n == 0 || (n < SEARCH_BATCH && n + 1 < p->lim.max_nodes - p->args &&
	    p->linelen < p->lim.max_line / 2))
		return (0);
	root = &p->nodes[p->args];
	return (root->p_last != NONE &&
	    p->nodes[root->p_last].type == IMAP_NODE_NUMBER);
}

/* Shows a batch of SEARCH numbers. Every item of it must be a 32-bit
 * number (the check validate_search makes of a whole response: anything
 * else may only end it, and a batch never ends it). */
static int
search_batch(struct imap_parser *p)
{
	size_t	i;

	for (i = p->args + 1; i < p->nnodes; i++) {
		if (p->nodes[i].type != IMAP_NODE_NUMBER ||
		    p->nodes[i].num > UINT32_MAX)
			return (parse_error(p, "malformed SEARCH response"));
	}
	resolve(p);
	p->search_shown = 1;
	return (R_SEARCH);
}

/* Forgets the batch shown: the line goes on with an empty argument list,
 * and its length counts anew, so only one batch is ever held. */
static void
search_drop(struct imap_parser *p)
{
	struct imap_node	*root = &p->nodes[p->args];

	root->p_child = root->p_last = NONE;
	root->len = 0;
	p->nnodes = p->args + 1;
	p->alen = p->search_alen;
	p->linelen = 0;
	p->search_shown = 0;
}

/* Between the items of a list. */
static int
st_tokens(struct imap_parser *p, unsigned char c)
{
	char	b[8];

	if (c == ' ') {
		p->need_sep = 0;
		return (search_batch_full(p) ? search_batch(p) : R_OK);
	}
	if (c == ')') {
		if (p->depth == 0)
			return (parse_error(p, "unexpected ')'"));
		p->depth--;
		p->need_sep = 1;
		p->after_close = 1;
		return (R_OK);
	}
	if (c == '\n') {
		if (p->depth > 0)
			return (parse_error(p, "end of line inside a list"));
		if (p->in_code)
			return (parse_error(p, "unterminated response code"));
		return (finish(p));
	}
	if (c == ']' && p->in_code)
		return (code_close(p));
	/* ")(" is legal: a multipart BODYSTRUCTURE is "(...)(...) ...". */
	if (p->need_sep && !(c == '(' && p->after_close))
		return (parse_error(p, "expected a space, got %s",
		    byte_name(c, b, sizeof b)));
	p->after_close = 0;
	switch (c) {
	case '(':
		return (list_open(p));
	case '"':
		tok_begin(p);
		p->state = S_QUOTED;
		return (R_OK);
	case '{':
		p->lit8 = 0;
		p->litsize = 0;
		p->state = S_LIT_OPEN;
		return (R_OK);
	case '~':
		p->state = S_TILDE;
		return (R_OK);
	}
	if (!is_atom_char(c, p->in_code))
		return (parse_error(p, "unexpected %s",
		    byte_name(c, b, sizeof b)));
	p->wctx = W_TOKEN;
	tok_begin(p);
	p->state = S_WORD;
	return (R_AGAIN);
}

/* Inside a quoted string. */
static int
st_quoted(struct imap_parser *p, unsigned char c)
{
	size_t	off, i;

	if (c == '\n')
		return (parse_error(p, "unterminated quoted string"));
	if (c == '\\') {
		p->state = S_QUOTED_ESC;
		return (R_OK);
	}
	if (c != '"')
		return (arena_put(p, c) == 0 ? R_OK : R_ERR);
	if (tok_end(p, &off) != 0)
		return (R_ERR);
	if ((i = node_add(p, IMAP_NODE_STRING, 0)) == NONE)
		return (R_ERR);
	p->nodes[i].p_off = off;
	p->nodes[i].len = p->alen - 1 - off;
	p->state = S_TOKENS;
	p->need_sep = 1;
	return (R_OK);
}

/* Only \\ and \" are escapes in a quoted string (RFC 3501 9). */
static int
st_quoted_esc(struct imap_parser *p, unsigned char c)
{
	char	b[8];

	if (c == '\n')
		return (parse_error(p, "unterminated quoted string"));
	if (c != '\\' && c != '"')
		return (parse_error(p, "bad escape \\%s in quoted string",
		    byte_name(c, b, sizeof b)));
	p->state = S_QUOTED;
	return (arena_put(p, c) == 0 ? R_OK : R_ERR);
}

/* "~{" starts a literal8; any other '~' starts an atom. */
static int
st_tilde(struct imap_parser *p, unsigned char c)
{
	if (c == '{') {
		p->lit8 = 1;
		p->litsize = 0;
		p->state = S_LIT_OPEN;
		return (R_OK);
	}
	p->wctx = W_TOKEN;
	tok_begin(p);
	if (arena_put(p, '~') != 0)
		return (R_ERR);
	p->state = S_WORD;
	return (R_AGAIN);
}

/* The digits of {n}, checked against the caps at '}'. */
static int
st_lit_size(struct imap_parser *p, unsigned char c)
{
	unsigned	d;

	if (c >= '0' && c <= '9') {
		d = c - '0';
		if (p->litsize > (MAX_U63 - d) / 10)
			return (parse_error(p, "literal size too large"));
		p->litsize = p->litsize * 10 + d;
		p->state = S_LIT_SIZE;
		return (R_OK);
	}
	if (p->state == S_LIT_OPEN)
		return (parse_error(p, "bad literal size"));
	if (c == '+')
		return (parse_error(p, "non-synchronizing literal {n+} in a "
		    "response"));
	if (c != '}')
		return (parse_error(p, "bad literal size"));
	/* Refuse before a byte of it is read. */
	if (p->litsize > p->lim.max_literal)
		return (parse_error(p, "literal of %llu bytes exceeds the "
		    "limit of %llu", (unsigned long long)p->litsize,
		    (unsigned long long)p->lim.max_literal));
	p->state = S_LIT_EOL;
	return (R_OK);
}

/* The literal's header is complete: add its node and let the owner see
 * it before any of its bytes is consumed. */
static int
st_lit_eol(struct imap_parser *p, unsigned char c)
{
	struct imap_node	*list;
	size_t			 i, prev;

	if (c != '\n')
		return (parse_error(p, "expected end of line after literal "
		    "size"));
	list = &p->nodes[p->stack[p->depth]];
	prev = list->p_last;
	if ((i = node_add(p, IMAP_NODE_LITERAL, 0)) == NONE)
		return (R_ERR);
	p->nodes[i].len = p->litsize;
	p->nodes[i].flags = p->lit8 ? IMAP_NODE_LITERAL8 : 0;
	p->litnode = i;
	p->litkey = NONE;
	if (prev != NONE && p->nodes[prev].type == IMAP_NODE_ATOM)
		p->litkey = prev;
	p->litleft = p->litsize;
	p->litstream = 0;
	p->state = S_LIT_DECIDE;
	resolve(p);
	return (R_LITERAL);
}

/* The literal is over: the line goes on. */
static void
lit_end(struct imap_parser *p)
{
	p->state = S_TOKENS;
	p->need_sep = 1;
	p->after_close = 0;
	p->litsize = 0;
}

/* Applies the owner's decision: stream, or buffer within the caps. */
static int
lit_begin(struct imap_parser *p)
{
	struct imap_node	*n = &p->nodes[p->litnode];

	if (p->litstream) {
		n->flags |= IMAP_NODE_STREAMED;
		p->state = S_LIT_DATA;
		if (p->litleft == 0)
			lit_end(p);
		return (0);
	}
	if (p->litsize > p->lim.max_buffered)
		return (parse_error(p, "literal of %llu bytes is too large to "
		    "buffer (limit %zu)", (unsigned long long)p->litsize,
		    p->lim.max_buffered));
	if (arena_reserve(p, p->litsize + 1) != 0)
		return (-1);
	n->p_off = p->alen;
	p->state = S_LIT_DATA;
	if (p->litleft == 0) {
		p->arena[p->alen++] = '\0';
		lit_end(p);
	}
	return (0);
}

/* Per-byte work common to every state outside literals: position, line
 * length, recent input, CRLF and NUL. Returns -1 on error, 1 when the byte
 * was a CR (consumed), 0 to go on. */
static int
pre_byte(struct imap_parser *p, unsigned char c)
{
	p->off++;
	p->ring[p->ringpos] = c;
	p->ringpos = (p->ringpos + 1) % RING_SIZE;
	if (p->ringlen < RING_SIZE)
		p->ringlen++;
	if (c == '\0')
		return (parse_error(p, "NUL byte outside a literal"));
	if (p->cr && c != '\n')
		return (parse_error(p, "CR not followed by LF"));
	p->cr = 0;
	if (c == '\n') {
		p->linelen = 0;
		return (0);
	}
	if (++p->linelen > p->lim.max_line)
		return (parse_error(p, "line too long (more than %zu bytes)",
		    p->lim.max_line));
	if (c == '\r') {
		p->cr = 1;
		return (1);
	}
	return (0);
}

/* Dispatches one byte to the current state. */
static int
step(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case S_START:
		return (st_start(p, c));
	case S_TAG:
		return (st_tag(p, c));
	case S_STAR:
		return (st_star(p, c));
	case S_PLUS:
		return (st_plus(p, c));
	case S_WORD:
		return (st_word(p, c));
	case S_SECTION:
		return (st_section(p, c));
	case S_AFTER_FIRST:
		return (st_after_first(p, c));
	case S_AFTER_KEYWORD:
		return (st_after_keyword(p, c));
	case S_RESP_TEXT:
		return (st_resp_text(p, c));
	case S_AFTER_CODE_NAME:
		return (st_after_code_name(p, c));
	case S_CODE_RAW:
		return (st_code_raw(p, c));
	case S_AFTER_CODE:
		return (st_after_code(p, c));
	case S_TEXT:
		return (st_text(p, c));
	case S_TOKENS:
		return (st_tokens(p, c));
	case S_QUOTED:
		return (st_quoted(p, c));
	case S_QUOTED_ESC:
		return (st_quoted_esc(p, c));
	case S_TILDE:
		return (st_tilde(p, c));
	case S_LIT_OPEN:
	case S_LIT_SIZE:
		return (st_lit_size(p, c));
	case S_LIT_EOL:
		return (st_lit_eol(p, c));
	default:
		break;
	}
	return (parse_error(p, "internal error: byte in state %d", p->state));
}

/* One byte outside literals, through as many states as it takes. */
static int
parse_byte(struct imap_parser *p, unsigned char c)
{
	int	r;

	if ((r = pre_byte(p, c)) != 0)
		return (r == 1 ? R_OK : R_ERR);
	while ((r = step(p, c)) == R_AGAIN)
		/* nothing */;
	return (r);
}

/* Literal bytes: copied into the arena, or handed out as one chunk. */
static int
lit_data(struct imap_parser *p, const unsigned char *s, size_t len,
    size_t *used)
{
	size_t	n;

	n = p->litleft < len ? (size_t)p->litleft : len;
	*used = n;
	p->litleft -= n;
	p->off += n;
	if (p->litstream) {
		p->chunk = s;
		p->chunklen = n;
		p->chunklast = p->litleft == 0;
		if (p->litleft == 0)
			lit_end(p);
		return (IMAP_PARSE_CHUNK);
	}
	memcpy(p->arena + p->alen, s, n);
	p->alen += n;
	if (p->litleft == 0) {
		p->arena[p->alen++] = '\0';
		lit_end(p);
	}
	return (IMAP_PARSE_MORE);
}

/* The event a step's result gives the owner. */
static int
feed_event(int r)
{
	switch (r) {
	case R_RESPONSE:
		return (IMAP_PARSE_RESPONSE);
	case R_LITERAL:
		return (IMAP_PARSE_LITERAL);
	default:
		return (IMAP_PARSE_SEARCH);
	}
}

/* An error in an untagged NAMESPACE (RFC 2342: optional, and nothing
 * but the folder roles' namespaces hangs on it): the response is passed
 * over to its line end, bytes unread, and returned with resp.skipped
 * (review r11 09: an oversized or malformed answer ended every session).
 * Any other error stays one. 1 when skipping. */
static int
skip_begin(struct imap_parser *p)
{
	if (p->resp.type != IMAP_RESP_UNTAGGED ||
	    p->resp.data != IMAP_DATA_NAMESPACE || p->skip_why != NULL)
		return (0);
	p->skip_why = p->error;
	p->error = NULL;
	p->skip_lit = p->skip_num = 0;
	p->skip_brace = 0;
	if (p->err_state == S_LIT_DECIDE || p->err_state == S_LIT_DATA)
		p->skip_lit = p->litleft;	/* the literal, then the line */
	else if (p->ringlen > 0 &&
	    p->ring[(p->ringpos + RING_SIZE - 1) % RING_SIZE] == '\n' &&
	    p->err_state != S_LIT_EOL) {
		p->state = S_DONE;		/* the error was at its end */
		return (1);
	}
	p->state = S_SKIP;
	return (1);
}

/* The skipped response as returned: only its kind and why. */
static void
skip_response(struct imap_parser *p)
{
	memset(&p->resp, 0, sizeof p->resp);
	p->resp.type = IMAP_RESP_UNTAGGED;
	p->resp.data = IMAP_DATA_NAMESPACE;
	p->resp.name = "NAMESPACE";
	p->resp.code_text = p->resp.text = "";
	p->resp.skipped = p->skip_why;
	p->state = S_DONE;
}

/* S_SKIP: passes over bytes up to the line end that ends the response,
 * a literal's bytes included; never buffers. 1 at that line end. */
static int
skip_bytes(struct imap_parser *p, const unsigned char *s, size_t len,
    size_t *i)
{
	unsigned char	c;
	uint64_t	n;

	while (*i < len) {
		if (p->skip_lit > 0) {
			n = len - *i < p->skip_lit ? len - *i : p->skip_lit;
			p->skip_lit -= n;
			*i += n;
			continue;
		}
		c = s[(*i)++];
		if (c == '\n' && p->skip_brace == 2) {
			p->skip_lit = p->skip_num;
			p->skip_brace = 0;
		} else if (c == '\n')
			return (1);
		else if (c == '{') {
			p->skip_brace = 1;
			p->skip_num = 0;
		} else if (p->skip_brace == 1 && c >= '0' && c <= '9' &&
		    p->skip_num < MAX_U63 / 10)
			p->skip_num = p->skip_num * 10 + (c - '0');
		else if (p->skip_brace == 1 && c == '}')
			p->skip_brace = 2;
		else if (!(p->skip_brace == 2 && c == '\r'))
			p->skip_brace = 0;
	}
	return (0);
}

/* Parses until the next event: literal bytes in bulk, the rest by byte. */
int
imap_parse_feed(struct imap_parser *p, const void *buf, size_t len,
    size_t *consumed, char **cause)
{
	const unsigned char	*s = buf;
	size_t			 i = 0, n;
	int			 r;

	*consumed = 0;
	if (p->state == S_DONE)
		parse_reset(p);
	if (p->search_shown)
		search_drop(p);
	p->chunk = NULL;
	p->chunklen = 0;
	for (;;) {
		if (p->state == S_ERROR && !skip_begin(p))
			goto fail;
		if (p->state == S_SKIP && skip_bytes(p, s, len, &i))
			p->state = S_DONE;
		if (p->state == S_DONE && p->skip_why != NULL) {
			skip_response(p);
			*consumed = i;
			return (IMAP_PARSE_RESPONSE);
		}
		if (p->state == S_SKIP) {
			*consumed = i;
			return (IMAP_PARSE_MORE);
		}
		if (p->state == S_LIT_DECIDE && lit_begin(p) != 0) {
			p->state = S_ERROR;	/* looked at above */
			continue;
		}
		if (p->state == S_LIT_DATA && i < len) {
			r = lit_data(p, s + i, len - i, &n);
			i += n;
			if (r == IMAP_PARSE_CHUNK) {
				*consumed = i;
				return (r);
			}
			continue;
		}
		if (i == len) {
			*consumed = i;
			return (IMAP_PARSE_MORE);
		}
		r = parse_byte(p, s[i++]);
		if (r == R_ERR) {
			p->state = S_ERROR;	/* a step may move on after
						 * its error: looked at above */
			continue;
		}
		if (r == R_RESPONSE || r == R_LITERAL || r == R_SEARCH) {
			*consumed = i;
			return (feed_event(r));
		}
	}
fail:
	*consumed = i;
	*cause = xstrdup(p->error);
	return (IMAP_PARSE_ERROR);
}

/* The response being parsed or just completed. */
const struct imap_response *
imap_parse_response(const struct imap_parser *p)
{
	return (&p->resp);
}

/* Whether the parser is between responses. */
int
imap_parse_idle(const struct imap_parser *p)
{
	return (p->state == S_DONE || (p->state == S_START && p->off == 0));
}

/* The literal waiting for the owner's decision, and the atom before it. */
const struct imap_node *
imap_parse_literal(const struct imap_parser *p, const struct imap_node **key)
{
	if (key != NULL)
		*key = NULL;
	if (p->state != S_LIT_DECIDE)
		return (NULL);
	if (key != NULL && p->litkey != NONE)
		*key = &p->nodes[p->litkey];
	return (&p->nodes[p->litnode]);
}

/* Asks for the pending literal as chunks instead of buffered. */
void
imap_parse_literal_stream(struct imap_parser *p)
{
	if (p->state == S_LIT_DECIDE)
		p->litstream = 1;
}

/* The chunk of the last IMAP_PARSE_CHUNK event. */
const void *
imap_parse_chunk(const struct imap_parser *p, size_t *len, int *last)
{
	*len = p->chunklen;
	if (last != NULL)
		*last = p->chunklast;
	return (p->chunk);
}

/* ---- accessors ---------------------------------------------------------- */

/* The n-th item of a list. */
const struct imap_node *
imap_parse_node_at(const struct imap_node *list, size_t n)
{
	const struct imap_node	*c;

	if (list == NULL || list->type != IMAP_NODE_LIST)
		return (NULL);
	for (c = list->child; c != NULL && n > 0; c = c->next)
		n--;
	return (c);
}

/* The text of an item that has one. */
const char *
imap_parse_node_str(const struct imap_node *n, size_t *len)
{
	if (n == NULL || n->str == NULL || n->type == IMAP_NODE_NIL ||
	    n->type == IMAP_NODE_LIST)
		return (NULL);
	if (len != NULL)
		*len = n->len;
	return (n->str);
}

/* A number item that fits 32 bits (sequence numbers, UIDs). */
int
imap_parse_node_u32(const struct imap_node *n, uint32_t *v)
{
	if (n == NULL || n->type != IMAP_NODE_NUMBER || n->num > UINT32_MAX)
		return (-1);
	*v = n->num;
	return (0);
}

/* Whether a list of atoms (flags, capabilities) holds one. */
int
imap_parse_list_has(const struct imap_node *list, const char *atom)
{
	const struct imap_node	*c;

	if (list == NULL || list->type != IMAP_NODE_LIST)
		return (0);
	for (c = list->child; c != NULL; c = c->next) {
		if (c->type == IMAP_NODE_ATOM && strcasecmp(c->str, atom) == 0)
			return (1);
	}
	return (0);
}

/* Whether a capability list, as data or as a code, names cap. */
int
imap_parse_has_capability(const struct imap_response *r, const char *cap)
{
	if (r->data == IMAP_DATA_CAPABILITY)
		return (imap_parse_list_has(r->args, cap));
	if (r->code == IMAP_CODE_CAPABILITY)
		return (imap_parse_list_has(r->code_args, cap));
	return (0);
}

static const struct {
	const char	*name;
	unsigned int	 bit;
} imap_parse_caps[] = {
	{ "STARTTLS", IMAP_CAP_STARTTLS },
	{ "LOGINDISABLED", IMAP_CAP_LOGINDISABLED },
	{ "SASL-IR", IMAP_CAP_SASL_IR },
	{ "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
	{ "AUTH=XOAUTH2", IMAP_CAP_AUTH_XOAUTH2 },
	{ "AUTH=OAUTHBEARER", IMAP_CAP_AUTH_OAUTHBEARER },
	{ "UIDPLUS", IMAP_CAP_UIDPLUS },
	{ "MOVE", IMAP_CAP_MOVE },
	{ "ID", IMAP_CAP_ID },
	{ "IDLE", IMAP_CAP_IDLE },
	{ "IMAP4rev2", IMAP_CAP_IMAP4REV2 },
	{ "COMPRESS=DEFLATE", IMAP_CAP_COMPRESS },
	{ "X-GM-EXT-1", IMAP_CAP_XGM },
	{ "SPECIAL-USE", IMAP_CAP_SPECIAL_USE },
	{ "NAMESPACE", IMAP_CAP_NAMESPACE },
	{ "CONDSTORE", IMAP_CAP_CONDSTORE },
	{ "QRESYNC", IMAP_CAP_CONDSTORE },	/* implies it (RFC 7162) */
	{ "ENABLE", IMAP_CAP_ENABLE },
};

unsigned int
imap_parse_capabilities(const struct imap_response *r)
{
	unsigned int	caps = 0;
	size_t		i;

	for (i = 0; i < sizeof imap_parse_caps / sizeof imap_parse_caps[0];
	    i++) {
		if (imap_parse_has_capability(r, imap_parse_caps[i].name))
			caps |= imap_parse_caps[i].bit;
	}
	return (caps);
}

/* ASCII upper case, whatever the locale. */
static char
item_upper(char c)
{
	return (c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
}

/* Appends one byte to a canonical item name; -1 when it is full. */
static int
item_put(char *out, size_t size, size_t *n, char c)
{
	if (*n + 1 >= size)
		return (-1);
	out[(*n)++] = c;
	out[*n] = '\0';
	return (0);
}

/* A quoted string of an item name (at the opening quote) in canonical
 * form: its content unescaped and upper-cased, as an atom would be, unless
 * it holds a byte an atom cannot (then kept quoted); *in is moved past the
 * closing quote. -1 when unterminated or too long. */
static int
item_quoted(const char **in, char *out, size_t size, size_t *n)
{
	const char	*p = *in + 1, *q;
	int		 atom = p[0] != '"';

	for (q = p; *q != '"'; q++) {
		if (*q == '\0')
			return (-1);
		if (*q == '\\' && *++q == '\0')
			return (-1);
		if (!is_atom_char((unsigned char)*q, 1) || *q == '\\')
			atom = 0;
	}
	if (!atom && item_put(out, size, n, '"') != 0)
		return (-1);
	for (; p < q; p++) {
		if (*p == '\\')
			p++;
		if (!atom && (*p == '"' || *p == '\\') &&
		    item_put(out, size, n, '\\') != 0)
			return (-1);
		if (item_put(out, size, n, atom ? item_upper(*p) : *p) != 0)
			return (-1);
	}
	if (!atom && item_put(out, size, n, '"') != 0)
		return (-1);
	*in = q + 1;
	return (0);
}

/* The canonical form of a FETCH item name: upper case, runs of spaces as
 * one and none next to a parenthesis, header field names (astrings) as
 * atoms where they can be. -1 when malformed or longer than size. */
static int
item_canon(const char *in, char *out, size_t size)
{
	size_t	n = 0;
	int	space = 0;

	out[0] = '\0';
	while (*in != '\0') {
		if (*in == ' ') {
			space = 1;
			in++;
			continue;
		}
		if (space && n > 0 && out[n - 1] != '(' && *in != ')' &&
		    item_put(out, size, &n, ' ') != 0)
			return (-1);
		space = 0;
		if (*in == '"') {
			if (item_quoted(&in, out, size, &n) != 0)
				return (-1);
		} else if (item_put(out, size, &n, item_upper(*in++)) != 0)
			return (-1);
	}
	return (0);
}

/* See imap_parse.h. */
int
imap_parse_item_eq(const char *a, const char *b)
{
	char	ca[IMAP_ITEM_NAME_MAX], cb[IMAP_ITEM_NAME_MAX];
	size_t	na = strcspn(a, "["), nb = strcspn(b, "[");

	if (strcasecmp(a, b) == 0)
		return (1);
	/* Only a section can be written two ways: "UID" against
	 * "BODY[...]" needs no closer look. */
	if (a[na] == '\0' || na != nb || strncasecmp(a, b, na) != 0)
		return (0);
	if (item_canon(a, ca, sizeof ca) != 0 ||
	    item_canon(b, cb, sizeof cb) != 0)
		return (0);
	return (strcmp(ca, cb) == 0);
}

/* The value of a FETCH item. */
const struct imap_node *
imap_parse_fetch_item(const struct imap_response *r, const char *name)
{
	const struct imap_node	*c;

	if (r->data != IMAP_DATA_FETCH || r->args == NULL ||
	    r->args->child == NULL || r->args->child->type != IMAP_NODE_LIST)
		return (NULL);
	for (c = r->args->child->child; c != NULL && c->next != NULL;
	    c = c->next->next) {
		if (c->type == IMAP_NODE_ATOM && imap_parse_item_eq(c->str, name))
			return (c->next);
	}
	return (NULL);
}

/* The value of a STATUS item. */
int
imap_parse_status_item(const struct imap_response *r, const char *name,
    uint64_t *v)
{
	const struct imap_node	*c;

	if (r->data != IMAP_DATA_STATUS)
		return (-1);
	c = imap_parse_node_at(imap_parse_node_at(r->args, 1), 0);
	for (; c != NULL && c->next != NULL; c = c->next->next) {
		if (c->type == IMAP_NODE_ATOM &&
		    c->next->type == IMAP_NODE_NUMBER &&
		    strcasecmp(c->str, name) == 0) {
			*v = c->next->num;
			return (0);
		}
	}
	return (-1);
}

/* ---- validation --------------------------------------------------------- */

/* Every item of the list is an atom. */
static int
all_atoms(const struct imap_node *list)
{
	const struct imap_node	*c;

	if (list == NULL)
		return (1);
	if (list->type != IMAP_NODE_LIST)
		return (0);
	for (c = list->child; c != NULL; c = c->next) {
		if (c->type != IMAP_NODE_ATOM)
			return (0);
	}
	return (1);
}

/* A mailbox name (astring, NIL taken as the atom "NIL"): its text, or
 * NULL when it is not one or holds a NUL. */
static const char *
astring(const struct imap_node *n)
{
	if (n == NULL || n->str == NULL || n->type == IMAP_NODE_LIST)
		return (NULL);
	if (memchr(n->str, '\0', n->len) != NULL)
		return (NULL);
	return (n->str);
}

/* The arguments of a response code. */
static int
validate_code(struct imap_parser *p)
{
	struct imap_response	*r = &p->resp;
	const struct imap_node	*a = r->code_args, *first;
	uint32_t		 u;
	size_t			 i;

	for (i = 0; i < nitems(imap_codes); i++) {
		if (imap_codes[i].code == r->code)
			break;
	}
	if (i == nitems(imap_codes) || imap_codes[i].args == CA_RAW ||
	    imap_codes[i].args == CA_ANY)
		return (0);
	first = imap_parse_node_at(a, 0);
	switch (imap_codes[i].args) {
	case CA_U32:
		if (a == NULL || a->len != 1 || imap_parse_node_u32(first,
		    &u) != 0)
			break;
		r->code_num = u;
		return (0);
	case CA_U63:
		/* Not a number of 1 to 63 bits: code_num 0, which no
		 * mod-sequence is (imap_parse.h). */
		r->code_num = a != NULL && a->len == 1 && first->type ==
		    IMAP_NODE_NUMBER ? first->num : 0;
		return (0);
	case CA_ATOMS:
		if (!all_atoms(a))
			break;
		return (0);
	case CA_FLAGLIST:
		if (a == NULL || a->len != 1 || first->type !=
		    IMAP_NODE_LIST || !all_atoms(first))
			break;
		return (0);
	case CA_UIDSET:
		if (a == NULL || a->len != imap_codes[i].n ||
		    imap_parse_node_u32(first, &u) != 0)
			break;
		r->code_num = u;
		return (0);
	default:
		return (0);
	}
	return (parse_error(p, "malformed [%s] response code", r->code_name));
}

/* LIST and LSUB: (flags) delimiter mailbox [extended data]. */
static int
validate_list(struct imap_response *r)
{
	const struct imap_node	*flags, *delim, *mbox;

	flags = imap_parse_node_at(r->args, 0);
	delim = imap_parse_node_at(r->args, 1);
	mbox = imap_parse_node_at(r->args, 2);
	if (flags == NULL || flags->type != IMAP_NODE_LIST ||
	    !all_atoms(flags) || delim == NULL || mbox == NULL)
		return (-1);
	if (delim->type == IMAP_NODE_STRING && delim->len == 1)
		r->delim = (unsigned char)delim->str[0];
	else if (delim->type != IMAP_NODE_NIL)
		return (-1);
	if ((r->mailbox = astring(mbox)) == NULL)
		return (-1);
	r->flags = flags;
	return (0);
}

/* STATUS: mailbox (name number ...). */
static int
validate_status(struct imap_response *r)
{
	const struct imap_node	*mbox, *items, *c;

	mbox = imap_parse_node_at(r->args, 0);
	items = imap_parse_node_at(r->args, 1);
	if ((r->mailbox = astring(mbox)) == NULL || items == NULL ||
	    items->type != IMAP_NODE_LIST || items->len % 2 != 0)
		return (-1);
	for (c = items->child; c != NULL; c = c->next->next) {
		if (c->type != IMAP_NODE_ATOM ||
		    c->next->type != IMAP_NODE_NUMBER)
			return (-1);
	}
	return (0);
}

/* FETCH: one list of item-name value pairs. */
static int
validate_fetch(struct imap_response *r)
{
	const struct imap_node	*list, *c;

	if (r->args == NULL || r->args->len != 1)
		return (-1);
	list = r->args->child;
	if (list->type != IMAP_NODE_LIST || list->len % 2 != 0)
		return (-1);
	for (c = list->child; c != NULL; c = c->next->next) {
		if (c->type != IMAP_NODE_ATOM)
			return (-1);
	}
	return (0);
}

/* SEARCH: numbers, then maybe (MODSEQ n) (RFC 7162). */
static int
validate_search(struct imap_response *r)
{
	const struct imap_node	*c;
	uint32_t		 u;

	for (c = r->args != NULL ? r->args->child : NULL; c != NULL;
	    c = c->next) {
		if (c->type == IMAP_NODE_LIST && c->next == NULL)
			break;
		if (imap_parse_node_u32(c, &u) != 0)
			return (-1);
	}
	return (0);
}

/* Checks the data responses the session reads through the convenience
 * fields, so that it need not check them again. */
static int
validate_data(struct imap_parser *p)
{
	struct imap_response	*r = &p->resp;
	size_t			 i;
	int			 bad = 0;

	for (i = 0; i < nitems(imap_datas); i++) {
		if (imap_datas[i].data == r->data)
			break;
	}
	if (i < nitems(imap_datas) &&
	    imap_datas[i].numbered != r->has_number)
		return (parse_error(p, r->has_number ? "unexpected number "
		    "before %s" : "%s without a number", imap_datas[i].name));
	switch (r->data) {
	case IMAP_DATA_EXISTS:
	case IMAP_DATA_EXPUNGE:
	case IMAP_DATA_RECENT:
		bad = r->args != NULL && r->args->len != 0;
		break;
	case IMAP_DATA_CAPABILITY:
	case IMAP_DATA_ENABLED:
		bad = !all_atoms(r->args);
		break;
	case IMAP_DATA_FLAGS:
		r->flags = imap_parse_node_at(r->args, 0);
		bad = r->args == NULL || r->args->len != 1 ||
		    r->flags->type != IMAP_NODE_LIST || !all_atoms(r->flags);
		break;
	case IMAP_DATA_LIST:
	case IMAP_DATA_LSUB:
		bad = validate_list(r) != 0;
		break;
	case IMAP_DATA_STATUS:
		bad = validate_status(r) != 0;
		break;
	case IMAP_DATA_FETCH:
		bad = validate_fetch(r) != 0;
		break;
	case IMAP_DATA_SEARCH:
		bad = validate_search(r) != 0;
		break;
	default:
		break;
	}
	if (bad)
		return (parse_error(p, "malformed %s response", r->name));
	return (0);
}

/* Checks a complete response's code and data. */
static int
validate(struct imap_parser *p)
{
	if (p->resp.code != IMAP_CODE_NONE && validate_code(p) != 0)
		return (-1);
	if (p->resp.data != IMAP_DATA_NONE && validate_data(p) != 0) {
		p->resp.flags = NULL;
		p->resp.mailbox = NULL;
		return (-1);
	}
	return (0);
}

/* ---- mailbox names ------------------------------------------------------ */

static const char mutf7_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* The value of a modified base64 character, -1 if it is not one. */
static int
mutf7_b64_value(unsigned char c)
{
	const char	*q;

	if (c == '\0' || (q = strchr(mutf7_b64, c)) == NULL)
		return (-1);
	return (q - mutf7_b64);
}

/* Appends a code point as UTF-8. */
static char *
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80)
		*out++ = cp;
	else if (cp < 0x800) {
		*out++ = 0xc0 | (cp >> 6);
		*out++ = 0x80 | (cp & 0x3f);
	} else if (cp < 0x10000) {
		*out++ = 0xe0 | (cp >> 12);
		*out++ = 0x80 | ((cp >> 6) & 0x3f);
		*out++ = 0x80 | (cp & 0x3f);
	} else {
		*out++ = 0xf0 | (cp >> 18);
		*out++ = 0x80 | ((cp >> 12) & 0x3f);
		*out++ = 0x80 | ((cp >> 6) & 0x3f);
		*out++ = 0x80 | (cp & 0x3f);
	}
	return (out);
}

/* Sets *cause for a bad mailbox name, naming it (sanitised, bounded). */
static void
name_error(char **cause, const char *what, const char *s, size_t len)
{
	char	name[64 * 4 + 1];

	sanitize(name, (const unsigned char *)s, len > 64 ? 64 : len);
	xasprintf(cause, "mailbox name \"%s%s\": %s", name,
	    len > 64 ? "..." : "", what);
}

/* Decodes one UTF-16 unit of a shifted sequence into out; *high holds a
 * pending high surrogate. Returns NULL with *what set when invalid. */
static char *
mutf7_unit(char *out, uint32_t u, uint32_t *high, const char **what)
{
	if (*high != 0) {
		if (u < 0xdc00 || u > 0xdfff) {
			*what = "unpaired surrogate";
			return (NULL);
		}
		u = 0x10000 + ((*high - 0xd800) << 10) + (u - 0xdc00);
		*high = 0;
		return (utf8_put(out, u));
	}
	if (u >= 0xd800 && u <= 0xdbff) {
		*high = u;
		return (out);
	}
	if (u >= 0xdc00 && u <= 0xdfff) {
		*what = "unpaired surrogate";
		return (NULL);
	}
	if (u == 0) {
		*what = "encoded NUL";
		return (NULL);
	}
	/* RFC 3501 5.1.3: printable ASCII must represent itself. */
	if (u >= 0x20 && u <= 0x7e) {
		*what = "encoded printable ASCII character";
		return (NULL);
	}
	return (utf8_put(out, u));
}

/* Decodes the base64 run at s[*i] (after '&') up to its '-'. */
static char *
mutf7_run(char *out, const char *s, size_t len, size_t *i, const char **what)
{
	uint32_t	bits = 0, high = 0, u;
	unsigned	nbits = 0;
	int		v;

	for (; *i < len && s[*i] != '-'; (*i)++) {
		if ((v = mutf7_b64_value(s[*i])) == -1) {
			*what = "bad character in a shifted sequence";
			return (NULL);
		}
		bits = (bits << 6) | v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = (bits >> nbits) & 0xffff;
		bits &= (1U << nbits) - 1;
		if ((out = mutf7_unit(out, u, &high, what)) == NULL)
			return (NULL);
	}
	if (*i == len) {
		*what = "unterminated shifted sequence";
		return (NULL);
	}
	if (nbits >= 6 || bits != 0) {
		*what = "bad padding in a shifted sequence";
		return (NULL);
	}
	if (high != 0) {
		*what = "unpaired surrogate";
		return (NULL);
	}
	return (out);
}

/* Modified UTF-7 to UTF-8 (RFC 3501 5.1.3), strictly. */
char *
imap_parse_mutf7_decode(const char *s, size_t len, char **cause)
{
	const char	*what = NULL;
	char		*buf, *out;
	size_t		 i;
	unsigned char	 c;

	if (len > SIZE_MAX / 3 - 1)
		len = SIZE_MAX / 3 - 1;
	out = buf = xmalloc(3 * len + 1);
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c < 0x20 || c > 0x7e) {
			what = "byte outside printable ASCII";
			break;
		}
		if (c != '&') {
			*out++ = c;
			continue;
		}
		if (++i < len && s[i] == '-') {
			*out++ = '&';
			continue;
		}
		if ((out = mutf7_run(out, s, len, &i, &what)) == NULL)
			break;
	}
	if (what != NULL) {
		name_error(cause, what, s, len);
		free(buf);
		return (NULL);
	}
	*out = '\0';
	return (buf);
}

/* Reads one code point of valid UTF-8 at s (overlong forms, surrogates
 * and values above U+10FFFF refused); its length, or 0 if invalid. */
static size_t
utf8_get(const unsigned char *s, uint32_t *cp)
{
	size_t		n, i;
	uint32_t	min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return (1);
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		min = 0x80;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		min = 0x800;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		min = 0x10000;
		*cp = s[0] & 0x07;
	} else
		return (0);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return (0);
	return (n);
}

/* Appends a UTF-16 unit to a shifted sequence. */
static char *
mutf7_put_unit(char *out, uint32_t u, uint32_t *bits, unsigned *nbits)
{
	*bits = (*bits << 16) | u;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		*out++ = mutf7_b64[(*bits >> *nbits) & 0x3f];
	}
	*bits &= (1U << *nbits) - 1;
	return (out);
}

/* Ends a shifted sequence: the last bits, zero-padded, then '-'. */
static char *
mutf7_flush(char *out, uint32_t bits, unsigned nbits)
{
	if (nbits > 0)
		*out++ = mutf7_b64[(bits << (6 - nbits)) & 0x3f];
	*out++ = '-';
	return (out);
}

/* UTF-8 to modified UTF-7, for names written in the config. */
char *
imap_parse_mutf7_encode(const char *s, char **cause)
{
	const unsigned char	*u = (const unsigned char *)s;
	char			*buf, *out;
	size_t			 len = strlen(s), i = 0, n;
	uint32_t		 cp, bits = 0;
	unsigned		 nbits = 0;
	int			 shifted = 0;

	/* At worst one byte becomes "&AAE-" (a control character). */
	out = buf = xreallocarray(NULL, len + 1, 6);
	while (i < len) {
		if ((n = utf8_get(u + i, &cp)) == 0) {
			name_error(cause, "invalid UTF-8", s, len);
			free(buf);
			return (NULL);
		}
		i += n;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted)
				out = mutf7_flush(out, bits, nbits);
			shifted = 0;
			*out++ = cp;
			if (cp == '&')
				*out++ = '-';
			continue;
		}
		if (!shifted) {
			*out++ = '&';
			shifted = 1;
			bits = nbits = 0;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			out = mutf7_put_unit(out, 0xd800 | (cp >> 10), &bits,
			    &nbits);
			cp = 0xdc00 | (cp & 0x3ff);
		}
		out = mutf7_put_unit(out, cp, &bits, &nbits);
	}
	if (shifted)
		out = mutf7_flush(out, bits, nbits);
	*out = '\0';
	return (buf);
}

/* A quoted string for a command, or an error if it cannot be one. */
char *
imap_parse_quote(const void *buf, size_t len, char **cause)
{
	const char	*s = buf;
	char		*q, *out;
	size_t		 i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') {
			xasprintf(cause, "a string with CR, LF or NUL cannot "
			    "be sent as a quoted string");
			return (NULL);
		}
	}
	out = q = xreallocarray(NULL, len + 2, 2);
	*out++ = '"';
	for (i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"')
			*out++ = '\\';
		*out++ = s[i];
	}
	*out++ = '"';
	*out = '\0';
	return (q);
}
