/* pop3_parse.h: pure POP3 parsing (RFC 1939, RFC 2449 CAPA and extended
 * response codes, RFC 3206, RFC 5034 continuations). No sockets, no
 * globals: every function works on bytes the caller already holds, so the
 * module can be unit-tested and fuzzed on its own.
 *
 * Line ends: a line ends at CRLF and nowhere else. A bare CR or a bare LF is
 * an ordinary byte of the line, in status lines and in multi-line bodies
 * alike. Reason: RFC 1939 defines lines and dot-stuffing on CRLF, real
 * servers (Dovecot) send CRLF, and treating a bare LF as a line end would let
 * a message containing "\n.\n" that the server did not stuff end the
 * response early: a truncated message taken as complete. The cost is that a
 * server sending bare-LF lines is never understood (it times out), which is
 * the safe failure. */
#ifndef MAILFETCHD_POP3_PARSE_H
#define MAILFETCHD_POP3_PARSE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* Longest line accepted, CRLF included. RFC 2449 caps status lines at 512
 * octets; real servers exceed that in greetings and IMPLEMENTATION texts. */
#define POP3_LINE_MAX		8192
/* RFC 1939: a unique-id is 1 to 70 characters in 0x21-0x7E. */
#define POP3_UIDL_MAX		70
/* Longest APOP timestamp kept, brackets included. */
#define POP3_TIMESTAMP_MAX	256
/* Longest IMPLEMENTATION text kept (longer is truncated). */
#define POP3_IMPL_MAX		128

/*
 * Lines.
 */

/* Looks for one CRLF-terminated line at the start of buf. Returns the number
 * of bytes to consume (the line and its CRLF) and sets *linelen to the line
 * length without CRLF; 0 when more input is needed; -1 when the first
 * POP3_LINE_MAX bytes hold no CRLF (the line is too long: the caller stops
 * reading rather than buffering more). Looks at no more than POP3_LINE_MAX
 * bytes of buf. */
ssize_t		 pop3_parse_line(const void *buf, size_t len, size_t *linelen);

/* For multi-line responses read line by line (CAPA, UIDL, LIST): returns 1
 * when the line is the terminating "."; otherwise removes the leading dot of
 * a stuffed line from *line and *len and returns 0. A line that starts with
 * one dot followed by something other than a dot was not stuffed by the
 * server: its dot is removed too and *anomalies is incremented. Same rules as
 * the body decoder below. */
int		 pop3_parse_unstuff(const char **line, size_t *len,
		    unsigned int *anomalies);

/*
 * Status lines.
 */

enum pop3_status {
	POP3_OK,		/* "+OK" */
	POP3_ERR,		/* "-ERR" */
	POP3_CONT,		/* "+ base64", a SASL continuation (RFC 5034) */
};

/* RFC 2449 section 8 extended response codes, and RFC 3206. */
enum pop3_code {
	POP3_CODE_NONE,		/* no code in the text */
	POP3_CODE_IN_USE,	/* [IN-USE]: the maildrop is locked */
	POP3_CODE_LOGIN_DELAY,	/* [LOGIN-DELAY]: logged in too recently */
	POP3_CODE_SYS_TEMP,	/* [SYS/TEMP]: server trouble, retry later */
	POP3_CODE_SYS_PERM,	/* [SYS/PERM]: server trouble, retrying won't help */
	POP3_CODE_AUTH,		/* [AUTH]: credentials wrong or refused */
	POP3_CODE_OTHER,	/* some other code, see code_str */
};

/* A parsed status line. The pointers point into the line passed to
 * pop3_parse_status and are valid as long as it is; do not free them. The
 * text is the server's raw bytes: sanitise it before logging it. */
struct pop3_reply {
	enum pop3_status	 status;
	enum pop3_code		 code;	/* always NONE for POP3_CONT */
	const char		*code_str; /* inside the brackets; NULL if none */
	size_t			 code_len;
	const char		*text;	/* after indicator and code; for CONT,
					 * the base64 challenge */
	size_t			 text_len;
};

/* Parses a status line (without its CRLF): "+OK text", "-ERR text" or
 * "+ challenge". A code is recognised only at the start of the text and only
 * if well formed ("[" level *("/" level) "]"); anything else stays text.
 * Known codes match case-insensitively, and with sub-levels too
 * ("SYS/TEMP/X" is SYS_TEMP). Returns 0, or -1 with *cause (caller frees). */
int		 pop3_parse_status(const char *line, size_t len,
		    struct pop3_reply *, char **cause);
/* The code's name for logs ("IN-USE", ...); "other" for OTHER, "" for
 * NONE. Do not free. */
const char	*pop3_parse_code_name(enum pop3_code);

/* Finds the APOP timestamp "<...>" in a greeting's text (RFC 1939 section
 * 7): the first "<", up to the next ">", holding 1 or more printable ASCII
 * characters other than "<" and ">". Copies it, brackets included, into ts
 * (NUL-terminated) and returns 1; returns 0 when there is none or it would
 * not fit in POP3_TIMESTAMP_MAX bytes. */
int		 pop3_parse_timestamp(const char *text, size_t len,
		    char ts[POP3_TIMESTAMP_MAX + 1]);

/*
 * Single-line payloads. text/len is the status text (pop3_reply text) or,
 * for multi-line listings, one unstuffed line. Fields are separated by one
 * or more spaces. Each returns 0, or -1 with *cause (caller frees) and the
 * outputs untouched.
 */

/* STAT: "count size [anything]" (RFC 1939 allows text after the size). */
int		 pop3_parse_stat(const char *text, size_t len,
		    unsigned int *count, uint64_t *size, char **cause);
/* LIST n reply, and each line of LIST: "msgno size [anything]"; msgno >= 1. */
int		 pop3_parse_list(const char *text, size_t len,
		    unsigned int *msgno, uint64_t *size, char **cause);
/* UIDL n reply, and each line of UIDL: "msgno uidl", msgno >= 1, the uidl
 * 1 to POP3_UIDL_MAX characters in 0x21-0x7E; trailing spaces are allowed,
 * anything else after the uidl is an error. The uidl is copied into uidl,
 * NUL-terminated. */
int		 pop3_parse_uidl(const char *text, size_t len,
		    unsigned int *msgno, char uidl[POP3_UIDL_MAX + 1],
		    char **cause);

/*
 * CAPA (RFC 2449). Feed each unstuffed line of the CAPA response to
 * pop3_parse_capa_line, after pop3_parse_capa_init. Capability names and
 * SASL mechanisms match case-insensitively; unknown ones are ignored.
 */

#define POP3_CAPA_TOP		0x0001
#define POP3_CAPA_UIDL		0x0002
#define POP3_CAPA_USER		0x0004
#define POP3_CAPA_STLS		0x0008
#define POP3_CAPA_PIPELINING	0x0010
#define POP3_CAPA_RESP_CODES	0x0020
#define POP3_CAPA_AUTH_RESP_CODE 0x0040
#define POP3_CAPA_SASL		0x0080	/* a SASL line was seen */
#define POP3_CAPA_LOGIN_DELAY	0x0100	/* login_delay is valid */
#define POP3_CAPA_EXPIRE	0x0200	/* expire is valid */
#define POP3_CAPA_IMPLEMENTATION 0x0400	/* implementation is valid */

#define POP3_SASL_PLAIN		0x01
#define POP3_SASL_LOGIN		0x02
#define POP3_SASL_XOAUTH2	0x04
#define POP3_SASL_OAUTHBEARER	0x08

/* EXPIRE NEVER. */
#define POP3_EXPIRE_NEVER	UINT32_MAX

/* Plain values, no pointers: copy or embed freely, nothing to free. */
struct pop3_capa {
	unsigned int	 flags;		/* POP3_CAPA_* */
	unsigned int	 sasl;		/* POP3_SASL_* */
	uint32_t	 login_delay;	/* seconds */
	uint32_t	 expire;	/* days, or POP3_EXPIRE_NEVER */
	/* The server's text, truncated; bytes outside 0x20-0x7E become '?',
	 * so it is safe to print. */
	char		 implementation[POP3_IMPL_MAX + 1];
};

/* Empties the set (also before asking again after STLS). */
void		 pop3_parse_capa_init(struct pop3_capa *);
/* Adds one line. Returns 0, or -1 with *cause (caller frees) when a known
 * capability has a malformed argument ("LOGIN-DELAY x"); the set is then
 * unchanged and the caller may log and go on. */
int		 pop3_parse_capa_line(struct pop3_capa *, const char *line,
		    size_t len, char **cause);

/*
 * The multi-line body decoder (RETR, TOP): fed the bytes after the "+OK"
 * line in chunks of any size, it removes dot-stuffing, optionally turns CRLF
 * into LF, and stops right after the terminating ".\r\n" line. Bytes after
 * it are not consumed: they belong to the next (pipelined) response. Memory
 * use is constant whatever the line length. Every byte sequence decodes; the
 * only trouble it reports is the terminator not arriving (the caller sees
 * pop3_parse_body_done() == 0 at EOF and must discard the message).
 *
 * Rules, on CRLF-delimited lines: ".." at the start of a line gives "."; a
 * line that is exactly "." ends the body; a line starting with one "."
 * followed by anything else loses the dot (what common clients do) and
 * counts as an anomaly (the server should have stuffed it). Bare CR and bare
 * LF are content and preserved, as are NUL and 8-bit bytes. The CRLF ending
 * the last line before "." is content: "abc\r\n.\r\n" decodes to "abc\r\n"
 * (or "abc\n"). A decoded body is therefore empty or ends with a line end.
 */

#define POP3_BODY_CRLF_TO_LF	0x1	/* write LF for each CRLF line end */

/* Output space that always takes a whole input chunk of n bytes. */
#define POP3_BODY_OUTSIZE(n)	((n) + 1)

struct pop3_body;

/* A decoder at the start of a body. flags: POP3_BODY_*. Caller frees. */
struct pop3_body *pop3_parse_body_new(int flags);
/* NULL is a no-op. */
void		 pop3_parse_body_free(struct pop3_body *);
/* Back to the start of a new body, same flags, counters cleared. */
void		 pop3_parse_body_reset(struct pop3_body *);
/* Decodes from in into out (which must not overlap in) and returns how many
 * input bytes were consumed; *outlen is set to the bytes written to out.
 * Stops after the terminator, at the end of the input, or when out is full:
 * outsize >= POP3_BODY_OUTSIZE(inlen) always takes every byte up to the
 * terminator, and any outsize >= 2 makes progress. After the terminator it
 * consumes nothing. */
size_t		 pop3_parse_body_feed(struct pop3_body *, const void *in,
		    size_t inlen, void *out, size_t outsize, size_t *outlen);
/* 1 once the terminator has been consumed, else 0. */
int		 pop3_parse_body_done(const struct pop3_body *);
/* Lines that started with an unstuffed single dot, so far. */
unsigned int	 pop3_parse_body_anomalies(const struct pop3_body *);

#endif
