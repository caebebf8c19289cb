/* crlf.c: CRLF -> LF, chunk by chunk, O(1) state. */
#include "crlf.h"

#include <string.h>

void
crlf_init(struct crlf *c)
{
	c->pending_cr = 0;
}

/* A CR at the end of a chunk is held back: only the next chunk can tell
 * whether it was a line end (dropped) or a bare CR (kept). */
size_t
crlf_convert(struct crlf *c, const void *in, size_t len, void *out)
{
	const unsigned char	*p = in, *end = p + len, *cr;
	unsigned char		*o = out;

	if (len == 0)
		return (0);
	if (c->pending_cr) {
		c->pending_cr = 0;
		if (*p != '\n')
			*o++ = '\r';
	}
	while (p < end) {
		if ((cr = memchr(p, '\r', end - p)) == NULL) {
			memmove(o, p, end - p);
			o += end - p;
			break;
		}
		memmove(o, p, cr - p);
		o += cr - p;
		p = cr + 1;
		if (p == end) {
			c->pending_cr = 1;
			break;
		}
		if (*p != '\n')
			*o++ = '\r';
	}
	return (o - (unsigned char *)out);
}

int
crlf_finish(struct crlf *c)
{
	int	pending = c->pending_cr;

	c->pending_cr = 0;
	return (pending);
}
