/* conn.c: one client connection. Resolves with evdns, tries every address
 * (bufferevent_socket_connect_hostname only tries the first), connects TCP,
 * then layers TLS on top with an OpenSSL filter bufferevent: right away for
 * implicit TLS, on request for STARTTLS, so both paths share one handshake
 * and one verification. One timer enforces every phase's timeout. The
 * owner hears about everything through one callback. */
#include "conn.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>

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

	struct bufferevent	*bev;		/* the top one: socket or TLS */
	SSL			*ssl;		/* owned by bev */
	char			*tls_info;
	int			 expect_eof;

	struct event		*timer;
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
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);

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
	c->state = CONN_S_NEW;
	xasprintf(&c->where, "%s port %u", c->host, c->port);
	c->timer = evtimer_new(base, conn_timer_cb, c);
	c->ev_final = event_new(base, -1, 0, conn_final_cb, c);
	if (c->timer == NULL || c->ev_final == NULL)
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
	/* With BEV_OPT_CLOSE_ON_FREE this also frees the SSL, the socket
	 * bufferevent under a TLS filter, and the socket. */
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->timer);
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

/* Starts connecting to the next address; fails the conn after the last. */
static void
conn_try_next(struct conn *c)
{
	struct evutil_addrinfo	*ai;

	while ((ai = c->ai_next) != NULL) {
		c->ai_next = ai->ai_next;
		conn_set_peer(c, ai->ai_addr, ai->ai_addrlen);
		log_debug("%s: connecting to %s", c->name, c->peer);
		c->bev = bufferevent_socket_new(c->base, -1,
		    BEV_OPT_CLOSE_ON_FREE|BEV_OPT_DEFER_CALLBACKS);
		if (c->bev == NULL) {
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

/* TCP is up: go on with TLS or tell the owner. */
static void
conn_tcp_up(struct conn *c)
{
	evutil_freeaddrinfo(c->ai_list);
	c->ai_list = c->ai_next = NULL;
	log_debug("%s: connected to %s", c->name, c->peer);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_INPUT_HIWAT);
	bufferevent_enable(c->bev, EV_READ|EV_WRITE);
	if (c->mode == TLS_IMPLICIT) {
		conn_start_tls(c, CONN_S_HANDSHAKE, CONN_EV_ERROR);
		return;
	}
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
	conn_notify(c, prev == CONN_S_HANDSHAKE ? CONN_EV_CONNECTED :
	    CONN_EV_TLS_READY);
}

/* Returns the first OpenSSL error recorded on the bufferevent and drains
 * the rest, so that nothing leaks into the next connection. */
static unsigned long
conn_ssl_error(struct conn *c)
{
	unsigned long	e, first = 0;

	if (c->ssl == NULL || c->bev == NULL)
		return (0);
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		if (first == 0)
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

/* Puts a TLS filter on top of the connection and starts the handshake.
 * On failure the conn fails with ev (-1: synchronously). */
static int
conn_start_tls(struct conn *c, enum conn_state next, int ev)
{
	struct bufferevent	*tbev;
	SSL			*ssl;
	char			*cause;

	if ((ssl = tls_ssl_new(c->tls, c->host, c->fingerprint,
	    &cause)) == NULL) {
		conn_fail(c, ev, "%s: %s", c->where, cause);
		free(cause);
		return (-1);
	}
	/* Owns ssl from here, and the socket bufferevent below it; frees ssl
	 * itself if it fails (never SSL_free it here). */
	tbev = bufferevent_openssl_filter_new(c->base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE|BEV_OPT_DEFER_CALLBACKS);
	if (tbev == NULL) {
		conn_fail(c, ev, "%s: cannot create the TLS bufferevent",
		    c->where);
		return (-1);
	}
	c->bev = tbev;
	c->ssl = ssl;
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

	if (c->state != CONN_S_OPEN || c->ssl != NULL) {
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
	 * filter bufferevent needs allow_dirty_shutdown for the same. */
	SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
}

/* Sets the inactivity timeout of the current phase. */
void
conn_set_timeout(struct conn *c, unsigned int sec)
{
	c->timeout = sec;
	conn_arm_timer(c);
}

/* The input buffer, NULL before the connection exists. */
struct evbuffer *
conn_input(struct conn *c)
{
	if (c->bev == NULL)
		return (NULL);
	return (bufferevent_get_input(c->bev));
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

/* Queues bytes for sending. */
int
conn_write(struct conn *c, const void *data, size_t len)
{
	struct evbuffer	*out;

	if (c->state != CONN_S_OPEN) {
		if (c->state != CONN_S_DONE)
			conn_fail(c, -1, "%s: write before the connection is"
			    " open", c->where);
		return (-1);
	}
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) + len > CONN_OUTPUT_MAX) {
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
