/* fuzz_imap_parse.c: libFuzzer target for the IMAP response parser and the
 * mailbox name helpers.
 *
 * Oracles beyond "no crash, no sanitizer report":
 * - the input fed whole and fed in pieces (cut where a hash of the input
 *   says) gives the same events, chunks and errors (a digest of each);
 * - every chunk points into the piece just fed and literals add up;
 * - modified UTF-7: decode(encode(decode(x))) == decode(x), and valid UTF-8
 *   survives encode then decode;
 * - a quoted string parses back to the bytes quoted. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* FNV-1a, for digests and for the cut positions. */
static uint64_t
hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t	*s = p;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

static uint64_t
hash_str(uint64_t h, const char *s)
{
	return (s == NULL ? hash(h, "\1", 1) : hash(h, s, strlen(s) + 1));
}

static uint64_t
hash_node(uint64_t h, const struct imap_node *n)
{
	const struct imap_node	*c;

	h = hash(h, &n->type, sizeof n->type);
	h = hash(h, &n->flags, sizeof n->flags);
	h = hash(h, &n->len, sizeof n->len);
	h = hash(h, &n->num, sizeof n->num);
	if (n->str != NULL)
		h = hash(h, n->str, n->len);
	for (c = n->child; c != NULL; c = c->next)
		h = hash_node(h, c);
	return (h);
}

/* A digest of a response, touching every accessor on the way. */
static uint64_t
hash_response(uint64_t h, const struct imap_response *r)
{
	uint64_t	v;
	uint32_t	u;
	int		x[8];

	x[0] = r->type;
	x[1] = r->status;
	x[2] = r->code;
	x[3] = r->data;
	x[4] = r->has_number;
	x[5] = r->delim;
	x[6] = imap_parse_has_capability(r, "IDLE");
	x[7] = imap_parse_status_item(r, "UIDNEXT", &v);
	h = hash(h, x, sizeof x);
	h = hash(h, &r->number, sizeof r->number);
	h = hash(h, &r->code_num, sizeof r->code_num);
	h = hash_str(h, r->tag);
	h = hash_str(h, r->name);
	h = hash_str(h, r->code_name);
	h = hash_str(h, r->code_text);
	h = hash_str(h, r->text);
	h = hash_str(h, r->mailbox);
	if (r->args != NULL)
		h = hash_node(h, r->args);
	if (r->code_args != NULL)
		h = hash_node(h, r->code_args);
	if (r->flags != NULL)
		h = hash(h, &r->flags->len, sizeof r->flags->len);
	if (imap_parse_node_u32(imap_parse_fetch_item(r, "UID"), &u) == 0)
		h = hash(h, &u, sizeof u);
	(void)imap_parse_node_str(imap_parse_fetch_item(r, "BODY[]"), NULL);
	return (h);
}

/* Feeds data in pieces (all at once if cut is 0) and returns a digest of
 * everything that came out. */
static uint64_t
run(const uint8_t *data, size_t size, uint64_t cut,
    const struct imap_parse_limits *lim, int stream)
{
	struct imap_parser	*p;
	const struct imap_node	*lit, *key;
	const uint8_t		*chunk;
	uint8_t			*piece;
	uint64_t		 h = 0xcbf29ce484222325ULL, left = 0;
	char			*cause;
	size_t			 off = 0, n, poff, used, clen;
	int			 r, last;

	p = imap_parse_new(lim);
	while (off < size) {
		n = size - off;
		if (cut != 0) {
			n = 1 + cut % 17;
			cut = cut / 17 + (cut % 7) * 0x9e3779b97f4a7c15ULL;
			if (n > size - off)
				n = size - off;
		}
		/* A copy of exactly the piece, so ASan sees any read past it. */
		piece = xmalloc(n);
		memcpy(piece, data + off, n);
		for (poff = 0;;) {
			r = imap_parse_feed(p, piece + poff, n - poff, &used,
			    &cause);
			if (used > n - poff)
				abort();
			poff += used;
			if (r == IMAP_PARSE_MORE) {
				if (poff != n)
					abort();
				break;
			}
			if (r == IMAP_PARSE_ERROR) {
				h = hash_str(h, cause);
				free(cause);
				free(piece);
				goto out;
			}
			if (r == IMAP_PARSE_LITERAL) {
				lit = imap_parse_literal(p, &key);
				if (lit == NULL || left != 0)
					abort();
				left = lit->len;
				h = hash(h, "L", 1);
				h = hash(h, &lit->len, sizeof lit->len);
				h = hash_str(h, key != NULL ? key->str : NULL);
				h = hash_response(h, imap_parse_response(p));
				if (stream)
					imap_parse_literal_stream(p);
				else
					left = 0;
			} else if (r == IMAP_PARSE_CHUNK) {
				chunk = imap_parse_chunk(p, &clen, &last);
				if (clen == 0 || clen > left ||
				    chunk != piece + poff - clen ||
				    last != (clen == left))
					abort();
				left -= clen;
				h = hash(h, chunk, clen);
			} else if (r == IMAP_PARSE_RESPONSE) {
				if (left != 0 || !imap_parse_idle(p))
					abort();
				h = hash(h, "R", 1);
				h = hash_response(h, imap_parse_response(p));
			} else if (r == IMAP_PARSE_SEARCH) {
				if (left != 0 || imap_parse_idle(p))
					abort();
				h = hash(h, "S", 1);
				h = hash_response(h, imap_parse_response(p));
			}
		}
		free(piece);
		off += n;
	}
	h = hash(h, imap_parse_idle(p) ? "I" : "-", 1);
out:
	imap_parse_free(p);
	return (h);
}

/* Modified UTF-7 both ways. */
static void
check_mutf7(const uint8_t *data, size_t size)
{
	char	*s, *dec, *enc, *again, *cause;

	dec = imap_parse_mutf7_decode((const char *)data, size, &cause);
	if (dec == NULL)
		free(cause);
	else {
		if ((enc = imap_parse_mutf7_encode(dec, &cause)) == NULL)
			abort();
		again = imap_parse_mutf7_decode(enc, strlen(enc), &cause);
		if (again == NULL || strcmp(again, dec) != 0)
			abort();
		free(again);
		free(enc);
		free(dec);
	}

	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	if ((enc = imap_parse_mutf7_encode(s, &cause)) == NULL)
		free(cause);
	else {
		dec = imap_parse_mutf7_decode(enc, strlen(enc), &cause);
		if (dec == NULL || strcmp(dec, s) != 0)
			abort();
		free(dec);
		free(enc);
	}
	free(s);
}

/* A quoted string parses back to what was quoted. */
static void
check_quote(const uint8_t *data, size_t size)
{
	struct imap_parser		*p;
	const struct imap_response	*r;
	char				*q, *line, *cause;
	size_t				 used, len;

	if ((q = imap_parse_quote(data, size, &cause)) == NULL) {
		free(cause);
		return;
	}
	len = xasprintf(&line, "* LIST () \"/\" %s\r\n", q);
	p = imap_parse_new(NULL);
	if (imap_parse_feed(p, line, len, &used, &cause) !=
	    IMAP_PARSE_RESPONSE || used != len)
		abort();
	r = imap_parse_response(p);
	if (r->mailbox == NULL || strlen(r->mailbox) != size ||
	    memcmp(r->mailbox, data, size) != 0)
		abort();
	imap_parse_free(p);
	free(line);
	free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parse_limits	 small;
	const struct imap_parse_limits	*lim = NULL;
	uint64_t			 h, cut;
	int				 stream;

	h = hash(0xcbf29ce484222325ULL, data, size);
	cut = h | 1;
	stream = (h >> 60) != 0;	/* mostly stream, sometimes buffer */
	if (h & 0x10) {
		/* Small caps, so that every limit is reachable. */
		memset(&small, 0, sizeof small);
		small.max_line = 200;
		small.max_response = 1024;
		small.max_buffered = 100;
		small.max_literal = 2000;
		small.max_nodes = 64;
		small.max_depth = 6;
		lim = &small;
	}
	if (run(data, size, 0, lim, stream) != run(data, size, cut, lim,
	    stream))
		abort();
	check_mutf7(data, size);
	check_quote(data, size);
	return (0);
}
