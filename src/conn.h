/* conn.h: one client connection: DNS (every address tried, IPv6 and IPv4),
 * TCP, implicit TLS or a STARTTLS upgrade, timeouts and bounded line
 * reading. Knows nothing of IMAP or POP3.
 *
 * The owner hears from the connection through one callback with an event
 * (the OpenSMTPD ioev pattern). Events are delivered from the event loop,
 * never from inside a conn_* call. After CONN_EV_CLOSED, CONN_EV_ERROR or
 * CONN_EV_TIMEOUT no further event comes; only conn_error(), conn_peer(),
 * conn_is_tls() and conn_free() remain useful.
 *
 * A conn_* call that returns -1 has set conn_error() and put the
 * connection in its final state; that failure is NOT also reported through
 * the callback.
 *
 * Ownership: the owner owns the struct conn and frees it with conn_free(),
 * which may be called from inside the callback (the free is then deferred
 * until the callback returns; the callback must not touch the conn after
 * freeing it). conn_new() copies the strings of conn_params. */
#ifndef MAILFETCHD_CONN_H
#define MAILFETCHD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "compat.h"
#include "config.h"
#include "tls.h"

/* Pending output above this is refused: the peer is not reading. */
#define CONN_OUTPUT_MAX		(256 * 1024)
/* Reading pauses while this much input waits to be drained. */
#define CONN_INPUT_HIWAT	(1024 * 1024)
/* Used when conn_params.timeout_sec is 0. */
#define CONN_DEFAULT_TIMEOUT	60
/* conn_set_keepalive: first probe after this much silence, then every
 * CONN_KEEPALIVE_INTVL seconds, CONN_KEEPALIVE_CNT unanswered is dead. */
#define CONN_KEEPALIVE_IDLE	120
#define CONN_KEEPALIVE_INTVL	30
#define CONN_KEEPALIVE_CNT	4

enum conn_event {
	CONN_EV_CONNECTED,	/* TCP up, and TLS up and verified if implicit */
	CONN_EV_INPUT,		/* new bytes in conn_input() */
	CONN_EV_TLS_READY,	/* STARTTLS handshake done and verified */
	CONN_EV_CLOSED,		/* orderly EOF (TLS: close_notify, or any EOF
				 * after conn_expect_eof()) */
	CONN_EV_ERROR,		/* conn_error() says why */
	CONN_EV_TIMEOUT,	/* no progress for the phase's timeout, or a
				 * response too slow (conn_progress) */
};

struct conn_params {
	const char	*host;		/* name or IP literal */
	unsigned int	 port;
	enum config_tls	 tls;
	const char	*ca_file;	/* NULL: system store (when tls_ctx
					 * given to conn_new is NULL) */
	const char	*fingerprint;	/* "sha256:..." pin or NULL */
	unsigned int	 timeout_sec;	/* per phase; 0: CONN_DEFAULT_TIMEOUT */
	const char	*name;		/* for logs: the account */
};

struct conn;
typedef void (*conn_cb)(struct conn *, enum conn_event, void *);

/* Creates an idle connection. tls may be NULL: the conn then makes (and
 * owns) a context from params->ca_file when it needs one. base, dns and
 * tls are borrowed and must outlive the conn. Never fails. */
struct conn	*conn_new(struct event_base *, struct evdns_base *,
		    struct tls_ctx *, const struct conn_params *, conn_cb,
		    void *arg);
/* Frees the conn, its socket, SSL and pending DNS query; NULL is a no-op.
 * Safe inside the callback (deferred). Unsent output is dropped. */
void		 conn_free(struct conn *);

/* Starts resolving and connecting: every address is tried in turn, each
 * with the phase timeout, until one connects; then CONN_EV_CONNECTED (after
 * the TLS handshake and verification for TLS_IMPLICIT). When all fail,
 * CONN_EV_ERROR names every address and why it failed. -1 if called twice
 * or if TLS cannot be set up. */
int		 conn_connect(struct conn *);

/* The input buffer; the owner drains it (evbuffer_remove, conn_readline)
 * on CONN_EV_INPUT. Bytes left in it stay there until the next event. */
struct evbuffer	*conn_input(struct conn *);
/* Frees the input buffers' empty chains (libevent keeps the last read's
 * reserved space, 16 KiB and more): for connections that sit idle, such
 * as IMAP IDLE, a thousand of which would otherwise hold tens of MB. */
void		 conn_input_trim(struct conn *);
/* idle = 1: the peer is expected to say little for a long time (IMAP
 * IDLE); reads are made in pieces of CONN_IDLE_READ bytes (the owner
 * frees what is already reserved with conn_input_trim once it has read
 * everything). idle = 0: back to full-size reads. */
#define CONN_IDLE_READ	1024
void		 conn_set_idle(struct conn *, int idle);
/* Reads one line: 1 and *line (CRLF or LF stripped, NUL-terminated, may
 * hold NUL bytes: use *len; the caller frees), 0 when no full line is
 * there yet, -1 when the line is longer than max bytes (the conn fails
 * with "line too long"). max must stay below CONN_INPUT_HIWAT. */
int		 conn_readline(struct conn *, size_t max, char **line,
		    size_t *len);

/* Queue bytes for sending; 0, or -1 if the connection is not open or more
 * than CONN_OUTPUT_MAX would be pending. */
int		 conn_write(struct conn *, const void *, size_t);
int		 conn_printf(struct conn *, const char *, ...) printflike(2, 3);

/* Upgrades a plain connection after the server's positive STARTTLS/STLS
 * reply has been read: refuses with "bytes received before TLS: possible
 * STARTTLS injection" if any input is left over, then handshakes and
 * verifies; CONN_EV_TLS_READY follows. The owner must forget everything it
 * learnt before (capabilities) and ask again. */
int		 conn_starttls(struct conn *);
/* The protocol now allows the peer to close (after LOGOUT's OK, BYE, QUIT's
 * +OK): a TCP EOF without TLS close_notify becomes CONN_EV_CLOSED. Before
 * this, such an EOF is CONN_EV_ERROR (possible truncation). */
void		 conn_expect_eof(struct conn *);
/* Inactivity timeout from now on (reset by every byte received or
 * connection step); 0 disables it (IMAP IDLE, with the owner's own timer). */
void		 conn_set_timeout(struct conn *, unsigned int sec);
/* Pacing of an answer, so that a server that drips its answer a byte (or
 * a line) at a time cannot hold the connection forever (every byte
 * restarts the inactivity timer above). The owner, which alone knows
 * where answers begin and end, reports after each read the bytes it
 * consumed and whether it is now inside an answer to a command (a started
 * line, a literal, a message body, a multi-line listing, everything up to
 * an IMAP tagged completion); inside = 0 ends the window, so the next
 * answer gets one of its own. From the moment an answer starts,
 * every window of the connection's configured timeout (conn_params; not
 * changed by conn_set_timeout, so IDLE stays paced too) must bring at
 * least CONN_MIN_RATE bytes a second on average, or the answer must
 * end within the window: a line shorter than CONN_MIN_RATE x timeout
 * (60 KiB with the default) must thus be complete within the timeout of
 * its first byte, and a literal or body must come at 1 KiB/s at least.
 * Otherwise CONN_EV_TIMEOUT. Silence between responses (IMAP IDLE) is
 * not paced. */
#define CONN_MIN_RATE	1024
void		 conn_progress(struct conn *, size_t consumed, int inside);
/* A whole response of the answer came (the owner's parser says so).
 * CONN_RESP_DATA: one that carries a message the command asked for and
 * that was not received yet (an IMAP FETCH) shows a server at work: its
 * window passes whatever the byte count, so that a slow store that sends
 * each message whole, with pauses, is not cut. CONN_RESP_NEW: small data
 * lines that bring new results (SEARCH UIDs not in the answer yet, up to
 * what the folder holds; a LIST name other than the one before): a window
 * with them passes when it brought the byte floor, so that a big honest
 * answer is not cut, but a server that drips one a window for as long as
 * the answer may be (a UID set that stays one range; 100,000 names) is.
 * CONN_RESP_NOTE: anything else, a bare status or continuation line
 * ("* OK Searched 40%", "+"), data nobody asked for ("* 5 EXISTS", a
 * flag update, a message again), results sent before, which a server can
 * send without end. A window in which notes ended, or new results below
 * the floor, passes at most CONN_NOTE_WINDOWS times in a row, however
 * many bytes it brought: a server's progress notes keep a slow command
 * alive for a while (10 minutes with the default timeout), and a server
 * that sends nothing else, at any rate, ends. Bytes alone (a literal or a
 * long line still coming, no response ended) pass a window by the floor
 * and leave the count as it is. */
#define CONN_NOTE_WINDOWS	10
enum conn_resp { CONN_RESP_NOTE, CONN_RESP_DATA, CONN_RESP_NEW };
void		 conn_progress_response(struct conn *, enum conn_resp);
/* The owner has just blocked the loop in its own disk work (fsyncs of a
 * batch, a state save): that time says nothing about the server, so the
 * inactivity timer and, inside an answer, the pacing window start afresh
 * from now (the window's byte and response counts are dropped). Without
 * this a slow local disk would be blamed on the server as a timeout. */
void		 conn_local_work_done(struct conn *);
/* For a long-lived connection that may stay silent (IMAP IDLE): TCP
 * keepalive probes after CONN_KEEPALIVE_IDLE seconds of silence, so a peer
 * that vanished is noticed; and no Nagle delay, since every command there
 * is a small write someone waits for. Best effort, once connected. */
void		 conn_set_keepalive(struct conn *);

/* Starts COMPRESS=DEFLATE (RFC 4978) after the server's OK to COMPRESS
 * DEFLATE has been read: from then on every byte both ways is raw DEFLATE
 * (RFC 1951), flushed after each write so the server sees whole commands.
 * Refuses, like conn_starttls(), if input is left over (those bytes would
 * be misread). Works over plain TCP and TLS. Memory stays bounded whatever
 * the server sends: inflating pauses at CONN_INPUT_HIWAT until the owner
 * drains. A corrupt stream, or one that ends, fails the connection
 * (CONN_EV_ERROR). */
int		 conn_compress(struct conn *);
/* Byte counters of the compressed phase (none before conn_compress). */
struct conn_zstats {
	uint64_t	in_wire;	/* compressed bytes received */
	uint64_t	in_data;	/* what they inflated to */
	uint64_t	out_data;	/* bytes written by the owner */
	uint64_t	out_wire;	/* what they deflated to */
};
/* Fills *st; returns 1 when compressing, else 0 (and zero counters). */
int		 conn_wire_stats(struct conn *, struct conn_zstats *st);

int		 conn_is_tls(struct conn *);
/* 1 when the connected peer is a loopback address (127/8, ::1). */
int		 conn_peer_is_loopback(struct conn *);
/* Why the connection ended ("... connection closed by the server" after
 * CONN_EV_CLOSED), or NULL while it is alive. Valid until conn_free. */
const char	*conn_error(struct conn *);
/* "127.0.0.1:993" or "[::1]:993" once TCP is up (or while connecting);
 * "" before. */
const char	*conn_peer(struct conn *);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384, subject '...', sha256:..." or NULL
 * when not on TLS; valid until conn_free. */
const char	*conn_tls_info(struct conn *);
/* The connection's SSL once a handshake has started (also after it failed,
 * so that a diagnosis can show the certificate the server presented), else
 * NULL. Borrowed: valid until conn_free; do not change its settings. */
SSL		*conn_ssl(struct conn *);

#endif
