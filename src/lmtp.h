/* lmtp.h: one message delivered over LMTP (RFC 2033), deliver = lmtp in
 * mailfetchd.conf(5): a connection to the LMTP server (a Unix socket, or
 * a numeric address and port), LHLO, one transaction (MAIL FROM the message's
 * Return-Path or <>, one RCPT TO, DATA with the message's LF line ends sent as CRLF and lines
 * starting with '.' dot-stuffed), QUIT. Driven by the event loop, never
 * blocking it; the message streams from its file as the socket takes it.
 *
 * The reply to the message's data (or any earlier refusal) decides, as
 * an agent's exit status does (mda.h): 2xx MDA_DELIVERED, 4xx
 * MDA_TEMPFAIL, 5xx MDA_FAILED; a broken dialogue, a lost or refused
 * connection or the timeout MDA_BROKEN (no word on the message). */
#ifndef MAILFETCHD_LMTP_H
#define MAILFETCHD_LMTP_H

#include "mda.h"

struct event_base;
struct lmtp_job;

/* Whether target names an LMTP server as lmtp_start takes it:
 * "unix:/absolute/path", or "ADDRESS:PORT" with a numeric IPv4 address
 * or a bracketed IPv6 one ("127.0.0.1:24", "[::1]:24"). 0, or -1 and
 * *cause (the caller frees). lmtp_target_parse also gives its address.
 * Pure (lmtp_target.c): the configuration checks with it. */
struct sockaddr_storage;
int		 lmtp_target_check(const char *target, char **cause);
int		 lmtp_target_parse(const char *target,
		    struct sockaddr_storage *, int *len, char **cause);

/* Starts the delivery of the message read from fd (taken over) from
 * sender ("": none, MAIL FROM:<>) to rcpt at target, the whole within
 * timeout seconds; id: an X-Mailfetchd-Id header line's value to send
 * first (NULL: none). cb is called once, from the loop; the job is freed
 * right after it returns. NULL and *cause when it could not start (no
 * callback then). */
struct lmtp_job	*lmtp_start(struct event_base *, const char *target,
		    const char *sender, const char *rcpt, const char *id,
		    unsigned int timeout, int fd, mda_done_cb, void *arg,
		    char **cause);
/* Drops the connection without callback. NULL is a no-op. */
void		 lmtp_job_free(struct lmtp_job *);

#endif
