/* pop3_parse.c: POP3 status lines, listings, CAPA and the dot-unstuffing
 * body decoder. Pure functions over bytes; see pop3_parse.h for the rules. */
#include "pop3_parse.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "xmalloc.h"

/* A table of the extended response codes we act on (RFC 2449, RFC 3206). */
static const struct {
	const char	*name;
	enum pop3_code	 code;
} pop3_codes[] = {
	{ "IN-USE", POP3_CODE_IN_USE },
	{ "LOGIN-DELAY", POP3_CODE_LOGIN_DELAY },
	{ "SYS/TEMP", POP3_CODE_SYS_TEMP },
	{ "SYS/PERM", POP3_CODE_SYS_PERM },
	{ "AUTH", POP3_CODE_AUTH },
};

/* Case-insensitive test that [s, s + len) is exactly word. */
static int
word_is(const char *s, size_t len, const char *word)
{
	return (strlen(word) == len && strncasecmp(s, word, len) == 0);
}

/* Splits off the next space-separated field of [*p, end); skips the spaces
 * before it. Returns 0 and the field, or -1 if none is left. */
static int
next_field(const char **p, const char *end, const char **f, size_t *flen)
{
	const char	*s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return (-1);
	*f = s;
	while (s < end && *s != ' ')
		s++;
	*flen = s - *f;
	*p = s;
	return (0);
}

/* Parses a field of decimal digits only (no sign) into *v, up to max. */
static int
parse_number(const char *s, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t	n = 0;
	size_t		i;

	if (len == 0)
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		if (n > (max - (s[i] - '0')) / 10)
			return (-1);
		n = n * 10 + (s[i] - '0');
	}
	*v = n;
	return (0);
}

/* Takes the next field as a number up to max; what names it in errors. */
static int
field_number(const char **p, const char *end, uint64_t max, uint64_t *v,
    const char *what, char **cause)
{
	const char	*f;
	size_t		 flen;

	if (next_field(p, end, &f, &flen) != 0) {
		xasprintf(cause, "missing %s", what);
		return (-1);
	}
	if (parse_number(f, flen, max, v) != 0) {
		xasprintf(cause, "%s is not a number up to %ju", what,
		    (uintmax_t)max);
		return (-1);
	}
	return (0);
}

/* Finds the first CRLF-terminated line, looking no further than the cap. */
ssize_t
pop3_parse_line(const void *buf, size_t len, size_t *linelen)
{
	const char	*s = buf, *lf;
	size_t		 n, off = 0;

	/* A CRLF must end within the first POP3_LINE_MAX bytes. */
	n = len < POP3_LINE_MAX ? len : POP3_LINE_MAX;
	while (off < n && (lf = memchr(s + off, '\n', n - off)) != NULL) {
		if (lf > s && lf[-1] == '\r') {
			*linelen = lf - s - 1;
			return (lf - s + 1);
		}
		off = lf - s + 1;	/* a bare LF belongs to the line */
	}
	if (len >= POP3_LINE_MAX)
		return (-1);
	return (0);
}

/* Recognises the terminator and undoes dot-stuffing on one listing line. */
int
pop3_parse_unstuff(const char **line, size_t *len, unsigned int *anomalies)
{
	if (*len == 0 || (*line)[0] != '.')
		return (0);
	if (*len == 1)
		return (1);
	if ((*line)[1] != '.')
		(*anomalies)++;
	(*line)++;
	(*len)--;
	return (0);
}

/* RFC 2449: rchar is printable ASCII except SP, "/" and "]" (and "["). */
static int
code_char(unsigned char ch)
{
	return (ch > 0x20 && ch < 0x7f && ch != '/' && ch != '[' && ch != ']');
}

/* Checks "level *("/" level)" in [s, s + len). */
static int
code_valid(const char *s, size_t len)
{
	size_t	i, level = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '/') {
			if (level == 0)
				return (0);
			level = 0;
		} else if (code_char(s[i]))
			level++;
		else
			return (0);
	}
	return (level != 0);
}

/* Maps a code's text to a known code, also with sub-levels below it. */
static enum pop3_code
code_lookup(const char *s, size_t len)
{
	size_t	i, n;

	for (i = 0; i < nitems(pop3_codes); i++) {
		n = strlen(pop3_codes[i].name);
		if (len < n || strncasecmp(s, pop3_codes[i].name, n) != 0)
			continue;
		if (len == n || s[n] == '/')
			return (pop3_codes[i].code);
	}
	return (POP3_CODE_OTHER);
}

/* Takes a leading "[code]" and the spaces after it off the reply text. */
static void
status_code(struct pop3_reply *r)
{
	const char	*rb;

	if (r->text_len < 3 || r->text[0] != '[')
		return;
	if ((rb = memchr(r->text, ']', r->text_len)) == NULL)
		return;
	if (!code_valid(r->text + 1, rb - r->text - 1))
		return;
	r->code_str = r->text + 1;
	r->code_len = rb - r->text - 1;
	r->code = code_lookup(r->code_str, r->code_len);
	r->text_len -= rb + 1 - r->text;
	r->text = rb + 1;
	while (r->text_len > 0 && r->text[0] == ' ') {
		r->text++;
		r->text_len--;
	}
}

/* Splits a status line into indicator, optional [code] and text. */
int
pop3_parse_status(const char *line, size_t len, struct pop3_reply *r,
    char **cause)
{
	size_t	skip;

	memset(r, 0, sizeof *r);
	if (len >= 3 && memcmp(line, "+OK", 3) == 0) {
		r->status = POP3_OK;
		skip = 3;
	} else if (len >= 4 && memcmp(line, "-ERR", 4) == 0) {
		r->status = POP3_ERR;
		skip = 4;
	} else if (len >= 1 && line[0] == '+') {
		r->status = POP3_CONT;
		skip = 1;
	} else {
		xasprintf(cause, "status line does not start with +OK, -ERR "
		    "or +");
		return (-1);
	}
	if (len > skip && line[skip] != ' ') {
		xasprintf(cause, "no space after the status indicator");
		return (-1);
	}
	if (len > skip)
		skip++;
	r->text = line + skip;
	r->text_len = len - skip;
	if (r->status != POP3_CONT)
		status_code(r);
	return (0);
}

/* Names a code for logs. */
const char *
pop3_parse_code_name(enum pop3_code code)
{
	size_t	i;

	for (i = 0; i < nitems(pop3_codes); i++) {
		if (pop3_codes[i].code == code)
			return (pop3_codes[i].name);
	}
	if (code == POP3_CODE_OTHER)
		return ("other");
	return ("");
}

/* Copies the APOP timestamp out of a greeting. */
int
pop3_parse_timestamp(const char *text, size_t len,
    char ts[POP3_TIMESTAMP_MAX + 1])
{
	const char	*lt, *gt;
	size_t		 n;

	if ((lt = memchr(text, '<', len)) == NULL)
		return (0);
	for (gt = lt + 1; gt < text + len; gt++) {
		if (*gt == '>')
			break;
		if (*gt < 0x20 || *gt > 0x7e || *gt == '<')
			return (0);
	}
	if (gt == text + len || gt == lt + 1)
		return (0);
	n = gt + 1 - lt;
	if (n > POP3_TIMESTAMP_MAX)
		return (0);
	memcpy(ts, lt, n);
	ts[n] = '\0';
	return (1);
}

/* The two numbers of a STAT or LIST reply, and the check for extra text. */
static int
parse_scan(const char *text, size_t len, uint64_t *a, uint64_t *b,
    const char *what, char **cause)
{
	const char	*p = text, *end = text + len;

	if (field_number(&p, end, UINT_MAX, a, what, cause) != 0)
		return (-1);
	/* RFC 1939 allows text after the size; "12x" is still not a size. */
	if (field_number(&p, end, UINT64_MAX, b, "size", cause) != 0)
		return (-1);
	return (0);
}

/* Parses the STAT reply text. */
int
pop3_parse_stat(const char *text, size_t len, unsigned int *count,
    uint64_t *size, char **cause)
{
	uint64_t	a, b;

	if (parse_scan(text, len, &a, &b, "message count", cause) != 0)
		return (-1);
	*count = a;
	*size = b;
	return (0);
}

/* Parses a scan listing (LIST n reply or LIST line). */
int
pop3_parse_list(const char *text, size_t len, unsigned int *msgno,
    uint64_t *size, char **cause)
{
	uint64_t	a, b;

	if (parse_scan(text, len, &a, &b, "message number", cause) != 0)
		return (-1);
	if (a == 0) {
		xasprintf(cause, "message number 0");
		return (-1);
	}
	*msgno = a;
	*size = b;
	return (0);
}

/* Parses a unique-id listing (UIDL n reply or UIDL line). */
int
pop3_parse_uidl(const char *text, size_t len, unsigned int *msgno,
    char uidl[POP3_UIDL_MAX + 1], char **cause)
{
	const char	*p = text, *end = text + len, *f, *extra;
	size_t		 flen, extralen, i;
	uint64_t	 n;

	if (field_number(&p, end, UINT_MAX, &n, "message number", cause) != 0)
		return (-1);
	if (n == 0) {
		xasprintf(cause, "message number 0");
		return (-1);
	}
	if (next_field(&p, end, &f, &flen) != 0) {
		xasprintf(cause, "missing unique-id");
		return (-1);
	}
	if (flen > POP3_UIDL_MAX) {
		xasprintf(cause, "unique-id too long (%zu characters, at most "
		    "%d)", flen, POP3_UIDL_MAX);
		return (-1);
	}
	for (i = 0; i < flen; i++) {
		if (f[i] < 0x21 || f[i] > 0x7e) {
			xasprintf(cause, "unique-id has a byte 0x%02x outside "
			    "0x21-0x7E", (unsigned char)f[i]);
			return (-1);
		}
	}
	if (next_field(&p, end, &extra, &extralen) == 0) {
		xasprintf(cause, "text after the unique-id");
		return (-1);
	}
	*msgno = n;
	memcpy(uidl, f, flen);
	uidl[flen] = '\0';
	return (0);
}

/* Starts an empty capability set. */
void
pop3_parse_capa_init(struct pop3_capa *capa)
{
	memset(capa, 0, sizeof *capa);
}

/* SASL mechanisms we can use, by name. */
static const struct {
	const char	*name;
	unsigned int	 bit;
} pop3_sasl_mechs[] = {
	{ "PLAIN", POP3_SASL_PLAIN },
	{ "LOGIN", POP3_SASL_LOGIN },
	{ "XOAUTH2", POP3_SASL_XOAUTH2 },
	{ "OAUTHBEARER", POP3_SASL_OAUTHBEARER },
};

/* "SASL mech ...": records the mechanisms we know. */
static void
capa_sasl(struct pop3_capa *capa, const char *p, const char *end)
{
	const char	*f;
	size_t		 flen, i;

	capa->flags |= POP3_CAPA_SASL;
	while (next_field(&p, end, &f, &flen) == 0) {
		for (i = 0; i < nitems(pop3_sasl_mechs); i++) {
			if (word_is(f, flen, pop3_sasl_mechs[i].name))
				capa->sasl |= pop3_sasl_mechs[i].bit;
		}
	}
}

/* "IMPLEMENTATION text": keeps a printable, truncated copy. */
static void
capa_implementation(struct pop3_capa *capa, const char *p, const char *end)
{
	size_t	i, n;

	while (p < end && *p == ' ')
		p++;
	n = end - p;
	if (n > POP3_IMPL_MAX)
		n = POP3_IMPL_MAX;
	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			capa->implementation[i] = '?';
		else
			capa->implementation[i] = p[i];
	}
	capa->implementation[n] = '\0';
	capa->flags |= POP3_CAPA_IMPLEMENTATION;
}

/* "EXPIRE days|NEVER [USER]". */
static int
capa_expire(struct pop3_capa *capa, const char *p, const char *end,
    char **cause)
{
	const char	*f;
	size_t		 flen;
	uint64_t	 v;

	if (next_field(&p, end, &f, &flen) != 0) {
		xasprintf(cause, "EXPIRE without a value");
		return (-1);
	}
	if (word_is(f, flen, "NEVER"))
		v = POP3_EXPIRE_NEVER;
	else if (parse_number(f, flen, POP3_EXPIRE_NEVER - 1, &v) != 0) {
		xasprintf(cause, "EXPIRE value is neither a number of days "
		    "nor NEVER");
		return (-1);
	}
	capa->expire = v;
	capa->flags |= POP3_CAPA_EXPIRE;
	return (0);
}

/* "LOGIN-DELAY seconds [USER]". */
static int
capa_login_delay(struct pop3_capa *capa, const char *p, const char *end,
    char **cause)
{
	uint64_t	v;

	if (field_number(&p, end, UINT32_MAX, &v, "LOGIN-DELAY seconds",
	    cause) != 0)
		return (-1);
	capa->login_delay = v;
	capa->flags |= POP3_CAPA_LOGIN_DELAY;
	return (0);
}

/* Capabilities that are a bare flag. */
static const struct {
	const char	*name;
	unsigned int	 flag;
} pop3_capa_flags[] = {
	{ "TOP", POP3_CAPA_TOP },
	{ "UIDL", POP3_CAPA_UIDL },
	{ "USER", POP3_CAPA_USER },
	{ "STLS", POP3_CAPA_STLS },
	{ "PIPELINING", POP3_CAPA_PIPELINING },
	{ "RESP-CODES", POP3_CAPA_RESP_CODES },
	{ "AUTH-RESP-CODE", POP3_CAPA_AUTH_RESP_CODE },
};

/* Adds one CAPA line to the set. */
int
pop3_parse_capa_line(struct pop3_capa *capa, const char *line, size_t len,
    char **cause)
{
	const char	*p = line, *end = line + len, *tag;
	size_t		 taglen, i;

	if (next_field(&p, end, &tag, &taglen) != 0)
		return (0);	/* an empty line says nothing */
	for (i = 0; i < nitems(pop3_capa_flags); i++) {
		if (word_is(tag, taglen, pop3_capa_flags[i].name)) {
			capa->flags |= pop3_capa_flags[i].flag;
			return (0);
		}
	}
	if (word_is(tag, taglen, "SASL"))
		capa_sasl(capa, p, end);
	else if (word_is(tag, taglen, "IMPLEMENTATION"))
		capa_implementation(capa, p, end);
	else if (word_is(tag, taglen, "EXPIRE"))
		return (capa_expire(capa, p, end, cause));
	else if (word_is(tag, taglen, "LOGIN-DELAY"))
		return (capa_login_delay(capa, p, end, cause));
	return (0);
}

/*
 * The body decoder: a byte-level state table in the style of tmux's
 * input.c. Each state lists byte ranges, searched in order, with the
 * handler to run and the state to go to. The only byte ever held back
 * between calls is a CR (states cr and dot_cr), which is why one byte of
 * output space more than the input always suffices.
 */

struct pop3_body;

struct body_transition {
	unsigned char	 first;
	unsigned char	 last;
	void		(*handler)(struct pop3_body *, unsigned char);
	const struct body_state *state;
};

struct body_state {
	const char			*name;
	const struct body_transition	*transitions;
};

struct pop3_body {
	int			 flags;
	const struct body_state	*state;
	unsigned int		 anomalies;

	/* Output of the current pop3_parse_body_feed call. */
	unsigned char		*out;
	size_t			 outlen;
};

static void	body_emit(struct pop3_body *, unsigned char);
static void	body_emit_cr(struct pop3_body *, unsigned char);
static void	body_emit_cr_ch(struct pop3_body *, unsigned char);
static void	body_line_end(struct pop3_body *, unsigned char);
static void	body_bad_dot(struct pop3_body *, unsigned char);
static void	body_bad_dot_cr(struct pop3_body *, unsigned char);
static void	body_bad_dot_cr_ch(struct pop3_body *, unsigned char);

static const struct body_state body_state_line;
static const struct body_state body_state_dot;
static const struct body_state body_state_dot_cr;
static const struct body_state body_state_text;
static const struct body_state body_state_cr;
static const struct body_state body_state_done;

/* At the start of a line: a dot is held to see what follows. */
static const struct body_transition body_line_table[] = {
	{ '.', '.', NULL, &body_state_dot },
	{ '\r', '\r', NULL, &body_state_cr },
	{ 0x00, 0xff, body_emit, &body_state_text },
};

/* After a dot at the start of a line. */
static const struct body_transition body_dot_table[] = {
	{ '.', '.', body_emit, &body_state_text },	/* stuffed: ".." */
	{ '\r', '\r', NULL, &body_state_dot_cr },
	{ 0x00, 0xff, body_bad_dot, &body_state_text },
};

/* After ".\r" at the start of a line: LF ends the body. */
static const struct body_transition body_dot_cr_table[] = {
	{ '\n', '\n', NULL, &body_state_done },
	{ '\r', '\r', body_bad_dot_cr, &body_state_cr },
	{ 0x00, 0xff, body_bad_dot_cr_ch, &body_state_text },
};

/* Inside a line: everything is content up to a CR. */
static const struct body_transition body_text_table[] = {
	{ '\r', '\r', NULL, &body_state_cr },
	{ 0x00, 0xff, body_emit, &body_state_text },
};

/* After a CR (held): LF makes a line end, anything else a bare CR. */
static const struct body_transition body_cr_table[] = {
	{ '\n', '\n', body_line_end, &body_state_line },
	{ '\r', '\r', body_emit_cr, &body_state_cr },
	{ 0x00, 0xff, body_emit_cr_ch, &body_state_text },
};

static const struct body_transition body_done_table[] = {
	{ 0x00, 0xff, NULL, &body_state_done },
};

static const struct body_state body_state_line = { "line", body_line_table };
static const struct body_state body_state_dot = { "dot", body_dot_table };
static const struct body_state body_state_dot_cr = {
	"dot_cr", body_dot_cr_table
};
static const struct body_state body_state_text = { "text", body_text_table };
static const struct body_state body_state_cr = { "cr", body_cr_table };
static const struct body_state body_state_done = { "done", body_done_table };

/* Writes a content byte. */
static void
body_emit(struct pop3_body *b, unsigned char ch)
{
	b->out[b->outlen++] = ch;
}

/* A CR followed by another CR: the first was a bare CR. */
static void
body_emit_cr(struct pop3_body *b, unsigned char ch)
{
	body_emit(b, '\r');
}

/* A CR followed by neither CR nor LF: a bare CR, then the byte. */
static void
body_emit_cr_ch(struct pop3_body *b, unsigned char ch)
{
	body_emit(b, '\r');
	body_emit(b, ch);
}

/* CRLF: the end of a content line. */
static void
body_line_end(struct pop3_body *b, unsigned char ch)
{
	if (~b->flags & POP3_BODY_CRLF_TO_LF)
		body_emit(b, '\r');
	body_emit(b, '\n');
}

/* A line began with one dot and something else: drop the dot. */
static void
body_bad_dot(struct pop3_body *b, unsigned char ch)
{
	b->anomalies++;
	body_emit(b, ch);
}

/* ".\r\r": an unstuffed dot line with a bare CR; the second CR is held. */
static void
body_bad_dot_cr(struct pop3_body *b, unsigned char ch)
{
	b->anomalies++;
	body_emit(b, '\r');
}

/* ".\rX": an unstuffed dot line with a bare CR, then the byte. */
static void
body_bad_dot_cr_ch(struct pop3_body *b, unsigned char ch)
{
	b->anomalies++;
	body_emit_cr_ch(b, ch);
}

/* Allocates a decoder positioned at the start of a body. */
struct pop3_body *
pop3_parse_body_new(int flags)
{
	struct pop3_body	*b;

	b = xcalloc(1, sizeof *b);
	b->flags = flags;
	pop3_parse_body_reset(b);
	return (b);
}

/* Frees a decoder. */
void
pop3_parse_body_free(struct pop3_body *b)
{
	free(b);
}

/* Prepares the decoder for the next body. */
void
pop3_parse_body_reset(struct pop3_body *b)
{
	b->state = &body_state_line;
	b->anomalies = 0;
	b->out = NULL;
	b->outlen = 0;
}

/* Copies the run of plain content at the start of in (up to a CR), as far
 * as out has room: body_text_table's last transition applied to a whole
 * run at once, because most of a message is mid-line content. */
static size_t
body_text_run(struct pop3_body *b, const unsigned char *in, size_t inlen,
    size_t space)
{
	const unsigned char	*cr;
	size_t			 n;

	n = inlen < space ? inlen : space;
	if ((cr = memchr(in, '\r', n)) != NULL)
		n = cr - in;
	memcpy(b->out + b->outlen, in, n);
	b->outlen += n;
	return (n);
}

/* A CRLF in text whose next line starts with neither "." nor CR: the
 * line end the table would make (cr, then line, then text again), taken
 * at once, the next line's first byte left to the text run. Most lines
 * of a message are such, and three table steps for each were most of the
 * decoder's instructions. How many bytes it took: 0 when the input is
 * another case (or too short to tell) or out has no room, for the table
 * to go on. */
static size_t
body_crlf_run(struct pop3_body *b, const unsigned char *in, size_t inlen,
    size_t space)
{
	size_t	need = (b->flags & POP3_BODY_CRLF_TO_LF) ? 1 : 2;

	if (inlen < 3 || in[0] != '\r' || in[1] != '\n' || in[2] == '.' ||
	    in[2] == '\r' || space < need)
		return (0);
	body_line_end(b, '\n');
	return (2);
}

/* Text runs and plain line ends in turn, as far as they go, without the
 * feed loop's checks between them (body_text_run, body_crlf_run). */
static size_t
body_text_lines(struct pop3_body *b, const unsigned char *in, size_t inlen,
    size_t outsize)
{
	size_t	used = 0, n;

	for (;;) {
		if (used < inlen && in[used] != '\r')
			used += body_text_run(b, in + used, inlen - used,
			    outsize - b->outlen);
		if ((n = body_crlf_run(b, in + used, inlen - used,
		    outsize - b->outlen)) == 0)
			return (used);
		used += n;
	}
}

/* Runs one byte through the table. */
static void
body_byte(struct pop3_body *b, unsigned char ch)
{
	const struct body_transition	*t;

	for (t = b->state->transitions; ch < t->first || ch > t->last; t++)
		/* nothing: the last range of each table is 0x00-0xff */;
	if (t->handler != NULL)
		t->handler(b, ch);
	b->state = t->state;
}

/* Decodes one chunk: the table for state changes, a run copy for text
 * and a shortcut for plain line ends. */
size_t
pop3_parse_body_feed(struct pop3_body *b, const void *in, size_t inlen,
    void *out, size_t outsize, size_t *outlen)
{
	const unsigned char	*p = in;
	size_t			 used = 0, need, n;

	b->out = out;
	b->outlen = 0;
	while (used < inlen && b->state != &body_state_done) {
		/* A held CR may come out together with this byte. */
		if (b->state == &body_state_cr || b->state == &body_state_dot_cr)
			need = 2;
		else
			need = 1;
		if (outsize - b->outlen < need)
			break;
		if (b->state == &body_state_text && (n = body_text_lines(b,
		    p + used, inlen - used, outsize)) > 0) {
			used += n;
			continue;
		}
		body_byte(b, p[used++]);
	}
	*outlen = b->outlen;
	b->out = NULL;
	b->outlen = 0;
	return (used);
}

/* Tells whether the terminator has been consumed. */
int
pop3_parse_body_done(const struct pop3_body *b)
{
	return (b->state == &body_state_done);
}

/* Counts the unstuffed dot lines seen. */
unsigned int
pop3_parse_body_anomalies(const struct pop3_body *b)
{
	return (b->anomalies);
}
