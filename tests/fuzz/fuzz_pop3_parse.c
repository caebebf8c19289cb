/* fuzz_pop3_parse.c: libFuzzer target for the POP3 parser.
 *
 * The first four bytes steer, the rest is the server's input:
 *   byte 0  bit 0: CRLF->LF for the split run; bits 1-7: output buffer size
 *           for the split run (0: as large as the chunk needs, else 2+n)
 *   bytes 1-3: chunk sizes, used in turn (size = byte + 1)
 *
 * Invariants checked (abort() on failure):
 *   - the body decoded whole and decoded in chunks into small buffers agree
 *     on output, bytes consumed, end seen and anomalies;
 *   - the CRLF->LF output is the CRLF output with each CRLF made LF;
 *   - bytes are consumed to the end of the input unless the body ended;
 *     a finished body is empty or ends with CRLF, and stuffing it again
 *     decodes to the same bytes without anomalies;
 *   - reading the same input line by line (pop3_parse_line and
 *     pop3_parse_unstuff) finds the same end and the same content;
 *   - the single-line parsers, run on every line, keep their pointers
 *     inside the line and their outputs within their stated limits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A growing byte buffer. */
struct buf {
	unsigned char	*p;
	size_t		 len;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if ((b->p = realloc(b->p, b->len + n)) == NULL)
		abort();
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* What one decoding produced. */
struct result {
	struct buf	 out;
	size_t		 consumed;
	int		 done;
	unsigned int	 anomalies;
};

/* Decodes in chunks of sizes[i % 3] into a buffer of outsize bytes (0:
 * POP3_BODY_OUTSIZE of the chunk). */
static void
decode(struct result *r, int flags, const uint8_t *in, size_t len,
    const size_t *sizes, size_t outsize)
{
	struct pop3_body	*b;
	unsigned char		*out;
	size_t			 off = 0, chunk, n, outlen, osz, i = 0;

	memset(r, 0, sizeof *r);
	b = pop3_parse_body_new(flags);
	while (off < len && !pop3_parse_body_done(b)) {
		chunk = sizes[i++ % 3];
		if (chunk > len - off)
			chunk = len - off;
		osz = outsize != 0 ? outsize : POP3_BODY_OUTSIZE(chunk);
		if ((out = malloc(osz)) == NULL)
			abort();
		n = pop3_parse_body_feed(b, in + off, chunk, out, osz, &outlen);
		if (outlen > osz || n > chunk)
			abort();
		if (n == 0 && !pop3_parse_body_done(b))
			abort();	/* no progress */
		if (outsize == 0 && n != chunk && !pop3_parse_body_done(b))
			abort();	/* a big enough buffer takes all */
		buf_add(&r->out, out, outlen);
		free(out);
		off += n;
	}
	r->consumed = off;
	r->done = pop3_parse_body_done(b);
	r->anomalies = pop3_parse_body_anomalies(b);
	pop3_parse_body_free(b);
}

static void
same(const struct result *a, const struct result *b)
{
	if (a->out.len != b->out.len || a->consumed != b->consumed ||
	    a->done != b->done || a->anomalies != b->anomalies)
		abort();
	if (a->out.len != 0 && memcmp(a->out.p, b->out.p, a->out.len) != 0)
		abort();
}

/* The CRLF output with every CRLF turned into LF must be the LF output. */
static void
check_lf(const struct result *crlf, const struct result *lf)
{
	struct buf	conv = { NULL, 0 };
	size_t		i;

	for (i = 0; i < crlf->out.len; i++) {
		if (crlf->out.p[i] == '\r' && i + 1 < crlf->out.len &&
		    crlf->out.p[i + 1] == '\n')
			continue;
		buf_add(&conv, &crlf->out.p[i], 1);
	}
	if (conv.len != lf->out.len ||
	    (conv.len != 0 && memcmp(conv.p, lf->out.p, conv.len) != 0))
		abort();
	free(conv.p);
}

/* Stuffs a finished body again, as a server would, and decodes it. */
static void
check_roundtrip(const struct result *r)
{
	struct buf	enc = { NULL, 0 };
	struct result	again;
	size_t		i, all[3];
	int		bol = 1;

	if (r->out.len != 0 && (r->out.len < 2 ||
	    memcmp(r->out.p + r->out.len - 2, "\r\n", 2) != 0))
		abort();
	for (i = 0; i < r->out.len; i++) {
		if (bol && r->out.p[i] == '.')
			buf_add(&enc, ".", 1);
		buf_add(&enc, &r->out.p[i], 1);
		bol = (r->out.p[i] == '\n' && i > 0 && r->out.p[i - 1] == '\r');
	}
	buf_add(&enc, ".\r\n", 3);
	all[0] = all[1] = all[2] = enc.len;
	decode(&again, 0, enc.p, enc.len, all, 0);
	if (!again.done || again.consumed != enc.len || again.anomalies != 0 ||
	    again.out.len != r->out.len ||
	    (r->out.len != 0 && memcmp(again.out.p, r->out.p, r->out.len) != 0))
		abort();
	free(again.out.p);
	free(enc.p);
}

/* Runs every single-line parser on one line and checks what it returns. */
static void
single_line(const char *line, size_t len)
{
	struct pop3_reply	 r;
	struct pop3_capa	 capa;
	char			 ts[POP3_TIMESTAMP_MAX + 1];
	char			 uidl[POP3_UIDL_MAX + 1];
	char			*cause = NULL;
	unsigned int		 n;
	uint64_t		 size;
	size_t			 i;

	if (pop3_parse_status(line, len, &r, &cause) == 0) {
		if (r.text < line || r.text + r.text_len > line + len)
			abort();
		if (r.code_str != NULL && (r.code_str < line ||
		    r.code_str + r.code_len > line + len || r.code_len == 0))
			abort();
		if ((r.code == POP3_CODE_NONE) != (r.code_str == NULL))
			abort();
		if ((r.code == POP3_CODE_NONE) !=
		    (*pop3_parse_code_name(r.code) == '\0'))
			abort();
		if (pop3_parse_timestamp(r.text, r.text_len, ts) == 1 &&
		    (strlen(ts) < 3 || strlen(ts) > POP3_TIMESTAMP_MAX ||
		    ts[0] != '<' || ts[strlen(ts) - 1] != '>'))
			abort();
	} else if (cause == NULL)
		abort();
	free(cause);
	cause = NULL;

	if (pop3_parse_stat(line, len, &n, &size, &cause) != 0 &&
	    cause == NULL)
		abort();
	free(cause);
	cause = NULL;
	if (pop3_parse_list(line, len, &n, &size, &cause) == 0) {
		if (n == 0)
			abort();
	} else if (cause == NULL)
		abort();
	free(cause);
	cause = NULL;
	if (pop3_parse_uidl(line, len, &n, uidl, &cause) == 0) {
		if (n == 0 || strlen(uidl) < 1 || strlen(uidl) > POP3_UIDL_MAX)
			abort();
		for (i = 0; uidl[i] != '\0'; i++) {
			if (uidl[i] < 0x21 || uidl[i] > 0x7e)
				abort();
		}
	} else if (cause == NULL)
		abort();
	free(cause);
	cause = NULL;

	pop3_parse_capa_init(&capa);
	if (pop3_parse_capa_line(&capa, line, len, &cause) != 0 &&
	    cause == NULL)
		abort();
	free(cause);
	if (strlen(capa.implementation) > POP3_IMPL_MAX)
		abort();
	for (i = 0; capa.implementation[i] != '\0'; i++) {
		if (capa.implementation[i] < 0x20 ||
		    capa.implementation[i] > 0x7e)
			abort();
	}
}

/* Reads the input line by line as the session does for CAPA, UIDL and
 * LIST, runs the single-line parsers, and compares with the decoder. */
static void
check_lines(const struct result *r, const uint8_t *in, size_t len)
{
	struct buf	 out = { NULL, 0 };
	const char	*line;
	size_t		 off = 0, linelen;
	ssize_t		 n;
	unsigned int	 anomalies = 0;
	int		 done = 0;

	while (off < len) {
		n = pop3_parse_line(in + off, len - off, &linelen);
		if (n == -1) {
			free(out.p);
			return;		/* too long: nothing to compare */
		}
		if (n == 0)
			break;
		if ((size_t)n != linelen + 2 || (size_t)n > len - off)
			abort();
		line = (const char *)in + off;
		single_line(line, linelen);
		off += n;
		if (pop3_parse_unstuff(&line, &linelen, &anomalies)) {
			done = 1;
			break;
		}
		buf_add(&out, line, linelen);
		buf_add(&out, "\r\n", 2);
	}
	if (done != r->done)
		abort();
	if (done && (off != r->consumed || anomalies != r->anomalies ||
	    out.len != r->out.len ||
	    (out.len != 0 && memcmp(out.p, r->out.p, out.len) != 0)))
		abort();
	free(out.p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result	whole, whole_lf, split;
	size_t		all[3], sizes[3], outsize = 0;
	int		flags = 0;

	if (size >= 4) {
		flags = (data[0] & 1) ? POP3_BODY_CRLF_TO_LF : 0;
		if ((data[0] >> 1) != 0)
			outsize = 2 + (data[0] >> 1);
		sizes[0] = (size_t)data[1] + 1;
		sizes[1] = (size_t)data[2] + 1;
		sizes[2] = (size_t)data[3] + 1;
		data += 4;
		size -= 4;
	} else
		sizes[0] = sizes[1] = sizes[2] = 1;
	all[0] = all[1] = all[2] = size;

	decode(&whole, 0, data, size, all, 0);
	decode(&whole_lf, POP3_BODY_CRLF_TO_LF, data, size, all, 0);
	decode(&split, flags, data, size, sizes, outsize);
	same(flags ? &whole_lf : &whole, &split);
	check_lf(&whole, &whole_lf);
	if (!whole.done && whole.consumed != size)
		abort();
	if (whole.done)
		check_roundtrip(&whole);
	check_lines(&whole, data, size);

	free(whole.out.p);
	free(whole_lf.out.p);
	free(split.out.p);
	return (0);
}
