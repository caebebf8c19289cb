/* crlf.h: streaming CRLF -> LF conversion for message bodies. Maildir
 * readers expect LF line ends; IMAP and POP3 send CRLF. Only a CR directly
 * followed by LF is dropped: bare CRs, NULs and 8-bit bytes pass through. */
#ifndef MAILFETCHD_CRLF_H
#define MAILFETCHD_CRLF_H

#include <stddef.h>

struct crlf {
	int	pending_cr;	/* the previous chunk ended in CR */
};

/* Resets for a new message. */
void	crlf_init(struct crlf *);
/* Converts len bytes of in into out (room for len + 1 bytes: a CR held
 * back from the previous chunk may come out first). Returns the number of
 * bytes written to out. in and out may be the same buffer only when no CR
 * is pending (crlf.pending_cr == 0). */
size_t	crlf_convert(struct crlf *, const void *in, size_t len, void *out);
/* At the end of the message: 1 if a CR is still held back (the caller
 * writes it out), else 0. Resets the state. */
int	crlf_finish(struct crlf *);

#endif
