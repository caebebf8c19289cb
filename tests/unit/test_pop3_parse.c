/* test_pop3_parse.c: the pure POP3 parser: line reader, status lines and
 * response codes, STAT/LIST/UIDL payloads, CAPA, APOP timestamp, and the
 * dot-unstuffing body decoder fed at every split point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_parse.h"

/* A string literal and its length, NULs included. */
#define S(s)	(s), (sizeof(s) - 1)

/*
 * Decoder harness.
 */

/* What one decoding run produced. */
struct run {
	unsigned char	*out;
	size_t		 outlen;
	size_t		 consumed;
	int		 done;
	unsigned int	 anomalies;
};

static void
run_free(struct run *r)
{
	free(r->out);
	memset(r, 0, sizeof *r);
}

/* Appends n bytes to a run's output. */
static void
run_append(struct run *r, const unsigned char *p, size_t n)
{
	r->out = realloc(r->out, r->outlen + n + 1);
	assert_non_null(r->out);
	memcpy(r->out + r->outlen, p, n);
	r->outlen += n;
}

/*
 * Feeds in[0..len) in chunks: chunk sizes come from sizes[] in turn (0 in
 * the list means "the rest"), each chunk fed with an output buffer of
 * outsize bytes (0: POP3_BODY_OUTSIZE of the chunk), looping until the chunk
 * is consumed or the body ends, as the session will.
 */
static void
run_decode(struct run *r, int flags, const void *in, size_t len,
    const size_t *sizes, size_t nsizes, size_t outsize)
{
	struct pop3_body	*b;
	const unsigned char	*p = in;
	unsigned char		*out;
	size_t			 off = 0, chunk, used, n, outlen, osz, i = 0;

	memset(r, 0, sizeof *r);
	b = pop3_parse_body_new(flags);
	while (off < len && !pop3_parse_body_done(b)) {
		chunk = sizes[i++ % nsizes];
		if (chunk == 0 || chunk > len - off)
			chunk = len - off;
		osz = outsize != 0 ? outsize : POP3_BODY_OUTSIZE(chunk);
		out = malloc(osz);
		assert_non_null(out);
		used = 0;
		while (used < chunk && !pop3_parse_body_done(b)) {
			n = pop3_parse_body_feed(b, p + off + used,
			    chunk - used, out, osz, &outlen);
			/* A big enough buffer takes the whole chunk. */
			if (outsize == 0 && !pop3_parse_body_done(b))
				assert_int_equal(n, chunk - used);
			assert_true(n > 0 || pop3_parse_body_done(b));
			assert_true(outlen <= osz);
			run_append(r, out, outlen);
			used += n;
		}
		free(out);
		off += used;
		if (used < chunk)
			break;
	}
	r->consumed = off;
	r->done = pop3_parse_body_done(b);
	r->anomalies = pop3_parse_body_anomalies(b);
	/* Once done, nothing more is taken. */
	if (r->done && off < len) {
		out = malloc(16);
		assert_int_equal(pop3_parse_body_feed(b, p + off, len - off,
		    out, 16, &outlen), 0);
		assert_int_equal(outlen, 0);
		free(out);
	}
	pop3_parse_body_free(b);
}

static void
run_equal(const struct run *a, const struct run *b)
{
	assert_int_equal(a->outlen, b->outlen);
	if (a->outlen != 0)
		assert_memory_equal(a->out, b->out, a->outlen);
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->done, b->done);
	assert_int_equal(a->anomalies, b->anomalies);
}

/* Decodes whole, then split in two at every position, then one byte at a
 * time, then with a 2-byte output buffer: all must agree. Returns the whole
 * run (caller frees). */
static void
decode_all_ways(struct run *whole, int flags, const void *in, size_t len)
{
	struct run	r;
	size_t		sizes[2], one = 1, all = 0, k;

	run_decode(whole, flags, in, len, &all, 1, 0);
	for (k = 0; k <= len; k++) {
		sizes[0] = k;
		sizes[1] = 0;
		if (k == 0)
			continue;	/* 0 means "the rest": same as whole */
		run_decode(&r, flags, in, len, sizes, 2, 0);
		run_equal(whole, &r);
		run_free(&r);
	}
	run_decode(&r, flags, in, len, &one, 1, 0);
	run_equal(whole, &r);
	run_free(&r);
	run_decode(&r, flags, in, len, &all, 1, 2);
	run_equal(whole, &r);
	run_free(&r);
	run_decode(&r, flags, in, len, &one, 1, 2);
	run_equal(whole, &r);
	run_free(&r);
}

/* One decoder case: input, expected output with and without CRLF->LF. */
struct body_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*raw;		/* CRLF kept */
	size_t		 rawlen;
	const char	*lf;		/* CRLF -> LF */
	size_t		 lflen;
	size_t		 consumed;
	int		 done;
	unsigned int	 anomalies;
};

#define IN(s)	(s), (sizeof(s) - 1)
#define OUT(s)	(s), (sizeof(s) - 1)

static const struct body_case body_cases[] = {
	{ "simple", IN("abc\r\n.\r\n"), OUT("abc\r\n"), OUT("abc\n"),
	    8, 1, 0 },
	{ "empty body", IN(".\r\n"), OUT(""), OUT(""), 3, 1, 0 },
	{ "lone dot line as ..", IN("..\r\n.\r\n"), OUT(".\r\n"),
	    OUT(".\n"), 7, 1, 0 },
	{ "stuffed lines", IN("..abc\r\nx\r\n...\r\n.\r\n"),
	    OUT(".abc\r\nx\r\n..\r\n"), OUT(".abc\nx\n..\n"), 18, 1, 0 },
	{ "dot inside a line", IN("a.b\r\nc.\r\n.\r\n"),
	    OUT("a.b\r\nc.\r\n"), OUT("a.b\nc.\n"), 12, 1, 0 },
	{ "unstuffed dot line", IN(".abc\r\n.\r\n"), OUT("abc\r\n"),
	    OUT("abc\n"), 9, 1, 1 },
	{ "unstuffed dot, bare LF", IN(".\nx\r\n.\r\n"), OUT("\nx\r\n"),
	    OUT("\nx\n"), 8, 1, 1 },
	{ "unstuffed dot, bare CR", IN(".\rX\r\n.\r\n"), OUT("\rX\r\n"),
	    OUT("\rX\n"), 8, 1, 1 },
	{ "unstuffed dot, CR CR LF", IN(".\r\r\n.\r\n"), OUT("\r\r\n"),
	    OUT("\r\n"), 7, 1, 1 },
	{ "empty lines", IN("\r\n\r\n.\r\n"), OUT("\r\n\r\n"), OUT("\n\n"),
	    7, 1, 0 },
	{ "bare CR kept", IN("a\rb\r\r\n\r.\r\n.\r\n"),
	    OUT("a\rb\r\r\n\r.\r\n"), OUT("a\rb\r\n\r.\n"), 13, 1, 0 },
	/* A bare LF is not a line end: "\n.\n" does not end the body and a
	 * dot after a bare LF is content, not stuffing. */
	{ "bare LF kept", IN("a\nb\n.\n..\nc\r\n.\r\n"),
	    OUT("a\nb\n.\n..\nc\r\n"), OUT("a\nb\n.\n..\nc\n"), 15, 1, 0 },
	{ "NUL and 8-bit", IN("\0\xff\x80\r\n\0.\r\n..\xe9\r\n.\r\n"),
	    OUT("\0\xff\x80\r\n\0.\r\n.\xe9\r\n"),
	    OUT("\0\xff\x80\n\0.\n.\xe9\n"), 17, 1, 0 },
	{ "pipelined rest left", IN("x\r\n.\r\n+OK next\r\n"),
	    OUT("x\r\n"), OUT("x\n"), 6, 1, 0 },
	{ "pipelined body after empty body", IN(".\r\n.\r\n"), OUT(""),
	    OUT(""), 3, 1, 0 },
	{ "eof mid line", IN("abc"), OUT("abc"), OUT("abc"), 3, 0, 0 },
	{ "eof after line", IN("abc\r\n"), OUT("abc\r\n"), OUT("abc\n"),
	    5, 0, 0 },
	{ "eof after dot", IN("abc\r\n."), OUT("abc\r\n"), OUT("abc\n"),
	    6, 0, 0 },
	{ "eof after dot CR", IN("abc\r\n.\r"), OUT("abc\r\n"),
	    OUT("abc\n"), 7, 0, 0 },
	{ "no CRLF before dot", IN("abc.\r\n"), OUT("abc.\r\n"),
	    OUT("abc.\n"), 6, 0, 0 },
	{ "LF dot LF is no end", IN("abc\n.\n"), OUT("abc\n.\n"),
	    OUT("abc\n.\n"), 6, 0, 0 },
	{ "dot CRLF after bare CR", IN("a\r.\r\n"), OUT("a\r.\r\n"),
	    OUT("a\r.\n"), 5, 0, 0 },
	{ "empty input", IN(""), OUT(""), OUT(""), 0, 0, 0 },
};

/* Every table case, each way of feeding it, both output modes. */
static void
test_body_cases(void **state)
{
	const struct body_case	*c;
	struct run		 r;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
		c = &body_cases[i];
		print_message("# %s\n", c->name);
		decode_all_ways(&r, 0, c->in, c->inlen);
		assert_int_equal(r.outlen, c->rawlen);
		if (c->rawlen != 0)
			assert_memory_equal(r.out, c->raw, c->rawlen);
		assert_int_equal(r.consumed, c->consumed);
		assert_int_equal(r.done, c->done);
		assert_int_equal(r.anomalies, c->anomalies);
		run_free(&r);

		decode_all_ways(&r, POP3_BODY_CRLF_TO_LF, c->in, c->inlen);
		assert_int_equal(r.outlen, c->lflen);
		if (c->lflen != 0)
			assert_memory_equal(r.out, c->lf, c->lflen);
		assert_int_equal(r.consumed, c->consumed);
		assert_int_equal(r.done, c->done);
		assert_int_equal(r.anomalies, c->anomalies);
		run_free(&r);
	}
}

/* Feeding straight into an exactly sized buffer takes the whole chunk even
 * when a CR was held from the chunk before. */
static void
test_body_outsize_exact(void **state)
{
	struct pop3_body	*b;
	unsigned char		 out[8];
	size_t			 n, outlen;

	(void)state;
	b = pop3_parse_body_new(0);
	n = pop3_parse_body_feed(b, "ab\r", 3, out, POP3_BODY_OUTSIZE(3),
	    &outlen);
	assert_int_equal(n, 3);
	assert_int_equal(outlen, 2);	/* the CR is held */
	n = pop3_parse_body_feed(b, "xyz", 3, out, POP3_BODY_OUTSIZE(3),
	    &outlen);
	assert_int_equal(n, 3);
	assert_int_equal(outlen, 4);
	assert_memory_equal(out, "\rxyz", 4);
	/* One byte of room: stops before the byte that needs two. */
	n = pop3_parse_body_feed(b, "\rq", 2, out, 1, &outlen);
	assert_int_equal(n, 1);
	assert_int_equal(outlen, 0);
	n = pop3_parse_body_feed(b, "q", 1, out, 1, &outlen);
	assert_int_equal(n, 0);
	n = pop3_parse_body_feed(b, "q", 1, out, 2, &outlen);
	assert_int_equal(n, 1);
	assert_memory_equal(out, "\rq", 2);
	pop3_parse_body_free(b);
}

/* reset starts a new body: state and anomaly count cleared. */
static void
test_body_reset(void **state)
{
	struct pop3_body	*b;
	unsigned char		 out[32];
	size_t			 n, outlen;

	(void)state;
	b = pop3_parse_body_new(POP3_BODY_CRLF_TO_LF);
	n = pop3_parse_body_feed(b, S(".x\r\n.\r\n.\r\n"), out, sizeof out,
	    &outlen);
	assert_int_equal(n, 7);
	assert_true(pop3_parse_body_done(b));
	assert_int_equal(pop3_parse_body_anomalies(b), 1);
	pop3_parse_body_reset(b);
	assert_false(pop3_parse_body_done(b));
	assert_int_equal(pop3_parse_body_anomalies(b), 0);
	n = pop3_parse_body_feed(b, S(".\r\n"), out, sizeof out, &outlen);
	assert_int_equal(n, 3);
	assert_int_equal(outlen, 0);
	assert_true(pop3_parse_body_done(b));
	pop3_parse_body_free(b);
	pop3_parse_body_free(NULL);
}

/* One line of n bytes (starting with ".." when stuffed) streamed through
 * in 4 KiB and odd-sized chunks; output is the line with one dot less. */
static void
body_long_line(size_t n, int stuffed)
{
	struct run	 r, r2;
	unsigned char	*in, *want;
	size_t		 len, wantlen, sizes[] = { 4096 }, odd[] = { 1, 7, 4093 };

	len = n + 5;
	in = malloc(len);
	want = malloc(n + 2);
	assert_non_null(in);
	assert_non_null(want);
	memset(in, 'x', n);
	if (stuffed)
		in[0] = in[1] = '.';
	memcpy(in + n, "\r\n.\r\n", 5);
	memcpy(want, in + (stuffed ? 1 : 0), n - (stuffed ? 1 : 0));
	wantlen = n - (stuffed ? 1 : 0);
	memcpy(want + wantlen, "\n", 1);
	wantlen++;

	run_decode(&r, POP3_BODY_CRLF_TO_LF, in, len, sizes, 1, 0);
	assert_true(r.done);
	assert_int_equal(r.consumed, len);
	assert_int_equal(r.outlen, wantlen);
	assert_memory_equal(r.out, want, wantlen);
	/* Odd chunk sizes into a small fixed buffer give the same bytes. */
	run_decode(&r2, POP3_BODY_CRLF_TO_LF, in, len, odd, 3, 1000);
	run_equal(&r, &r2);
	run_free(&r);
	run_free(&r2);
	free(in);
	free(want);
}

static void
test_body_long_lines(void **state)
{
	(void)state;
	body_long_line(8192, 0);
	body_long_line(8192, 1);
	body_long_line(65536, 0);
	body_long_line(65536, 1);
	body_long_line(1024 * 1024, 0);
	body_long_line(1024 * 1024, 1);
}

/* Dot-stuffs a decoded (CRLF) body and appends the terminator, as a server
 * does. Returns a buffer the caller frees. */
static unsigned char *
encode(const unsigned char *body, size_t len, size_t *outlen)
{
	unsigned char	*out;
	size_t		 i, o = 0;
	int		 bol = 1;

	out = malloc(2 * len + 3);
	assert_non_null(out);
	for (i = 0; i < len; i++) {
		if (bol && body[i] == '.')
			out[o++] = '.';
		out[o++] = body[i];
		bol = (body[i] == '\n' && i > 0 && body[i - 1] == '\r');
	}
	memcpy(out + o, ".\r\n", 3);
	*outlen = o + 3;
	return (out);
}

/* Raw input of every shape (unstuffed dots, bare CR and LF, CRLF at
 * chunk edges, with and without the terminator): decoded whole, with a
 * small output buffer, and one byte at a time (which never sees a whole
 * CRLF plus the next byte, so it is the table alone), the results agree,
 * with either line end. */
static void
test_body_random_equiv(void **state)
{
	static const unsigned char alphabet[] = ".\r\nx";
	unsigned char	 in[64];
	struct run	 whole, r;
	size_t		 len, i, round, one = 1, all = 0, outsizes[] = { 2, 3 };
	unsigned int	 seed = 4242;
	int		 flags;

	(void)state;
	for (round = 0; round < 4000; round++) {
		len = rand_r(&seed) % sizeof in;
		for (i = 0; i < len; i++)
			in[i] = alphabet[rand_r(&seed) % 4];
		flags = round % 2 ? POP3_BODY_CRLF_TO_LF : 0;
		run_decode(&whole, flags, in, len, &all, 1, 0);
		run_decode(&r, flags, in, len, &one, 1, 0);
		run_equal(&whole, &r);
		run_free(&r);
		for (i = 0; i < 2; i++) {
			run_decode(&r, flags, in, len, &all, 1, outsizes[i]);
			run_equal(&whole, &r);
			run_free(&r);
		}
		run_free(&whole);
	}
}

/* Random bodies made of the troublesome bytes, stuffed, decoded at random
 * split points: the original comes back, without anomalies. */
static void
test_body_roundtrip(void **state)
{
	static const unsigned char alphabet[] = ".\r\nx\0\xff";
	unsigned char	 body[200], *enc;
	struct run	 r, r2;
	size_t		 len, enclen, sizes[4], i, round;
	unsigned int	 seed = 12345;

	(void)state;
	for (round = 0; round < 2000; round++) {
		len = rand_r(&seed) % (sizeof body - 2);
		for (i = 0; i < len; i++)
			body[i] = alphabet[rand_r(&seed) % 6];
		/* A finished body ends with a line end (the server adds it). */
		body[len++] = '\r';
		body[len++] = '\n';
		enc = encode(body, len, &enclen);
		for (i = 0; i < 4; i++)
			sizes[i] = 1 + rand_r(&seed) % 17;
		run_decode(&r, 0, enc, enclen, sizes, 4, 0);
		assert_true(r.done);
		assert_int_equal(r.consumed, enclen);
		assert_int_equal(r.anomalies, 0);
		assert_int_equal(r.outlen, len);
		assert_memory_equal(r.out, body, len);
		run_decode(&r2, 0, enc, enclen, sizes, 4, 2);
		run_equal(&r, &r2);
		run_free(&r);
		run_free(&r2);
		free(enc);
	}
}

/*
 * Lines.
 */

static void
test_line(void **state)
{
	char	*buf;
	size_t	 linelen;

	(void)state;
	assert_int_equal(pop3_parse_line(S("+OK\r\n"), &linelen), 5);
	assert_int_equal(linelen, 3);
	assert_int_equal(pop3_parse_line(S("\r\n"), &linelen), 2);
	assert_int_equal(linelen, 0);
	assert_int_equal(pop3_parse_line(S("a\r\nb\r\n"), &linelen), 3);
	assert_int_equal(linelen, 1);
	assert_int_equal(pop3_parse_line(S("+OK"), &linelen), 0);
	assert_int_equal(pop3_parse_line(S("+OK\r"), &linelen), 0);
	assert_int_equal(pop3_parse_line(S(""), &linelen), 0);
	/* Bare LF and CR belong to the line. */
	assert_int_equal(pop3_parse_line(S("a\nb\rc\r\n"), &linelen), 7);
	assert_int_equal(linelen, 5);
	assert_int_equal(pop3_parse_line(S("\n\n"), &linelen), 0);

	buf = malloc(POP3_LINE_MAX + 10);
	assert_non_null(buf);
	memset(buf, 'x', POP3_LINE_MAX + 10);
	/* Exactly POP3_LINE_MAX with its CRLF: accepted. */
	memcpy(buf + POP3_LINE_MAX - 2, "\r\n", 2);
	assert_int_equal(pop3_parse_line(buf, POP3_LINE_MAX + 10, &linelen),
	    POP3_LINE_MAX);
	assert_int_equal(linelen, POP3_LINE_MAX - 2);
	/* One more: refused as soon as POP3_LINE_MAX bytes are there. */
	memset(buf, 'x', POP3_LINE_MAX + 10);
	memcpy(buf + POP3_LINE_MAX - 1, "\r\n", 2);
	assert_int_equal(pop3_parse_line(buf, POP3_LINE_MAX + 10, &linelen),
	    -1);
	assert_int_equal(pop3_parse_line(buf, POP3_LINE_MAX, &linelen), -1);
	assert_int_equal(pop3_parse_line(buf, POP3_LINE_MAX - 1, &linelen), 0);
	free(buf);
}

static void
test_unstuff(void **state)
{
	const char	*line;
	size_t		 len;
	unsigned int	 anomalies = 0;

	(void)state;
	line = ".";
	len = 1;
	assert_int_equal(pop3_parse_unstuff(&line, &len, &anomalies), 1);
	line = "..";
	len = 2;
	assert_int_equal(pop3_parse_unstuff(&line, &len, &anomalies), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(line, ".", 1);
	line = "..x";
	len = 3;
	assert_int_equal(pop3_parse_unstuff(&line, &len, &anomalies), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(line, ".x", 2);
	assert_int_equal(anomalies, 0);
	line = ".x";
	len = 2;
	assert_int_equal(pop3_parse_unstuff(&line, &len, &anomalies), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(line, "x", 1);
	assert_int_equal(anomalies, 1);
	line = "x.";
	len = 2;
	assert_int_equal(pop3_parse_unstuff(&line, &len, &anomalies), 0);
	assert_int_equal(len, 2);
	line = "";
	len = 0;
	assert_int_equal(pop3_parse_unstuff(&line, &len, &anomalies), 0);
	assert_int_equal(len, 0);
	assert_int_equal(anomalies, 1);
}

/*
 * Status lines.
 */

struct status_case {
	const char	*line;
	enum pop3_status status;
	enum pop3_code	 code;
	const char	*code_str;	/* NULL: none */
	const char	*text;
};

static const struct status_case status_cases[] = {
	{ "+OK", POP3_OK, POP3_CODE_NONE, NULL, "" },
	{ "+OK ", POP3_OK, POP3_CODE_NONE, NULL, "" },
	{ "+OK Dovecot ready.", POP3_OK, POP3_CODE_NONE, NULL,
	    "Dovecot ready." },
	{ "-ERR", POP3_ERR, POP3_CODE_NONE, NULL, "" },
	{ "-ERR no such message", POP3_ERR, POP3_CODE_NONE, NULL,
	    "no such message" },
	{ "-ERR [IN-USE] Mailbox locked", POP3_ERR, POP3_CODE_IN_USE,
	    "IN-USE", "Mailbox locked" },
	{ "-ERR [LOGIN-DELAY] wait", POP3_ERR, POP3_CODE_LOGIN_DELAY,
	    "LOGIN-DELAY", "wait" },
	{ "-ERR [SYS/TEMP] Try later", POP3_ERR, POP3_CODE_SYS_TEMP,
	    "SYS/TEMP", "Try later" },
	{ "-ERR [SYS/PERM] Disabled", POP3_ERR, POP3_CODE_SYS_PERM,
	    "SYS/PERM", "Disabled" },
	{ "-ERR [AUTH] Authentication failed.", POP3_ERR, POP3_CODE_AUTH,
	    "AUTH", "Authentication failed." },
	{ "-ERR [auth] lower case", POP3_ERR, POP3_CODE_AUTH, "auth",
	    "lower case" },
	{ "-ERR [SYS/TEMP/DISK-FULL] sub-level", POP3_ERR, POP3_CODE_SYS_TEMP,
	    "SYS/TEMP/DISK-FULL", "sub-level" },
	{ "-ERR [SYS] top level only", POP3_ERR, POP3_CODE_OTHER, "SYS",
	    "top level only" },
	{ "-ERR [AUTHX] not AUTH", POP3_ERR, POP3_CODE_OTHER, "AUTHX",
	    "not AUTH" },
	{ "-ERR [X-VENDOR/THING] unknown", POP3_ERR, POP3_CODE_OTHER,
	    "X-VENDOR/THING", "unknown" },
	{ "-ERR [IN-USE]", POP3_ERR, POP3_CODE_IN_USE, "IN-USE", "" },
	{ "-ERR [IN-USE]glued", POP3_ERR, POP3_CODE_IN_USE, "IN-USE",
	    "glued" },
	{ "+OK [SYS/TEMP] odd but allowed", POP3_OK, POP3_CODE_SYS_TEMP,
	    "SYS/TEMP", "odd but allowed" },
	/* Malformed codes stay text. */
	{ "-ERR [IN USE] x", POP3_ERR, POP3_CODE_NONE, NULL, "[IN USE] x" },
	{ "-ERR [] x", POP3_ERR, POP3_CODE_NONE, NULL, "[] x" },
	{ "-ERR [SYS/] x", POP3_ERR, POP3_CODE_NONE, NULL, "[SYS/] x" },
	{ "-ERR [/SYS] x", POP3_ERR, POP3_CODE_NONE, NULL, "[/SYS] x" },
	{ "-ERR [A//B] x", POP3_ERR, POP3_CODE_NONE, NULL, "[A//B] x" },
	{ "-ERR [AUTH", POP3_ERR, POP3_CODE_NONE, NULL, "[AUTH" },
	{ "-ERR x [AUTH]", POP3_ERR, POP3_CODE_NONE, NULL, "x [AUTH]" },
	{ "-ERR  [AUTH] two spaces", POP3_ERR, POP3_CODE_NONE, NULL,
	    " [AUTH] two spaces" },
	/* SASL continuations: no code parsing. */
	{ "+ ", POP3_CONT, POP3_CODE_NONE, NULL, "" },
	{ "+", POP3_CONT, POP3_CODE_NONE, NULL, "" },
	{ "+ dGVzdA==", POP3_CONT, POP3_CODE_NONE, NULL, "dGVzdA==" },
	{ "+ [AUTH]", POP3_CONT, POP3_CODE_NONE, NULL, "[AUTH]" },
};

static void
test_status(void **state)
{
	const struct status_case	*c;
	struct pop3_reply		 r;
	char				*cause = NULL;
	size_t				 i;

	(void)state;
	for (i = 0; i < sizeof status_cases / sizeof status_cases[0]; i++) {
		c = &status_cases[i];
		print_message("# %s\n", c->line);
		assert_int_equal(pop3_parse_status(c->line, strlen(c->line),
		    &r, &cause), 0);
		assert_null(cause);
		assert_int_equal(r.status, c->status);
		assert_int_equal(r.code, c->code);
		if (c->code_str == NULL)
			assert_null(r.code_str);
		else {
			assert_int_equal(r.code_len, strlen(c->code_str));
			assert_memory_equal(r.code_str, c->code_str,
			    r.code_len);
		}
		assert_int_equal(r.text_len, strlen(c->text));
		assert_memory_equal(r.text, c->text, r.text_len);
		/* The pointers are into the line. */
		assert_true(r.text >= c->line &&
		    r.text + r.text_len <= c->line + strlen(c->line));
	}
}

static void
test_status_malformed(void **state)
{
	static const char *bad[] = {
		"", "OK", "+OKAY", "+ok", "-ER", "-ERRX", "-err x", " +OK",
		"*OK", "+OK\tx", "-ERR\r", "+\tx", "ERR",
	};
	struct pop3_reply	 r;
	char			*cause;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		print_message("# case %zu\n", i);
		cause = NULL;
		assert_int_equal(pop3_parse_status(bad[i], strlen(bad[i]), &r,
		    &cause), -1);
		assert_non_null(cause);
		free(cause);
	}
	/* A NUL in the text is just a byte of it. */
	cause = NULL;
	assert_int_equal(pop3_parse_status(S("-ERR a\0b"), &r, &cause), 0);
	assert_int_equal(r.text_len, 3);
}

static void
test_code_name(void **state)
{
	(void)state;
	assert_string_equal(pop3_parse_code_name(POP3_CODE_NONE), "");
	assert_string_equal(pop3_parse_code_name(POP3_CODE_IN_USE), "IN-USE");
	assert_string_equal(pop3_parse_code_name(POP3_CODE_LOGIN_DELAY),
	    "LOGIN-DELAY");
	assert_string_equal(pop3_parse_code_name(POP3_CODE_SYS_TEMP),
	    "SYS/TEMP");
	assert_string_equal(pop3_parse_code_name(POP3_CODE_SYS_PERM),
	    "SYS/PERM");
	assert_string_equal(pop3_parse_code_name(POP3_CODE_AUTH), "AUTH");
	assert_string_equal(pop3_parse_code_name(POP3_CODE_OTHER), "other");
}

static void
test_timestamp(void **state)
{
	char	 ts[POP3_TIMESTAMP_MAX + 1], *big;
	size_t	 n;

	(void)state;
	assert_int_equal(pop3_parse_timestamp(S("POP3 server ready "
	    "<1896.697170952@dbc.mtview.ca.us>"), ts), 1);
	assert_string_equal(ts, "<1896.697170952@dbc.mtview.ca.us>");
	assert_int_equal(pop3_parse_timestamp(S("<a@b> <c@d>"), ts), 1);
	assert_string_equal(ts, "<a@b>");
	assert_int_equal(pop3_parse_timestamp(S("Dovecot ready."), ts), 0);
	assert_int_equal(pop3_parse_timestamp(S("x <> y"), ts), 0);
	assert_int_equal(pop3_parse_timestamp(S("x <abc"), ts), 0);
	assert_int_equal(pop3_parse_timestamp(S("x <a<b@c>"), ts), 0);
	assert_int_equal(pop3_parse_timestamp(S("x <a\x01@b>"), ts), 0);
	assert_int_equal(pop3_parse_timestamp(S("x <a\xe9@b>"), ts), 0);
	assert_int_equal(pop3_parse_timestamp(S("x <a\0@b>"), ts), 0);

	/* The longest that fits, and one more. */
	big = malloc(POP3_TIMESTAMP_MAX + 2);
	assert_non_null(big);
	n = POP3_TIMESTAMP_MAX;
	memset(big, 'a', n);
	big[0] = '<';
	big[n - 1] = '>';
	assert_int_equal(pop3_parse_timestamp(big, n, ts), 1);
	assert_int_equal(strlen(ts), POP3_TIMESTAMP_MAX);
	memset(big, 'a', n + 1);
	big[0] = '<';
	big[n] = '>';
	assert_int_equal(pop3_parse_timestamp(big, n + 1, ts), 0);
	free(big);
}

/*
 * STAT, LIST, UIDL.
 */

static void
test_stat_list(void **state)
{
	unsigned int	 n = 77;
	uint64_t	 size = 77;
	char		*cause = NULL;

	(void)state;
	assert_int_equal(pop3_parse_stat(S("2 320"), &n, &size, &cause), 0);
	assert_int_equal(n, 2);
	assert_int_equal(size, 320);
	assert_int_equal(pop3_parse_stat(S("0 0"), &n, &size, &cause), 0);
	assert_int_equal(n, 0);
	assert_int_equal(size, 0);
	assert_int_equal(pop3_parse_list(S("1 120"), &n, &size, &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(size, 120);
	assert_int_equal(pop3_parse_list(S("3  4500 octets more"), &n, &size,
	    &cause), 0);
	assert_int_equal(n, 3);
	assert_int_equal(size, 4500);
	assert_int_equal(pop3_parse_list(S("4294967295 18446744073709551615"),
	    &n, &size, &cause), 0);
	assert_int_equal(n, 4294967295U);
	assert_true(size == UINT64_MAX);
	assert_null(cause);
}

static void
test_stat_list_bad(void **state)
{
	static const char *bad[] = {
		"", "1", "1 ", "x 1", "1 x", "1 12x", "0 5", "-1 5", "+1 5",
		"1 -5", "4294967296 5", "1 18446744073709551616",
		"99999999999999999999999 1", "1\t5",
	};
	unsigned int	 n = 77;
	uint64_t	 size = 77;
	char		*cause;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		print_message("# '%s'\n", bad[i]);
		cause = NULL;
		assert_int_equal(pop3_parse_list(bad[i], strlen(bad[i]), &n,
		    &size, &cause), -1);
		assert_non_null(cause);
		free(cause);
	}
	assert_int_equal(n, 77);
	assert_int_equal(size, 77);
	cause = NULL;
	assert_int_equal(pop3_parse_stat(S("x 1"), &n, &size, &cause), -1);
	assert_non_null(cause);
	free(cause);
}

static void
test_uidl(void **state)
{
	char		 uidl[POP3_UIDL_MAX + 1], line[128];
	unsigned int	 n;
	char		*cause = NULL;

	(void)state;
	assert_int_equal(pop3_parse_uidl(S("1 whqtswO00WBw418f9t5JxYwZ"), &n,
	    uidl, &cause), 0);
	assert_int_equal(n, 1);
	assert_string_equal(uidl, "whqtswO00WBw418f9t5JxYwZ");
	assert_int_equal(pop3_parse_uidl(S("17 000000017a4b5c6d  "), &n,
	    uidl, &cause), 0);
	assert_int_equal(n, 17);
	assert_string_equal(uidl, "000000017a4b5c6d");
	assert_int_equal(pop3_parse_uidl(S("2 !~"), &n, uidl, &cause), 0);
	assert_string_equal(uidl, "!~");
	/* 70 characters: the longest allowed. */
	snprintf(line, sizeof line, "4294967295 %070d", 7);
	assert_int_equal(pop3_parse_uidl(line, strlen(line), &n, uidl,
	    &cause), 0);
	assert_int_equal(n, 4294967295U);
	assert_int_equal(strlen(uidl), 70);
	assert_null(cause);
}

static void
test_uidl_bad(void **state)
{
	static const struct {
		const char	*line;
		size_t		 len;
	} bad[] = {
		{ S("") }, { S("1") }, { S("1 ") }, { S("0 abc") },
		{ S("abc def") }, { S("x1 abc") }, { S("4294967296 abc") },
		{ S("-1 abc") }, { S("1 abc def") }, { S("1 ab\x7f") },
		{ S("1 a\x01") }, { S("1 a\xe9") }, { S("1 a\0b") },
		{ S("1\tabc") }, { S("1 abc\t") },
	};
	char		 uidl[POP3_UIDL_MAX + 1], line[128];
	unsigned int	 n = 77;
	char		*cause;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		print_message("# case %zu\n", i);
		cause = NULL;
		assert_int_equal(pop3_parse_uidl(bad[i].line, bad[i].len, &n,
		    uidl, &cause), -1);
		assert_non_null(cause);
		free(cause);
	}
	/* 71 characters: too long. */
	snprintf(line, sizeof line, "1 %071d", 7);
	cause = NULL;
	assert_int_equal(pop3_parse_uidl(line, strlen(line), &n, uidl,
	    &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "too long"));
	free(cause);
	assert_int_equal(n, 77);
}

/*
 * CAPA.
 */

/* Reads a whole multi-line CAPA response as the session will: line by
 * line with pop3_parse_line and pop3_parse_unstuff. */
static void
capa_response(struct pop3_capa *capa, const char *resp, size_t len,
    size_t *consumed)
{
	const char	*line;
	size_t		 off = 0, linelen;
	ssize_t		 n;
	unsigned int	 anomalies = 0;
	char		*cause = NULL;

	pop3_parse_capa_init(capa);
	for (;;) {
		n = pop3_parse_line(resp + off, len - off, &linelen);
		assert_true(n > 0);
		line = resp + off;
		off += n;
		if (pop3_parse_unstuff(&line, &linelen, &anomalies))
			break;
		assert_int_equal(pop3_parse_capa_line(capa, line, linelen,
		    &cause), 0);
	}
	assert_int_equal(anomalies, 0);
	*consumed = off;
}

/* Dovecot 2.3's actual CAPA reply (before STLS), then a pipelined line. */
static void
test_capa_dovecot(void **state)
{
	static const char resp[] = "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	    "PIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\n"
	    "SASL PLAIN LOGIN\r\n.\r\n+OK next\r\n";
	struct pop3_capa	 capa;
	size_t			 consumed;

	(void)state;
	capa_response(&capa, resp, sizeof resp - 1, &consumed);
	assert_int_equal(consumed, sizeof resp - 1 - strlen("+OK next\r\n"));
	assert_int_equal(capa.flags, POP3_CAPA_TOP | POP3_CAPA_UIDL |
	    POP3_CAPA_RESP_CODES | POP3_CAPA_PIPELINING |
	    POP3_CAPA_AUTH_RESP_CODE | POP3_CAPA_STLS | POP3_CAPA_USER |
	    POP3_CAPA_SASL);
	assert_int_equal(capa.sasl, POP3_SASL_PLAIN | POP3_SASL_LOGIN);
	assert_string_equal(capa.implementation, "");
}

static void
test_capa_lines(void **state)
{
	struct pop3_capa	 capa;
	char			*cause = NULL, impl[300];

	(void)state;
	pop3_parse_capa_init(&capa);
	assert_int_equal(pop3_parse_capa_line(&capa, S("SASL PLAIN XOAUTH2"),
	    &cause), 0);
	assert_int_equal(capa.sasl, POP3_SASL_PLAIN | POP3_SASL_XOAUTH2);
	assert_int_equal(pop3_parse_capa_line(&capa,
	    S("sasl  oauthbearer CRAM-MD5 plainx"), &cause), 0);
	assert_int_equal(capa.sasl, POP3_SASL_PLAIN | POP3_SASL_XOAUTH2 |
	    POP3_SASL_OAUTHBEARER);
	assert_int_equal(pop3_parse_capa_line(&capa, S("top"), &cause), 0);
	assert_int_equal(pop3_parse_capa_line(&capa, S("LOGIN-DELAY 900"),
	    &cause), 0);
	assert_int_equal(capa.login_delay, 900);
	assert_int_equal(pop3_parse_capa_line(&capa, S("EXPIRE 31 USER"),
	    &cause), 0);
	assert_int_equal(capa.expire, 31);
	assert_int_equal(pop3_parse_capa_line(&capa, S("X-UNKNOWN 1 2"),
	    &cause), 0);
	assert_int_equal(pop3_parse_capa_line(&capa, S(""), &cause), 0);
	assert_int_equal(pop3_parse_capa_line(&capa, S("TOPX"), &cause), 0);
	assert_int_equal(pop3_parse_capa_line(&capa,
	    S("IMPLEMENTATION Shlemazle Plotz v302"), &cause), 0);
	assert_string_equal(capa.implementation, "Shlemazle Plotz v302");
	assert_int_equal(capa.flags, POP3_CAPA_SASL | POP3_CAPA_TOP |
	    POP3_CAPA_LOGIN_DELAY | POP3_CAPA_EXPIRE |
	    POP3_CAPA_IMPLEMENTATION);
	assert_null(cause);

	assert_int_equal(pop3_parse_capa_line(&capa, S("EXPIRE NEVER"),
	    &cause), 0);
	assert_true(capa.expire == POP3_EXPIRE_NEVER);
	assert_int_equal(pop3_parse_capa_line(&capa, S("EXPIRE 0"), &cause),
	    0);
	assert_int_equal(capa.expire, 0);

	/* Unprintable bytes become '?'; long text is cut. */
	assert_int_equal(pop3_parse_capa_line(&capa,
	    S("IMPLEMENTATION a\x1b[2Jb\xe9"), &cause), 0);
	assert_string_equal(capa.implementation, "a?[2Jb?");
	memset(impl, 'z', sizeof impl);
	memcpy(impl, "IMPLEMENTATION ", 15);
	assert_int_equal(pop3_parse_capa_line(&capa, impl, sizeof impl,
	    &cause), 0);
	assert_int_equal(strlen(capa.implementation), POP3_IMPL_MAX);
	assert_null(cause);
}

static void
test_capa_bad(void **state)
{
	static const char *bad[] = {
		"LOGIN-DELAY", "LOGIN-DELAY x", "LOGIN-DELAY -1",
		"LOGIN-DELAY 4294967296", "EXPIRE", "EXPIRE -1",
		"EXPIRE 4294967295", "EXPIRE sometimes",
	};
	struct pop3_capa	 capa, before;
	char			*cause;
	size_t			 i;

	(void)state;
	pop3_parse_capa_init(&capa);
	cause = NULL;
	assert_int_equal(pop3_parse_capa_line(&capa, S("LOGIN-DELAY 60"),
	    &cause), 0);
	assert_int_equal(pop3_parse_capa_line(&capa, S("EXPIRE 5"), &cause),
	    0);
	assert_null(cause);
	before = capa;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		print_message("# '%s'\n", bad[i]);
		cause = NULL;
		assert_int_equal(pop3_parse_capa_line(&capa, bad[i],
		    strlen(bad[i]), &cause), -1);
		assert_non_null(cause);
		free(cause);
		assert_memory_equal(&capa, &before, sizeof capa);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_cases),
		cmocka_unit_test(test_body_outsize_exact),
		cmocka_unit_test(test_body_reset),
		cmocka_unit_test(test_body_long_lines),
		cmocka_unit_test(test_body_roundtrip),
		cmocka_unit_test(test_body_random_equiv),
		cmocka_unit_test(test_line),
		cmocka_unit_test(test_unstuff),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_malformed),
		cmocka_unit_test(test_code_name),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_stat_list),
		cmocka_unit_test(test_stat_list_bad),
		cmocka_unit_test(test_uidl),
		cmocka_unit_test(test_uidl_bad),
		cmocka_unit_test(test_capa_dovecot),
		cmocka_unit_test(test_capa_lines),
		cmocka_unit_test(test_capa_bad),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
