/* conn.c: one client connection. Resolves with evdns, tries every address
 * (bufferevent_socket_connect_hostname only tries the first) and connects
 * TCP with a socket bufferevent. TLS then moves the socket to an OpenSSL
 * socket bufferevent, so that OpenSSL reads and writes the socket itself
 * (no copy through a BIO into a second buffer, none of the socket
 * bufferevent's 4 KiB reads, and with read_ahead several records per
 * read; conn_tls_kick keeps libevent reading them): right away for
 * implicit TLS, on request for STARTTLS, so both paths share one switch,
 * one handshake and one verification. The plain bufferevent is freed at
 * the switch, with anything it had buffered: STARTTLS refuses to switch
 * when the server sent anything before the handshake. COMPRESS=DEFLATE
 * (RFC 4978) is a filter bufferevent on top, plain or TLS below it. One
 * timer enforces every phase's timeout, a second one the pace of an
 * answer to a command (conn_progress). The owner hears about everything
 * through one callback. */
#include "conn.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <zlib.h>

#include "log.h"
#include "xmalloc.h"

enum conn_state {
	CONN_S_NEW,
	CONN_S_RESOLVING,
	CONN_S_CONNECTING,
	CONN_S_HANDSHAKE,	/* implicit TLS, before CONN_EV_CONNECTED */
	CONN_S_OPEN,
	CONN_S_STARTTLS,	/* upgrade handshake, before TLS_READY */
	CONN_S_DONE,		/* closed, failed or timed out */
};

/* Inflate output per zlib call, and deflate output per reservation. */
#define CONN_Z_CHUNK		(16 * 1024)

/* The compression filter's context, owned by the filter bufferevent (freed
 * by conn_z_free when libevent destroys it, which may be after the conn is
 * gone: conn_free clears c). */
struct conn_z {
	struct conn		*c;
	z_stream		 inf;
	z_stream		 def;
	int			 inf_ready;
	int			 def_ready;
	int			 failed;
	int			 busy;		/* inside conn_zinflate */
	int			 stalled;	/* stopped at the input limit:
						 * zlib may hold more output */
	int			 ended;		/* the server ended the stream
						 * where it may (after LOGOUT) */
	struct conn_zstats	 stats;
};

/* The DNS callback's argument. It outlives a conn freed while the query is
 * pending: evdns_getaddrinfo_cancel() still calls back (with
 * EVUTIL_EAI_CANCEL), later, and finds c == NULL. */
struct conn_dnsreq {
	struct conn	*c;
};

struct conn {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct tls_ctx		*tls;
	struct tls_ctx		*own_tls;	/* made here when none given */
	conn_cb			 cb;
	void			*arg;

	char			*host;
	unsigned int		 port;
	enum config_tls		 mode;
	char			*ca_file;
	char			*fingerprint;
	char			*name;
	unsigned int		 timeout;

	enum conn_state		 state;
	struct conn_dnsreq	*dnsarg;
	struct evdns_getaddrinfo_request *dnsreq;
	struct evutil_addrinfo	*ai_list;
	struct evutil_addrinfo	*ai_next;
	char			*attempts;	/* "addr: why; addr: why" */

	struct bufferevent	*bev;		/* the top one: socket, TLS or
						 * compression */
	struct bufferevent	*tls_bev;	/* the TLS one: bev or under it */
	SSL			*ssl;		/* owned by bev */
	struct evbuffer_cb_entry *tls_cb;	/* on tls_bev's input */
	struct event		*tls_kick;	/* reads records read ahead */
	struct conn_z		*z;		/* owned by bev */
	struct event		*zkick;		/* resumes a stalled inflate */
	char			*tls_info;
	int			 expect_eof;

	struct event		*timer;
	unsigned int		 pace;		/* the configured timeout: the
						 * pacing window */
	struct event		*pace_timer;	/* ends a pacing window */
	int			 pace_inside;	/* an answer has started */
	uint64_t		 pace_bytes;	/* consumed in this window */
	int			 pace_data;	/* data responses in it */
	int			 pace_notes;	/* status/continuation lines */
	int			 pace_new;	/* new SEARCH UIDs, LIST names */
	unsigned int		 pace_note_windows; /* passed by notes alone,
						 * in a row */
	struct event		*ev_final;	/* delivers the final event */
	enum conn_event		 final_event;
	char			 peer[NI_MAXHOST + NI_MAXSERV + 4];
	char			*where;		/* "host (peer)" for messages */
	char			*error;

	int			 in_cb;
	int			 dead;		/* conn_free() inside the callback */
};

static void	conn_try_next(struct conn *);
static int	conn_start_tls(struct conn *, enum conn_state, int);
static void	conn_timer_cb(evutil_socket_t, short, void *);
static void	conn_pace_cb(evutil_socket_t, short, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_tls_kick(struct conn *);
static void	conn_zlog(struct conn *);

/* Calls the owner; returns -1 if the owner freed the conn meanwhile (it is
 * gone then: the caller must return without touching it). */
static int
conn_notify(struct conn *c, enum conn_event ev)
{
	c->in_cb++;
	c->cb(c, ev, c->arg);
	c->in_cb--;
	if (c->dead && c->in_cb == 0) {
		c->dead = 0;
		conn_free(c);
		return (-1);
	}
	return (0);
}

/* Re-arms the inactivity timer for the current phase. */
static void
conn_arm_timer(struct conn *c)
{
	struct timeval	tv;

	if (c->timeout == 0 || c->state == CONN_S_NEW ||
	    c->state == CONN_S_DONE) {
		evtimer_del(c->timer);
		return;
	}
	tv.tv_sec = c->timeout;
	tv.tv_usec = 0;
	evtimer_add(c->timer, &tv);
}

/* Stops all activity: no more timer, no more reading or writing. */
static void
conn_quiesce(struct conn *c)
{
	evtimer_del(c->timer);
	evtimer_del(c->pace_timer);
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ|EV_WRITE);
}

/* Enters the final state with a reason; ev >= 0 is then delivered to the
 * owner from the loop (never from inside the caller), ev < 0 is for
 * failures returned synchronously. Only the first failure counts. */
static void printflike(3, 4)
conn_fail(struct conn *c, int ev, const char *fmt, ...)
{
	va_list	ap;
	char	*msg;

	if (c->state == CONN_S_DONE)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatalx("vasprintf: out of memory");
	va_end(ap);
	free(c->error);
	c->error = msg;
	c->state = CONN_S_DONE;
	conn_quiesce(c);
	if (ev < 0)
		return;
	c->final_event = ev;
	event_active(c->ev_final, EV_TIMEOUT, 1);
}

/* Delivers the final event scheduled by conn_fail. */
static void
conn_final_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	conn_notify(c, c->final_event);
}

/* Sets the peer ("1.2.3.4:993", "[::1]:993") and the message prefix. */
static void
conn_set_peer(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	char	host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
	    NI_NUMERICHOST|NI_NUMERICSERV) != 0)
		snprintf(c->peer, sizeof c->peer, "?:%u", c->port);
	else if (sa->sa_family == AF_INET6)
		snprintf(c->peer, sizeof c->peer, "[%s]:%s", host, serv);
	else
		snprintf(c->peer, sizeof c->peer, "%s:%s", host, serv);
	free(c->where);
	xasprintf(&c->where, "%s (%s)", c->host, c->peer);
}

/* Creates an idle connection; copies the parameters. */
struct conn *
conn_new(struct event_base *base, struct evdns_base *dns,
    struct tls_ctx *tls, const struct conn_params *p, conn_cb cb, void *arg)
{
	struct conn	*c;

	c = xcalloc(1, sizeof *c);
	c->base = base;
	c->dns = dns;
	c->tls = tls;
	c->cb = cb;
	c->arg = arg;
	c->host = xstrdup(p->host);
	c->port = p->port;
	c->mode = p->tls;
	c->ca_file = p->ca_file != NULL ? xstrdup(p->ca_file) : NULL;
	c->fingerprint = p->fingerprint != NULL ? xstrdup(p->fingerprint) :
	    NULL;
	c->name = xstrdup(p->name != NULL ? p->name : p->host);
	c->timeout = p->timeout_sec != 0 ? p->timeout_sec :
	    CONN_DEFAULT_TIMEOUT;
	c->pace = c->timeout;
	c->state = CONN_S_NEW;
	xasprintf(&c->where, "%s port %u", c->host, c->port);
	c->timer = evtimer_new(base, conn_timer_cb, c);
	c->pace_timer = evtimer_new(base, conn_pace_cb, c);
	c->ev_final = event_new(base, -1, 0, conn_final_cb, c);
	if (c->timer == NULL || c->pace_timer == NULL || c->ev_final == NULL)
		fatalx("conn_new: cannot create events");
	return (c);
}

/* Frees the conn, or marks it when called from inside its callback. */
void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->in_cb > 0) {
		c->dead = 1;
		conn_quiesce(c);
		event_del(c->ev_final);
		return;
	}
	if (c->dnsarg != NULL) {
		c->dnsarg->c = NULL;
		if (c->dnsreq != NULL)
			evdns_getaddrinfo_cancel(c->dnsreq);
	}
	if (c->ai_list != NULL)
		evutil_freeaddrinfo(c->ai_list);
	if (c->z != NULL) {
		conn_zlog(c);
		c->z->c = NULL;		/* the filter may outlive us */
	}
	if (c->zkick != NULL)
		event_free(c->zkick);
	if (c->tls_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->tls_bev),
		    c->tls_cb);
	if (c->tls_kick != NULL)
		event_free(c->tls_kick);
	/* With BEV_OPT_CLOSE_ON_FREE this also frees the bufferevent under
	 * the compression filter, the SSL and the socket. */
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->timer);
	event_free(c->pace_timer);
	event_free(c->ev_final);
	tls_ctx_free(c->own_tls);
	free(c->host);
	free(c->ca_file);
	free(c->fingerprint);
	free(c->name);
	free(c->attempts);
	free(c->tls_info);
	free(c->where);
	free(c->error);
	free(c);
}

/* Notes why the current address failed and drops its socket. */
static void
conn_attempt_failed(struct conn *c, const char *why)
{
	char	*s;

	log_debug("%s: connect to %s failed: %s", c->name, c->peer, why);
	if (c->attempts == NULL)
		xasprintf(&s, "%s: %s", c->peer, why);
	else
		xasprintf(&s, "%s; %s: %s", c->attempts, c->peer, why);
	free(c->attempts);
	c->attempts = s;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
}

/* A non-blocking TCP socket that no child process inherits: a
 * password_command run meanwhile must not hold other accounts' IMAP
 * connections open (bufferevent_socket_connect with fd -1 would create
 * it without close-on-exec). -1 and errno on failure. */
static evutil_socket_t
conn_socket(int family)
{
	return (socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

/* Starts connecting to the next address; fails the conn after the last. */
static void
conn_try_next(struct conn *c)
{
	struct evutil_addrinfo	*ai;
	evutil_socket_t		 fd;

	while ((ai = c->ai_next) != NULL) {
		c->ai_next = ai->ai_next;
		conn_set_peer(c, ai->ai_addr, ai->ai_addrlen);
		log_debug("%s: connecting to %s", c->name, c->peer);
		if ((fd = conn_socket(ai->ai_family)) == -1) {
			conn_attempt_failed(c, strerror(errno));
			continue;
		}
		c->bev = bufferevent_socket_new(c->base, fd,
		    BEV_OPT_CLOSE_ON_FREE|BEV_OPT_DEFER_CALLBACKS);
		if (c->bev == NULL) {
			evutil_closesocket(fd);
			conn_attempt_failed(c, "cannot create a bufferevent");
			continue;
		}
		bufferevent_setcb(c->bev, NULL, NULL, conn_event_cb, c);
		c->state = CONN_S_CONNECTING;
		if (bufferevent_socket_connect(c->bev, ai->ai_addr,
		    ai->ai_addrlen) == -1) {
			conn_attempt_failed(c, strerror(errno));
			continue;
		}
		conn_arm_timer(c);
		return;
	}
	conn_fail(c, CONN_EV_ERROR, "cannot connect to %s port %u: %s",
	    c->host, c->port, c->attempts != NULL ? c->attempts :
	    "no address");
}

/* The resolver's answer: start trying the addresses in order. */
static void
conn_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn_dnsreq	*d = arg;
	struct conn		*c = d->c;

	free(d);
	if (c == NULL) {		/* cancelled: the conn is gone */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	c->dnsarg = NULL;
	c->dnsreq = NULL;
	if (result != 0 || res == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		conn_fail(c, CONN_EV_ERROR, "cannot resolve %s: %s", c->host,
		    result != 0 ? evutil_gai_strerror(result) : "no address");
		return;
	}
	c->ai_list = c->ai_next = res;
	conn_try_next(c);
}

/* Starts resolving; see conn.h. */
int
conn_connect(struct conn *c)
{
	struct evutil_addrinfo		 hints;
	struct evdns_getaddrinfo_request *req;
	struct conn_dnsreq		*d;
	char				 port[16], *cause;

	if (c->state != CONN_S_NEW) {
		conn_fail(c, -1, "%s: conn_connect called twice", c->where);
		return (-1);
	}
	if (c->mode != TLS_NONE && c->tls == NULL) {
		if ((c->own_tls = tls_ctx_new(c->ca_file, &cause)) == NULL) {
			conn_fail(c, -1, "%s: %s", c->where, cause);
			free(cause);
			return (-1);
		}
		c->tls = c->own_tls;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* No AI_ADDRCONFIG: libevent ignores loopback when deciding, so it
	 * would hide ::1; an unusable address just fails fast and the next
	 * one is tried. */
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof port, "%u", c->port);

	d = xcalloc(1, sizeof *d);
	d->c = c;
	c->dnsarg = d;
	c->state = CONN_S_RESOLVING;
	conn_arm_timer(c);
	log_debug("%s: resolving %s", c->name, c->host);
	/* The callback may run before this returns (IP literal, hosts file,
	 * immediate error); it then clears c->dnsarg and req is NULL. */
	req = evdns_getaddrinfo(c->dns, c->host, port, &hints, conn_dns_cb, d);
	if (c->dnsarg != NULL)
		c->dnsreq = req;
	return (0);
}

/* Whether the connected peer is a loopback address (127/8, ::1 or
 * ::ffff:127.0.0.0/104). Unknown counts as not loopback. */
int
conn_peer_is_loopback(struct conn *c)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len = sizeof ss;
	const uint8_t		*a;

	if (getpeername(bufferevent_getfd(c->bev), (struct sockaddr *)&ss,
	    &len) == -1)
		return (0);
	if (ss.ss_family == AF_INET)
		return ((ntohl(sin->sin_addr.s_addr) >> 24) == 127);
	if (ss.ss_family != AF_INET6)
		return (0);
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
		return (1);
	a = sin6->sin6_addr.s6_addr;
	return (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && a[12] == 127);
}

/* TCP is up: go on with TLS or tell the owner. */
static void
conn_tcp_up(struct conn *c)
{
	evutil_freeaddrinfo(c->ai_list);
	c->ai_list = c->ai_next = NULL;
	log_debug("%s: connected to %s", c->name, c->peer);
	/* The configuration refuses this without allow_insecure = yes; with
	 * it, say at every connection what it costs. */
	if (c->mode == TLS_NONE && !conn_peer_is_loopback(c))
		log_warnx("%s: WARNING: tls = none to %s, which is not a "
		    "loopback address: the password and all mail cross the "
		    "network in clear text (allow_insecure = yes)", c->name,
		    c->where);
	/* Implicit TLS reads nothing in clear: the socket goes to TLS. */
	if (c->mode == TLS_IMPLICIT) {
		conn_start_tls(c, CONN_S_HANDSHAKE, CONN_EV_ERROR);
		return;
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_INPUT_HIWAT);
	bufferevent_enable(c->bev, EV_READ|EV_WRITE);
	c->state = CONN_S_OPEN;
	conn_arm_timer(c);
	conn_notify(c, CONN_EV_CONNECTED);
}

/* The handshake is done and verified: tell the owner. */
static void
conn_tls_up(struct conn *c)
{
	enum conn_state	prev = c->state;

	/* SSL_VERIFY_PEER already fails the handshake otherwise; this is a
	 * second lock on the door credentials go through. */
	if (SSL_get_verify_result(c->ssl) != X509_V_OK ||
	    SSL_get0_peer_certificate(c->ssl) == NULL) {
		conn_fail(c, CONN_EV_ERROR, "%s: TLS: server certificate not"
		    " verified", c->where);
		return;
	}
	free(c->tls_info);
	c->tls_info = tls_describe(c->ssl);
	log_debug("%s: TLS with %s: %s", c->name, c->peer, c->tls_info);
	c->state = CONN_S_OPEN;
	conn_arm_timer(c);
	/* The server's first words may have come with its last handshake
	 * message, read ahead. */
	conn_tls_kick(c);
	conn_notify(c, prev == CONN_S_HANDSHAKE ? CONN_EV_CONNECTED :
	    CONN_EV_TLS_READY);
}

/* Returns the first OpenSSL error recorded on the bufferevent and drains
 * the rest, so that nothing leaks into the next connection. libevent also
 * records SSL_get_error()'s code (SSL_ERROR_SSL, SSL_ERROR_SYSCALL), which
 * is no error queue entry (library 0) and says nothing the event does not:
 * skipped. */
static unsigned long
conn_ssl_error(struct conn *c)
{
	unsigned long	e, first = 0;

	if (c->ssl == NULL || c->tls_bev == NULL)
		return (0);
	while ((e = bufferevent_get_openssl_error(c->tls_bev)) != 0) {
		if (first == 0 && ERR_GET_LIB(e) != 0)
			first = e;
	}
	if (first == 0)
		first = ERR_peek_error();
	return (first);
}

/* The handshake failed: say why, in words. */
static void
conn_tls_failed(struct conn *c)
{
	char	*why;

	why = tls_failure(c->ssl, conn_ssl_error(c));
	conn_fail(c, CONN_EV_ERROR, "%s: TLS: %s", c->where, why);
	free(why);
}

/* EOF or error on an open connection. A TLS connection that ends without
 * close_notify may have been cut short by an attacker or a failure; it is
 * an error unless the protocol said the server may close now. */
static void
conn_closed(struct conn *c, short what, int err)
{
	unsigned long	e;
	char		buf[256];

	if (what & BEV_EVENT_EOF) {
		conn_fail(c, CONN_EV_CLOSED, "%s: connection closed by the"
		    " server", c->where);
		return;
	}
	if (c->ssl == NULL) {
		conn_fail(c, CONN_EV_ERROR, "%s: connection failed: %s",
		    c->where, err != 0 ? evutil_socket_error_to_string(err) :
		    "unknown error");
		return;
	}
	e = conn_ssl_error(c);
	ERR_clear_error();
	/* OpenSSL reading the socket itself names a TCP EOF without
	 * close_notify; it is the same event as no error at all. */
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		e = 0;
	if (e == 0 && c->expect_eof) {
		conn_fail(c, CONN_EV_CLOSED, "%s: connection closed by the"
		    " server", c->where);
		return;
	}
	if (e == 0) {
		conn_fail(c, CONN_EV_ERROR, "%s: connection closed without TLS"
		    " close_notify (data may be truncated)", c->where);
		return;
	}
	ERR_error_string_n(e, buf, sizeof buf);
	conn_fail(c, CONN_EV_ERROR, "%s: TLS error: %s", c->where, buf);
}

/* Events of whichever bufferevent is on top, by phase. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	int		 err = EVUTIL_SOCKET_ERROR();

	switch (c->state) {
	case CONN_S_CONNECTING:
		if (what & BEV_EVENT_CONNECTED) {
			conn_tcp_up(c);
			return;
		}
		conn_attempt_failed(c, err != 0 ?
		    evutil_socket_error_to_string(err) : "connection failed");
		conn_try_next(c);
		return;
	case CONN_S_HANDSHAKE:
	case CONN_S_STARTTLS:
		if (what & BEV_EVENT_CONNECTED)
			conn_tls_up(c);
		else
			conn_tls_failed(c);
		return;
	case CONN_S_OPEN:
		if (what & (BEV_EVENT_EOF|BEV_EVENT_ERROR))
			conn_closed(c, what, err);
		return;
	default:
		return;
	}
}

/* New input: tell the owner, who drains it. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->state != CONN_S_OPEN ||
	    evbuffer_get_length(bufferevent_get_input(bev)) == 0)
		return;
	conn_arm_timer(c);
	conn_notify(c, CONN_EV_INPUT);
}

/* Output drained: that is progress too. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->state == CONN_S_OPEN)
		conn_arm_timer(c);
}

/* No progress within the timeout of the current phase. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[64];

	switch (c->state) {
	case CONN_S_RESOLVING:
		if (c->dnsarg != NULL) {
			c->dnsarg->c = NULL;
			c->dnsarg = NULL;
			if (c->dnsreq != NULL)
				evdns_getaddrinfo_cancel(c->dnsreq);
			c->dnsreq = NULL;
		}
		conn_fail(c, CONN_EV_TIMEOUT, "cannot resolve %s: timed out"
		    " after %us", c->host, c->timeout);
		break;
	case CONN_S_CONNECTING:
		snprintf(why, sizeof why, "timed out after %us", c->timeout);
		conn_attempt_failed(c, why);
		conn_try_next(c);
		break;
	case CONN_S_HANDSHAKE:
	case CONN_S_STARTTLS:
		conn_fail(c, CONN_EV_TIMEOUT, "%s: TLS handshake timed out"
		    " after %us", c->where, c->timeout);
		break;
	case CONN_S_OPEN:
		conn_fail(c, CONN_EV_TIMEOUT, "%s: timed out after %us without"
		    " data from the server", c->where, c->timeout);
		break;
	default:
		break;
	}
}

/* Starts a pacing window of c->pace seconds. */
static void
conn_pace_arm(struct conn *c)
{
	struct timeval	tv;

	c->pace_bytes = 0;
	c->pace_data = c->pace_notes = c->pace_new = 0;
	tv.tv_sec = c->pace;
	tv.tv_usec = 0;
	evtimer_add(c->pace_timer, &tv);
}

/* What a pacing window that ended says about the answer. Bytes alone
 * pass a window only when no response ended in it (a literal, a long
 * line still coming): notes count towards CONN_NOTE_WINDOWS at any byte
 * rate, or a server repeating them fast enough would hold the session
 * for ever (review r13 03). A message asked for, or new results at the
 * byte floor, start the count afresh; a literal's bytes leave it. */
enum conn_pace_verdict { CONN_PACE_PASS, CONN_PACE_SLOW, CONN_PACE_NOTES };
static enum conn_pace_verdict
conn_pace_verdict(struct conn *c)
{
	int	floor = c->pace_bytes >= (uint64_t)CONN_MIN_RATE * c->pace;

	if (c->pace_data > 0 || (floor && c->pace_new > 0)) {
		c->pace_note_windows = 0;
		return (CONN_PACE_PASS);
	}
	if (floor && c->pace_notes == 0)
		return (CONN_PACE_PASS);
	if (c->pace_notes == 0 && c->pace_new == 0)
		return (CONN_PACE_SLOW);
	if (c->pace_note_windows >= CONN_NOTE_WINDOWS)
		return (CONN_PACE_NOTES);
	c->pace_note_windows++;
	return (CONN_PACE_PASS);
}

/* The end of a pacing window inside an answer: enough came, or the
 * server is stalling, trickling, or sending notes without end. */
static void
conn_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->state != CONN_S_OPEN || !c->pace_inside)
		return;
	switch (conn_pace_verdict(c)) {
	case CONN_PACE_PASS:
		conn_pace_arm(c);
		break;
	case CONN_PACE_SLOW:
		conn_fail(c, CONN_EV_TIMEOUT, "%s: the server sent only %llu "
		    "bytes of an answer in %us (less than %d bytes/s): stalled "
		    "or trickling", c->where, (unsigned long long)c->pace_bytes,
		    c->pace, CONN_MIN_RATE);
		break;
	case CONN_PACE_NOTES:
		conn_fail(c, CONN_EV_TIMEOUT, "%s: for more than %d windows of "
		    "%us in a row the server sent only notes (status lines, "
		    "data not asked for, sent before or more than the folder "
		    "holds) or new results slower than %d bytes/s, and its "
		    "answer did not end: stalled or trickling", c->where, CONN_NOTE_WINDOWS, c->pace,
		    CONN_MIN_RATE);
		break;
	}
}

/* The owner's report after a read; see conn.h. */
void
conn_progress(struct conn *c, size_t consumed, int inside)
{
	if (c->state != CONN_S_OPEN)
		return;
	if (!inside) {
		c->pace_inside = 0;
		c->pace_note_windows = 0;
		evtimer_del(c->pace_timer);
		return;
	}
	if (!c->pace_inside) {
		/* A new answer: its window starts now, with the bytes
		 * that began it. */
		c->pace_inside = 1;
		conn_pace_arm(c);
	}
	c->pace_bytes += consumed;
}

/* The owner's report of a whole response inside an answer; see conn.h. */
void
conn_progress_response(struct conn *c, enum conn_resp kind)
{
	if (c->state != CONN_S_OPEN || !c->pace_inside)
		return;
	if (kind == CONN_RESP_DATA)
		c->pace_data++;
	else if (kind == CONN_RESP_NEW)
		c->pace_new++;
	else
		c->pace_notes++;
}

/* After the owner's blocking disk work; see conn.h. The loop's cached
 * time is from before that work: refreshed first, or the timers would be
 * re-armed already (nearly) expired. */
void
conn_local_work_done(struct conn *c)
{
	if (c->state != CONN_S_OPEN)
		return;
	event_base_update_cache_time(c->base);
	conn_arm_timer(c);
	if (c->pace_inside)
		conn_pace_arm(c);
}

/* Reading with SSL read_ahead (see conn_start_tls) needs one more nudge
 * than libevent gives: its OpenSSL bufferevent reads on while SSL_pending
 * says decrypted bytes wait, and otherwise waits for the socket, while
 * whole records OpenSSL read ahead may still sit undecrypted in its
 * buffer with nothing more to come from the socket (the server waits for
 * our next command): a stall. Whenever the input buffer changes (bytes
 * read, or drained by the owner, which may resume reading stopped at the
 * high-water mark) and OpenSSL holds such bytes, the kick runs the
 * bufferevent's read handler once more, from the loop, as the socket
 * would. It stops by itself: a read that adds nothing (a partial record,
 * reading paused) does not call back. */
static void
conn_tls_kick(struct conn *c)
{
	if (c->tls_kick != NULL && SSL_has_pending(c->ssl))
		event_active(c->tls_kick, EV_TIMEOUT, 1);
}

/* The TLS input buffer changed: maybe records wait in OpenSSL. */
static void
conn_tls_buf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	conn_tls_kick(arg);
}

/* Runs the TLS bufferevent's read handler (libevent 2.1's reads on while
 * it makes progress) as if the socket were readable. The event is
 * libevent's own, public in bufferevent_struct.h. */
static void
conn_tls_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	if (c->state != CONN_S_OPEN || !SSL_has_pending(c->ssl) ||
	    !(bufferevent_get_enabled(c->tls_bev) & EV_READ))
		return;
	event_active(&c->tls_bev->ev_read, EV_READ, 1);
}

/* Moves the socket from the plain bufferevent to a new OpenSSL socket
 * bufferevent and starts the handshake. The plain one must hold nothing:
 * bytes it read arrived in clear (conn_starttls refuses them first), and
 * bytes it has not sent would be lost. On failure the conn fails with ev
 * (-1: synchronously) and keeps the plain bufferevent, which closes the
 * socket when freed. */
static int
conn_start_tls(struct conn *c, enum conn_state next, int ev)
{
	struct bufferevent	*plain = c->bev, *tbev;
	evutil_socket_t		 fd;
	SSL			*ssl;
	char			*cause;

	if (evbuffer_get_length(bufferevent_get_input(plain)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(plain)) != 0 ||
	    (fd = bufferevent_getfd(plain)) == -1) {
		conn_fail(c, ev, "%s: cannot start TLS: plain-text bytes are"
		    " still buffered", c->where);
		return (-1);
	}
	if ((ssl = tls_ssl_new(c->tls, c->host, c->fingerprint,
	    &cause)) == NULL) {
		conn_fail(c, ev, "%s: %s", c->where, cause);
		free(cause);
		return (-1);
	}
	/* Read ahead: one read(2) brings in as many records as fit in
	 * OpenSSL's buffer (about 17 KB), where reading one record at a time
	 * costs two (header, then body) and a trip through the loop for
	 * every record, 4 KB each from Dovecot. conn_tls_kick makes up for
	 * what libevent does not expect of it. */
	SSL_set_read_ahead(ssl, 1);
	/* Owns ssl from here, and the socket once the plain bufferevent lets
	 * go of it; frees ssl itself if it fails (never SSL_free it here). */
	tbev = bufferevent_openssl_socket_new(c->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE|BEV_OPT_DEFER_CALLBACKS);
	if (tbev == NULL) {
		conn_fail(c, ev, "%s: cannot create the TLS bufferevent",
		    c->where);
		return (-1);
	}
	/* Detached first, the plain bufferevent neither watches nor closes
	 * the socket when freed (maybe later: we may be inside its
	 * callback). */
	bufferevent_setfd(plain, -1);
	bufferevent_free(plain);
	c->bev = c->tls_bev = tbev;
	c->ssl = ssl;
	if ((c->tls_kick = event_new(c->base, -1, 0, conn_tls_kick_cb,
	    c)) == NULL ||
	    (c->tls_cb = evbuffer_add_cb(bufferevent_get_input(tbev),
	    conn_tls_buf_cb, c)) == NULL)
		fatalx("conn_start_tls: cannot create the TLS kick");
	bufferevent_setcb(tbev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(tbev, EV_READ, 0, CONN_INPUT_HIWAT);
	bufferevent_enable(tbev, EV_READ|EV_WRITE);
	c->state = next;
	conn_arm_timer(c);
	return (0);
}

/* Whether the kernel holds bytes not yet read into the input buffer. */
static int
conn_kernel_pending(struct conn *c)
{
	evutil_socket_t	fd;
	char		b;

	if ((fd = bufferevent_getfd(c->bev)) == -1)
		return (0);
	return (recv(fd, &b, 1, MSG_PEEK|MSG_DONTWAIT) > 0);
}

/* STARTTLS upgrade; see conn.h. */
int
conn_starttls(struct conn *c)
{
	char	*cause;

	if (c->state != CONN_S_OPEN || c->ssl != NULL || c->z != NULL) {
		conn_fail(c, -1, "%s: STARTTLS on a connection that is not"
		    " open in plain text", c->where);
		return (-1);
	}
	/* Anything the server sent after its OK and before the handshake
	 * was not protected by TLS: an injected response (NO STARTTLS). */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) != 0 ||
	    conn_kernel_pending(c)) {
		conn_fail(c, -1, "%s: bytes received before TLS: possible"
		    " STARTTLS injection", c->where);
		return (-1);
	}
	if (c->tls == NULL) {
		if ((c->own_tls = tls_ctx_new(c->ca_file, &cause)) == NULL) {
			conn_fail(c, -1, "%s: %s", c->where, cause);
			free(cause);
			return (-1);
		}
		c->tls = c->own_tls;
	}
	return (conn_start_tls(c, CONN_S_STARTTLS, -1));
}

/* The peer may close now; see conn.h. */
void
conn_expect_eof(struct conn *c)
{
	c->expect_eof = 1;
	if (c->ssl == NULL)
		return;
	/* OpenSSL 3 reports a TCP EOF without close_notify as an error;
	 * this option makes it a clean close (isync socket_expect_eof). The
	 * bufferevent needs allow_dirty_shutdown for an EOF OpenSSL reports
	 * as a failed system call. */
	SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	bufferevent_openssl_set_allow_dirty_shutdown(c->tls_bev, 1);
}

/* Sets the inactivity timeout of the current phase. */
void
conn_set_timeout(struct conn *c, unsigned int sec)
{
	c->timeout = sec;
	conn_arm_timer(c);
}

/* The socket, found under the compression filter if there is one (a
 * filter bufferevent does not answer bufferevent_getfd). */
static evutil_socket_t
conn_fd(struct conn *c)
{
	struct bufferevent	*b = c->bev, *u;

	while ((u = bufferevent_get_underlying(b)) != NULL)
		b = u;
	return (bufferevent_getfd(b));
}

/* Keepalive and no Nagle for a long-lived connection; see conn.h. */
void
conn_set_keepalive(struct conn *c)
{
	evutil_socket_t	fd;
	int		on = 1, idle = CONN_KEEPALIVE_IDLE;
	int		intvl = CONN_KEEPALIVE_INTVL, cnt = CONN_KEEPALIVE_CNT;

	if (c->bev == NULL || (fd = conn_fd(c)) == -1)
		return;
	/* Failures only cost the early notice: the owner's timers stay. */
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle,
	    sizeof idle) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof intvl) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) == -1)
		log_debug("%s: TCP keepalive: %s", c->name, strerror(errno));
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
		log_debug("%s: TCP_NODELAY: %s", c->name, strerror(errno));
}

/* The input buffer, NULL before the connection exists. */
struct evbuffer *
conn_input(struct conn *c)
{
	if (c->bev == NULL)
		return (NULL);
	return (bufferevent_get_input(c->bev));
}

/* Frees an empty evbuffer's chains: libevent keeps the space it reserved
 * for the last read (16 KiB and more) even when nothing came, and
 * evbuffer_drain() of an empty buffer does nothing; a byte added and
 * drained makes it free them all. */
static void
conn_evbuffer_trim(struct evbuffer *b)
{
	if (b != NULL && evbuffer_get_length(b) == 0 &&
	    evbuffer_add(b, "", 1) == 0)
		evbuffer_drain(b, 1);
}

/* Gives back the input buffers' memory while nothing is buffered, in
 * every layer (the compression filter's and the one below it); see
 * conn.h. OpenSSL's own record buffers go back by themselves
 * (SSL_MODE_RELEASE_BUFFERS, tls.c). */
void
conn_input_trim(struct conn *c)
{
	struct bufferevent	*b;

	for (b = c->bev; b != NULL; b = bufferevent_get_underlying(b))
		conn_evbuffer_trim(bufferevent_get_input(b));
}

/* An idle connection reads in small pieces: libevent reserves the most it
 * may read before every read attempt and keeps that space when nothing
 * comes, 16 KiB and more for each of a thousand idle connections (what
 * is already reserved, conn_input_trim frees); see conn.h. Every layer:
 * the one that reads the socket is the bottom one. */
void
conn_set_idle(struct conn *c, int idle)
{
	struct bufferevent	*b;

	/* 0 restores libevent's default. */
	for (b = c->bev; b != NULL; b = bufferevent_get_underlying(b))
		bufferevent_set_max_single_read(b, idle ? CONN_IDLE_READ : 0);
}

/* Reads one line of at most max bytes; see conn.h. */
int
conn_readline(struct conn *c, size_t max, char **line, size_t *len)
{
	struct evbuffer		*in;
	struct evbuffer_ptr	 p;
	size_t			 eol, n;

	*line = NULL;
	*len = 0;
	if ((in = conn_input(c)) == NULL)
		return (0);
	p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF);
	if ((p.pos == -1 && evbuffer_get_length(in) > max) ||
	    (p.pos != -1 && (size_t)p.pos > max)) {
		conn_fail(c, -1, "%s: line too long (more than %zu bytes)",
		    c->where, max);
		return (-1);
	}
	if (p.pos == -1)
		return (0);
	n = p.pos;
	*line = xmalloc(n + 1);
	if (evbuffer_remove(in, *line, n) != (int)n)
		fatalx("conn_readline: evbuffer_remove");
	(*line)[n] = '\0';
	evbuffer_drain(in, eol);
	*len = n;
	return (1);
}

/* Bytes queued and not yet sent, in every layer: the compression filter
 * moves them down at once, so its own buffer says little. The TLS
 * bufferevent drains its buffer only once OpenSSL has written a record
 * out, so the bytes in flight are counted there. */
static size_t
conn_output_pending(struct conn *c)
{
	struct bufferevent	*b;
	size_t			 n = 0;

	for (b = c->bev; b != NULL; b = bufferevent_get_underlying(b))
		n += evbuffer_get_length(bufferevent_get_output(b));
	return (n);
}

/* Queues bytes for sending. */
int
conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->state != CONN_S_OPEN) {
		if (c->state != CONN_S_DONE)
			conn_fail(c, -1, "%s: write before the connection is"
			    " open", c->where);
		return (-1);
	}
	if (conn_output_pending(c) + len > CONN_OUTPUT_MAX) {
		conn_fail(c, -1, "%s: more than %u bytes waiting to be sent:"
		    " the server is not reading", c->where, CONN_OUTPUT_MAX);
		return (-1);
	}
	if (bufferevent_write(c->bev, data, len) == -1) {
		conn_fail(c, -1, "%s: cannot queue output", c->where);
		return (-1);
	}
	return (0);
}

/* Formats and queues a line or command. */
int
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatalx("vasprintf: out of memory");
	r = conn_write(c, s, n);
	free(s);
	return (r);
}

/* Whether the connection runs over TLS (implicit or after STARTTLS). */
int
conn_is_tls(struct conn *c)
{
	return (c->ssl != NULL && c->tls_info != NULL);
}

/* The failure reason or NULL. */
const char *
conn_error(struct conn *c)
{
	return (c->error);
}

/* The address connected (or being connected) to. */
const char *
conn_peer(struct conn *c)
{
	return (c->peer);
}

/* Protocol, cipher and certificate, once TLS is up. */
const char *
conn_tls_info(struct conn *c)
{
	return (c->tls_info);
}

/* The SSL object, for diagnostics (mailfetchd --diagnose). */
SSL *
conn_ssl(struct conn *c)
{
	return (c->ssl);
}

/* Fails the connection from inside a compression filter. */
static void
conn_zfail(struct conn_z *z, const char *what, const char *detail)
{
	struct conn	*c = z->c;

	z->failed = 1;
	if (c == NULL)
		return;
	if (detail != NULL)
		conn_fail(c, CONN_EV_ERROR, "%s: %s (%s)", c->where, what,
		    detail);
	else
		conn_fail(c, CONN_EV_ERROR, "%s: %s", c->where, what);
}

/* Inflates from src into dst, at most room bytes, in chunks. Returns the
 * bytes produced or -1 (the conn has failed). Stopping at room marks the
 * stream stalled: zlib may hold output already consumed from src, which
 * only another call can get out (see conn_zdrain_cb). */
static ssize_t
conn_zinflate(struct conn_z *z, struct evbuffer *src, struct evbuffer *dst,
    size_t room)
{
	struct evbuffer_iovec	 in, out;
	size_t			 total = 0, want, used, got, avail;
	int			 n, r;

	if (z->ended && evbuffer_get_length(src) > 0) {
		/* RFC 4978: the stream lasts as long as the connection. */
		conn_zfail(z, "data after the end of the compressed stream",
		    NULL);
		return (-1);
	}
	if (z->ended)
		return (0);
	while (total < room) {
		n = evbuffer_peek(src, -1, NULL, &in, 1);
		avail = n > 0 ? in.iov_len : 0;
		want = room - total;
		if (want > CONN_Z_CHUNK)
			want = CONN_Z_CHUNK;
		if (evbuffer_reserve_space(dst, want, &out, 1) != 1) {
			conn_zfail(z, "cannot grow the input buffer", NULL);
			return (-1);
		}
		z->inf.next_in = avail > 0 ? in.iov_base : (Bytef *)"";
		z->inf.avail_in = avail;
		z->inf.next_out = out.iov_base;
		z->inf.avail_out = want;
		r = inflate(&z->inf, Z_SYNC_FLUSH);
		used = avail - z->inf.avail_in;
		got = want - z->inf.avail_out;
		/* Drain before commit: adding to dst may run libevent's
		 * callbacks, which must find src consistent. */
		if (used > 0)
			evbuffer_drain(src, used);
		if (got > 0) {
			out.iov_len = got;
			evbuffer_commit_space(dst, &out, 1);
		}
		z->stats.in_wire += used;
		z->stats.in_data += got;
		total += got;
		if (r == Z_STREAM_END) {
			/* Servers end the stream as they close (Dovecot after
			 * LOGOUT's OK). Whether the close was allowed is the
			 * session's call, as for any EOF; data after the end
			 * is an error (above). */
			z->ended = 1;
			if (evbuffer_get_length(src) > 0) {
				conn_zfail(z, "data after the end of the "
				    "compressed stream", NULL);
				return (-1);
			}
			break;
		}
		if (r != Z_OK && r != Z_BUF_ERROR) {
			conn_zfail(z, "compressed stream is corrupt",
			    z->inf.msg != NULL ? z->inf.msg : zError(r));
			return (-1);
		}
		if (used == 0 && got == 0)
			break;		/* needs more input */
	}
	z->stalled = total >= room;
	return (total);
}

/* The filter's input side: what the server sent, inflated into the input
 * the owner reads. limit is what the read high-water mark leaves room for;
 * libevent stops reading below while our input is full, so a compression
 * bomb inflates no faster than the owner drains. */
static enum bufferevent_filter_result
conn_zin_cb(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn_z	*z = arg;
	ssize_t		 n;

	if (z->c == NULL || z->failed)
		return (BEV_ERROR);
	if (z->busy)		/* called back from inside conn_zinflate */
		return (BEV_NEED_MORE);
	z->busy = 1;
	n = conn_zinflate(z, src, dst, limit < 0 ? CONN_INPUT_HIWAT :
	    (size_t)limit);
	z->busy = 0;
	if (n == -1)
		return (BEV_ERROR);
	return (n > 0 ? BEV_OK : BEV_NEED_MORE);
}

/* The filter's output side: deflates what the owner wrote, with a sync
 * flush after each burst (RFC 4978 section 4: the server must see every
 * command whole, not wait for more). */
static enum bufferevent_filter_result
conn_zout_cb(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn_z		*z = arg;
	struct evbuffer_iovec	 in, out;
	size_t			 left, got;
	int			 flush, r;

	if (z->c == NULL || z->failed)
		return (BEV_ERROR);
	while ((left = evbuffer_get_length(src)) > 0) {
		if (evbuffer_peek(src, -1, NULL, &in, 1) < 1)
			break;
		flush = in.iov_len >= left ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		z->def.next_in = in.iov_base;
		z->def.avail_in = in.iov_len;
		do {
			if (evbuffer_reserve_space(dst, CONN_Z_CHUNK, &out,
			    1) != 1) {
				conn_zfail(z, "cannot grow the output buffer",
				    NULL);
				return (BEV_ERROR);
			}
			z->def.next_out = out.iov_base;
			z->def.avail_out = CONN_Z_CHUNK;
			r = deflate(&z->def, flush);
			if (r != Z_OK && r != Z_BUF_ERROR) {
				conn_zfail(z, "cannot compress", zError(r));
				return (BEV_ERROR);
			}
			got = CONN_Z_CHUNK - z->def.avail_out;
			if (got > 0) {
				out.iov_len = got;
				evbuffer_commit_space(dst, &out, 1);
			}
			z->stats.out_wire += got;
		} while (z->def.avail_out == 0);
		got = in.iov_len - z->def.avail_in;
		z->stats.out_data += got;
		evbuffer_drain(src, got);
	}
	return (BEV_OK);
}

/* Frees the filter's context (called by libevent). */
static void
conn_z_free(void *arg)
{
	struct conn_z	*z = arg;

	if (z == NULL)
		return;
	if (z->inf_ready)
		inflateEnd(&z->inf);
	if (z->def_ready)
		deflateEnd(&z->def);
	free(z);
}

/* The owner drained input: if the last inflate stopped at the limit, zlib
 * may still hold output while nothing waits below, so libevent would never
 * call the filter again. Resume from the loop. */
static void
conn_zdrain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn_z	*z = arg;

	if (info->n_deleted == 0 || !z->stalled || z->failed || z->c == NULL)
		return;
	event_active(z->c->zkick, EV_TIMEOUT, 1);
}

/* Resumes a stalled inflate and tells the owner about the new input. */
static void
conn_zkick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in;
	size_t		 len;
	ssize_t		 n;

	if (c->state != CONN_S_OPEN || c->z == NULL || !c->z->stalled)
		return;
	in = bufferevent_get_input(c->bev);
	if ((len = evbuffer_get_length(in)) >= CONN_INPUT_HIWAT)
		return;
	c->z->busy = 1;
	n = conn_zinflate(c->z, bufferevent_get_input(
	    bufferevent_get_underlying(c->bev)), in, CONN_INPUT_HIWAT - len);
	c->z->busy = 0;
	if (n > 0)
		conn_read_cb(c->bev, c);
}

/* Logs the compression counters (the bench reads them). */
static void
conn_zlog(struct conn *c)
{
	struct conn_zstats	*st = &c->z->stats;

	log_debug("%s: compression: received %llu bytes, inflated to %llu;"
	    " sent %llu bytes, deflated from %llu", c->name,
	    (unsigned long long)st->in_wire, (unsigned long long)st->in_data,
	    (unsigned long long)st->out_wire,
	    (unsigned long long)st->out_data);
}

/* Whether bytes the owner has not read are waiting (they would be taken
 * for compressed data, or were meant to be read in clear). */
static int
conn_unread_input(struct conn *c)
{
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) != 0)
		return (1);
	if (c->ssl != NULL)
		return (SSL_pending(c->ssl) > 0);
	return (conn_kernel_pending(c));
}

/* Starts COMPRESS=DEFLATE; see conn.h. */
int
conn_compress(struct conn *c)
{
	struct conn_z		*z;
	struct bufferevent	*fbev;

	if (c->state != CONN_S_OPEN || c->z != NULL) {
		conn_fail(c, -1, "%s: COMPRESS on a connection that is not"
		    " open or already compressed", c->where);
		return (-1);
	}
	if (conn_unread_input(c)) {
		conn_fail(c, -1, "%s: bytes received before compression"
		    " started: refusing to guess how to read them", c->where);
		return (-1);
	}
	z = xcalloc(1, sizeof *z);
	z->c = c;
	/* Negative window bits: raw DEFLATE (RFC 1951), no zlib header. */
	if (inflateInit2(&z->inf, -15) != Z_OK) {
		conn_z_free(z);
		conn_fail(c, -1, "%s: cannot start zlib inflate", c->where);
		return (-1);
	}
	z->inf_ready = 1;
	if (deflateInit2(&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		conn_z_free(z);
		conn_fail(c, -1, "%s: cannot start zlib deflate", c->where);
		return (-1);
	}
	z->def_ready = 1;
	fbev = bufferevent_filter_new(c->bev, conn_zin_cb, conn_zout_cb,
	    BEV_OPT_CLOSE_ON_FREE|BEV_OPT_DEFER_CALLBACKS, conn_z_free, z);
	if (fbev == NULL) {
		conn_z_free(z);
		conn_fail(c, -1, "%s: cannot create the compression"
		    " bufferevent", c->where);
		return (-1);
	}
	if ((c->zkick = event_new(c->base, -1, 0, conn_zkick_cb, c)) == NULL)
		fatalx("conn_compress: cannot create an event");
	c->bev = fbev;
	c->z = z;
	if (evbuffer_add_cb(bufferevent_get_input(fbev), conn_zdrain_cb,
	    z) == NULL)
		fatalx("conn_compress: cannot add an evbuffer callback");
	bufferevent_setcb(fbev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(fbev, EV_READ, 0, CONN_INPUT_HIWAT);
	bufferevent_enable(fbev, EV_READ|EV_WRITE);
	conn_arm_timer(c);
	log_debug("%s: COMPRESS=DEFLATE on", c->name);
	return (0);
}

/* The compression counters; see conn.h. */
int
conn_wire_stats(struct conn *c, struct conn_zstats *st)
{
	if (c->z == NULL) {
		memset(st, 0, sizeof *st);
		return (0);
	}
	*st = c->z->stats;
	return (1);
}
