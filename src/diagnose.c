/* diagnose.c: `mailfetchd --diagnose`. A small state machine of its own
 * over conn (not the fetch engines: a diagnosis must go on where a fetch
 * gives up, and say why at each step). DNS and TCP are probed address by
 * address first (conn alone tries every address and reports only the sum),
 * then one session walks greeting, capabilities, STARTTLS, login, folders
 * or STAT, and logout, printing a line per step to the owner's stream.
 *
 * Secrets: the password or token is read just before the login, encoded,
 * sent and wiped; no command that carries it is printed or logged. */
#include "diagnose.h"

#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <event2/util.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn.h"
#include "fetch.h"
#include "folder.h"
#include "imap_parse.h"
#include "log.h"
#include "pop3_parse.h"
#include "provider.h"
#include "sasl.h"
#include "secret.h"
#include "state.h"
#include "tls.h"
#include "xmalloc.h"

/* Longest server text printed. */
#define DIAG_TEXT_MAX		300
/* Folder names printed from the full list before "...". */
#define DIAG_LIST_SHOW		40
/* Certificate dates this close to now point at the clock, not the
 * certificate. */
#define DIAG_CLOCK_SKEW		(24 * 60 * 60)
/* Warn when the certificate expires within this many days. */
#define DIAG_EXPIRY_WARN	14

enum diag_state {
	DIAG_S_DNS,
	DIAG_S_TCP,
	DIAG_S_CONNECT,		/* TCP and implicit TLS of the session */
	DIAG_S_GREETING,
	DIAG_S_CAPS,		/* CAPABILITY / CAPA */
	DIAG_S_STARTTLS,	/* STARTTLS / STLS sent */
	DIAG_S_TLS,		/* STARTTLS handshake */
	DIAG_S_AUTH,
	DIAG_S_PASS,		/* POP3 USER accepted, PASS sent */
	DIAG_S_AUTH_CAPS,	/* IMAP CAPABILITY after the login */
	DIAG_S_NAMESPACE,	/* IMAP NAMESPACE (RFC 2342) */
	DIAG_S_LIST_ALL,	/* IMAP LIST "" "*" */
	DIAG_S_LIST,		/* IMAP LIST of one configured folder */
	DIAG_S_STATUS,		/* IMAP STATUS of one configured folder */
	DIAG_S_TRASH,		/* IMAP LIST of the trash folder */
	DIAG_S_STAT,		/* POP3 STAT */
	DIAG_S_LOGOUT,
	DIAG_S_DONE,
};

/* One account's diagnosis. */
struct diag {
	struct event_base		*base;
	struct evdns_base		*dns;
	const struct account_conf	*ac;
	const struct provider		*prov;
	FILE				*out;

	enum diag_state			 state;
	/* 0, or the enum fetch_exit of the first failure. */
	int				 status;
	int				 done;

	/* DNS and the per-address TCP probes. */
	char				**addrs;	/* numeric hosts */
	size_t				 naddrs;
	size_t				 next_addr;
	size_t				 addrs_ok;
	struct conn			*probe;

	/* The session. */
	struct conn			*conn;
	struct imap_parser		*parser;
	unsigned int			 tagno;
	char				 tag[16];
	unsigned int			 caps;
	char				*sasl;	/* "PLAIN ..." */
	int				 caps_seen;
	int				 in_capa;	/* POP3 CAPA body */
	struct pop3_capa		 capa;
	char				*pass;	/* "PASS ..." */
	const char			*mech;

	/* IMAP folders. */
	int				 delim;		/* server's separator */
	int				 delim_known;
	struct folder_ns		 ns;		/* NAMESPACE's */
	size_t				 folders_ok;	/* configured, found */
	size_t				 nexcluded;	/* from this pattern */
	size_t				 ntrashed;	/* the same, as
						 * remembered trash */
	char				**listed;	/* as configured */
	size_t				 nlisted;
	size_t				 folder;	/* current one */
	char				*folder_q;	/* quoted */
	uint64_t			 messages;
	int				 have_messages;
	int				 trash_checked;
	int				 list_plain;	/* LIST ... RETURN
						 * (SPECIAL-USE) refused */
	char				*role_wire[FOLDER_ROLE_MAX];
	char				*role_name[FOLDER_ROLE_MAX]; /* as
						 * printed (folder.h) */
	struct state			*st;	/* the trash folders a fetch
						 * remembers; NULL: none */
};

static void	diag_enter(struct diag *, enum diag_state);
static void	diag_next_folder(struct diag *);
static void	diag_conn_cb(struct conn *, enum conn_event, void *);
static void	diag_ns_note(struct diag *, const char *, int);

/*
 * Output.
 */

/* Prints one line: a tag ("[ ok ]", "[FAIL]", ...) or indentation. */
static void printflike(3, 0)
diag_vline(struct diag *d, const char *tag, const char *fmt, va_list ap)
{
	fprintf(d->out, "%s ", tag);
	vfprintf(d->out, fmt, ap);
	fputc('\n', d->out);
	fflush(d->out);
}

/* A step that worked. */
static void printflike(2, 3)
diag_ok(struct diag *d, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	diag_vline(d, "[ ok ]", fmt, ap);
	va_end(ap);
}

/* Something a fetch survives but the user should know. */
static void printflike(2, 3)
diag_warn(struct diag *d, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	diag_vline(d, "[warn]", fmt, ap);
	va_end(ap);
}

/* A detail under the step above it. */
static void printflike(2, 3)
diag_info(struct diag *d, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	diag_vline(d, "      ", fmt, ap);
	va_end(ap);
}

/* A failed step: records the status (the first one counts) and prints
 * the line; cause and fix follow with diag_info. Does not stop. */
static void printflike(3, 4)
diag_fail_line(struct diag *d, int status, const char *fmt, ...)
{
	va_list	ap;

	if (d->status == 0)
		d->status = status;
	va_start(ap, fmt);
	diag_vline(d, "[FAIL]", fmt, ap);
	va_end(ap);
}

/* Stops the diagnosis: no further step can work. */
static void
diag_stop(struct diag *d)
{
	d->state = DIAG_S_DONE;
	d->done = 1;
	event_base_loopbreak(d->base);
}

/* The server's text, printable; caller frees. */
static char *
diag_clean(const char *s, size_t len)
{
	return (log_sanitize(s, len, DIAG_TEXT_MAX));
}

/*
 * Step 1: the configuration.
 */

static const char *
diag_secret_source(const struct account_conf *ac)
{
	if (ac->oauth2 != NULL)
		return ("oauth2");
	if (ac->token_command != NULL)
		return ("token_command");
	if (ac->password_command != NULL)
		return ("password_command");
	return ("password_file");
}

static void
diag_config(struct diag *d)
{
	const struct account_conf	*ac = d->ac;

	diag_ok(d, "config: account \"%s\": %s to %s port %u, tls %s, user "
	    "\"%s\", secret from %s", ac->name, config_proto_name(ac->proto),
	    ac->host, ac->port, config_tls_name(ac->tls), ac->user,
	    diag_secret_source(ac));
	if (d->prov != NULL)
		diag_info(d, "provider preset: %s (%s)", d->prov->name,
		    d->prov->title);
	if (ac->tls == TLS_NONE)
		diag_warn(d, "config: tls = none: the password crosses the "
		    "network in clear text");
}

/*
 * Alternative ports, for a refused or silent port.
 */

/* Prints where else the service may listen. */
static void
diag_alt_ports(struct diag *d)
{
	const struct account_conf	*ac = d->ac;
	const struct provider_server	*ps = NULL;
	unsigned int			 alt;
	enum config_tls			 alttls;

	if (d->prov != NULL)
		ps = provider_server(d->prov, ac->proto);
	if (ps != NULL && (ps->port != ac->port ||
	    strcasecmp(ps->host, ac->host) != 0)) {
		diag_info(d, "fix: %s's %s server is %s port %u (tls = %s): "
		    "use that, or remove host/port to take the preset",
		    d->prov->title, config_proto_name(ac->proto), ps->host,
		    ps->port, config_tls_name(ps->tls));
		return;
	}
	if (ac->proto == PROTO_POP3) {
		alt = ac->port == 995 ? 110 : 995;
		alttls = alt == 995 ? TLS_IMPLICIT : TLS_STARTTLS;
	} else {
		alt = ac->port == 993 ? 143 : 993;
		alttls = alt == 993 ? TLS_IMPLICIT : TLS_STARTTLS;
	}
	diag_info(d, "fix: check host and port; %s is also served on port %u "
	    "(port = %u, tls = %s); a firewall may block port %u",
	    ac->proto == PROTO_POP3 ? "POP3" : "IMAP", alt, alt,
	    config_tls_name(alttls), ac->port);
}

/*
 * Steps 2 and 3: DNS, then TCP to each address.
 */

static void	diag_probe_next(struct diag *);

static void
diag_probe_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct diag	*d = arg;
	const char	*addr = d->addrs[d->next_addr - 1];

	switch (ev) {
	case CONN_EV_CONNECTED:
		d->addrs_ok++;
		diag_ok(d, "connect: %s port %u", addr, d->ac->port);
		break;
	case CONN_EV_ERROR:
	case CONN_EV_TIMEOUT:
		diag_warn(d, "connect: %s port %u: %s%s", addr, d->ac->port,
		    ev == CONN_EV_TIMEOUT ? "timed out: " : "",
		    conn_error(c) != NULL ? conn_error(c) : "failed");
		break;
	default:
		return;
	}
	conn_free(c);
	d->probe = NULL;
	diag_probe_next(d);
}

/* Probes the next address, or goes on to the session after the last. */
static void
diag_probe_next(struct diag *d)
{
	struct conn_params	 cp;

	if (d->next_addr == d->naddrs) {
		if (d->addrs_ok == 0) {
			diag_fail_line(d, EXIT_NETWORK, "connect: no address "
			    "of %s accepts connections on port %u", d->ac->host,
			    d->ac->port);
			diag_info(d, "cause: nothing listens there, or a "
			    "firewall drops or rejects the port");
			diag_alt_ports(d);
			diag_stop(d);
			return;
		}
		diag_enter(d, DIAG_S_CONNECT);
		return;
	}
	memset(&cp, 0, sizeof cp);
	cp.host = d->addrs[d->next_addr++];
	cp.port = d->ac->port;
	cp.tls = TLS_NONE;
	cp.timeout_sec = d->ac->timeout;
	cp.name = d->ac->name;
	d->probe = conn_new(d->base, d->dns, NULL, &cp, diag_probe_cb, d);
	if (conn_connect(d->probe) != 0) {
		diag_warn(d, "connect: %s: %s", cp.host,
		    conn_error(d->probe));
		conn_free(d->probe);
		d->probe = NULL;
		diag_probe_next(d);
	}
}

static void
diag_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct diag		*d = arg;
	struct evutil_addrinfo	*ai;
	char			 host[NI_MAXHOST], *list = NULL, *s;
	size_t			 n4 = 0, n6 = 0;

	if (result != 0 || res == NULL) {
		diag_fail_line(d, EXIT_NETWORK, "DNS: cannot resolve "
		    "\"%s\": %s", d->ac->host, result != 0 ?
		    evutil_gai_strerror(result) :
		    "no address");
		diag_info(d, "cause: the name is misspelt or does not exist, "
		    "or no DNS server answers");
		diag_info(d, "fix: check host = in the configuration and "
		    "this machine's DNS (/etc/resolv.conf)");
		if (res != NULL)
			evutil_freeaddrinfo(res);
		diag_stop(d);
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host,
		    NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		ai->ai_family == AF_INET6 ? n6++ : n4++;
		d->addrs = xreallocarray(d->addrs, d->naddrs + 1,
		    sizeof *d->addrs);
		d->addrs[d->naddrs++] = xstrdup(host);
		xasprintf(&s, "%s%s%s (%s)", list != NULL ? list : "",
		    list != NULL ? ", " : "", host,
		    ai->ai_family == AF_INET6 ? "AAAA" : "A");
		free(list);
		list = s;
	}
	evutil_freeaddrinfo(res);
	if (d->naddrs == 0) {
		diag_fail_line(d, EXIT_NETWORK, "DNS: \"%s\" has no usable "
		    "address", d->ac->host);
		diag_stop(d);
		return;
	}
	diag_ok(d, "DNS: %s: %s%s", d->ac->host, list,
	    n4 == 0 ? " (no A record)" : n6 == 0 ? " (no AAAA record)" : "");
	free(list);
	diag_enter(d, DIAG_S_TCP);
}

static void
diag_dns(struct diag *d)
{
	struct evutil_addrinfo	hints;
	char			port[16];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof port, "%u", d->ac->port);
	/* May call back before it returns (IP literal, hosts file). */
	evdns_getaddrinfo(d->dns, d->ac->host, port, &hints, diag_dns_cb, d);
}

/*
 * Step 4: TLS.
 */

/* "2025-01-01 00:00:00Z"; caller frees. */
static char *
diag_time(const ASN1_TIME *t)
{
	BIO	*bio;
	char	*data, *s;
	long	 len;

	if (t == NULL || (bio = BIO_new(BIO_s_mem())) == NULL)
		return (xstrdup("?"));
	ASN1_TIME_print_ex(bio, t, ASN1_DTFLGS_ISO8601);
	len = BIO_get_mem_data(bio, &data);
	s = xstrndup(data, len > 0 ? (size_t)len : 0);
	BIO_free(bio);
	return (s);
}

/* A certificate name, RFC 2253; caller frees. */
static char *
diag_name(const X509_NAME *n)
{
	BIO	*bio;
	char	*data, *s, *clean;
	long	 len;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return (xstrdup("?"));
	X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(bio, &data);
	s = xstrndup(data, len > 0 ? (size_t)len : 0);
	BIO_free(bio);
	clean = log_sanitize(s, strlen(s), DIAG_TEXT_MAX);
	free(s);
	return (clean);
}

/* Seconds from now to t (negative: in the past); 0 when unknown. */
static long
diag_seconds_to(const ASN1_TIME *t)
{
	int	days, secs;

	if (t == NULL || !ASN1_TIME_diff(&days, &secs, NULL, t))
		return (0);
	return ((long)days * 86400 + secs);
}

/* Prints subject, issuer, validity and fingerprint of x. */
static void
diag_cert(struct diag *d, X509 *x)
{
	char	*s, *nb, *na;

	s = diag_name(X509_get_subject_name(x));
	diag_info(d, "subject: %s", s);
	free(s);
	s = diag_name(X509_get_issuer_name(x));
	diag_info(d, "issuer: %s", s);
	free(s);
	nb = diag_time(X509_get0_notBefore(x));
	na = diag_time(X509_get0_notAfter(x));
	diag_info(d, "valid: from %s until %s", nb, na);
	free(nb);
	free(na);
	s = tls_fingerprint(x);
	diag_info(d, "fingerprint: %s (to pin it: fingerprint = \"%s\")", s,
	    s);
	free(s);
}

/* The handshake worked: print what was agreed and who the server is. */
static void
diag_tls_ok(struct diag *d)
{
	SSL	*ssl = conn_ssl(d->conn);
	X509	*x;
	long	 left;

	if (ssl == NULL)
		return;
	diag_ok(d, "TLS: %s, cipher %s, certificate verified for \"%s\"%s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl), d->ac->host,
	    d->ac->fingerprint != NULL ? " and the pinned fingerprint" : "");
	if ((x = SSL_get0_peer_certificate(ssl)) == NULL)
		return;
	diag_cert(d, x);
	left = diag_seconds_to(X509_get0_notAfter(x));
	if (left > 0 && left < DIAG_EXPIRY_WARN * 86400L)
		diag_warn(d, "TLS: the certificate expires in %ld day(s): "
		    "the server's administrator should renew it", left / 86400);
}

/* The handshake failed: the reason, the certificate if one came, and
 * what to do about it. */
static void
diag_tls_failed(struct diag *d, const char *why)
{
	SSL		*ssl = conn_ssl(d->conn);
	STACK_OF(X509)	*chain;
	X509		*x = NULL;
	long		 nb = 0, na = 0;

	diag_fail_line(d, EXIT_NETWORK, "TLS: %s", why);
	if (ssl != NULL && (chain = SSL_get_peer_cert_chain(ssl)) != NULL &&
	    sk_X509_num(chain) > 0)
		x = sk_X509_value(chain, 0);
	if (x != NULL) {
		diag_info(d, "the server presented:");
		diag_cert(d, x);
		nb = diag_seconds_to(X509_get0_notBefore(x));
		na = diag_seconds_to(X509_get0_notAfter(x));
	}
	if (strstr(why, "not yet valid") != NULL) {
		if (nb > 0 && nb < DIAG_CLOCK_SKEW)
			diag_info(d, "cause: the certificate becomes valid in "
			    "%ld minute(s): this machine's clock is probably "
			    "behind", nb / 60);
		diag_info(d, "fix: check the system clock (date -u; is NTP "
		    "on?)");
	} else if (strstr(why, "expired") != NULL) {
		if (x != NULL && na < 0 && -na < DIAG_CLOCK_SKEW)
			diag_info(d, "cause: the certificate expired only %ld "
			    "minute(s) ago: check the system clock (date -u), "
			    "or the server was not renewed in time", -na / 60);
		else
			diag_info(d, "cause: the server's certificate has "
			    "expired; fix: its administrator must renew it "
			    "(and check the system clock: date -u)");
	} else if (strstr(why, "issuer is not trusted") != NULL) {
		diag_info(d, "cause: the certificate's issuer (above) is not "
		    "a CA this system trusts (%s): a private or self-signed "
		    "CA, or something intercepting the connection",
		    d->ac->ca_file != NULL ? "ca_file" : "the system store");
		diag_info(d, "fix: if you trust that issuer, name its CA "
		    "certificate in ca_file; otherwise check the network");
	} else if (strstr(why, "certificate is for") != NULL) {
		diag_info(d, "fix: set host to a name the certificate is for "
		    "(the provider's documented server name)");
	} else if (strstr(why, "fingerprint mismatch") != NULL) {
		diag_info(d, "fix: the server's certificate changed: check it "
		    "is genuine, then update fingerprint =");
	} else if (strstr(why, "did not answer with TLS") != NULL) {
		diag_info(d, "cause: port %u speaks plain text first",
		    d->ac->port);
		diag_alt_ports(d);
	}
	diag_stop(d);
}

/*
 * The session: sending.
 */

/* Sends a line (CRLF added). Lines holding a secret pass secret = 1: they
 * are never logged, even at debug level. */
static int printflike(3, 4)
diag_send(struct diag *d, int secret, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;
	int	 n, r;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatalx("vasprintf: out of memory");
	if (!secret)
		log_debug("%s: > %s", d->ac->name, line);
	r = conn_printf(d->conn, "%s\r\n", line);
	if (secret)
		xfree_secret(line);
	else
		free(line);
	if (r != 0) {
		diag_fail_line(d, EXIT_NETWORK, "connection: cannot send: %s",
		    conn_error(d->conn));
		diag_stop(d);
	}
	return (r);
}

/* Sends a tagged IMAP command. */
static int printflike(3, 4)
diag_imap_send(struct diag *d, int secret, const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;
	int	 r;

	snprintf(d->tag, sizeof d->tag, "d%u", ++d->tagno);
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) == -1)
		fatalx("vasprintf: out of memory");
	va_end(ap);
	r = diag_send(d, secret, "%s %s", d->tag, cmd);
	if (secret)
		xfree_secret(cmd);
	else
		free(cmd);
	return (r);
}

/*
 * Steps 6 and 7: the secret and the login.
 */

/* Reads the secret; NULL (and the diagnosis stops) on failure. */
static char *
diag_secret(struct diag *d)
{
	const struct account_conf	*ac = d->ac;
	char				*secret, *cause;

	if ((secret = secret_get(ac, &cause)) == NULL) {
		diag_fail_line(d, EXIT_CONFIG, "secret: %s", cause);
		free(cause);
		diag_info(d, "fix: the file must exist, be readable by this "
		    "user and hold the password on its first line; a command "
		    "must exit 0 and print it");
		diag_stop(d);
		return (NULL);
	}
	if (ac->password_file != NULL)
		diag_ok(d, "secret: read from password_file \"%s\" (not "
		    "shown)", ac->password_file);
	else
		diag_ok(d, "secret: %s ran and gave one (not shown)",
		    diag_secret_source(ac));
	return (secret);
}

/* IMAP: picks a mechanism and sends the login. */
static void
diag_imap_auth(struct diag *d)
{
	const struct account_conf	*ac = d->ac;
	unsigned int			 want = ac->auth_mechs;
	char				*secret, *b64 = NULL, *qu, *qp;
	char				*cause;

	if ((secret = diag_secret(d)) == NULL)
		return;
	d->mech = NULL;
	if (ac->token_command != NULL || ac->oauth2 != NULL) {
		if ((want == 0 || (want & AUTH_OAUTHBEARER)) &&
		    (d->caps & IMAP_CAP_AUTH_OAUTHBEARER)) {
			d->mech = "OAUTHBEARER";
			b64 = sasl_oauthbearer(ac->user, ac->host, ac->port,
			    secret);
		} else if ((want == 0 || (want & AUTH_XOAUTH2)) &&
		    (d->caps & IMAP_CAP_AUTH_XOAUTH2)) {
			d->mech = "XOAUTH2";
			b64 = sasl_xoauth2(ac->user, secret);
		}
	} else if ((want == 0 || (want & AUTH_PLAIN)) &&
	    (d->caps & IMAP_CAP_AUTH_PLAIN)) {
		d->mech = "PLAIN";
		b64 = sasl_plain(ac->user, secret);
	} else if ((want == 0 || (want & AUTH_LOGIN)) &&
	    !(d->caps & IMAP_CAP_LOGINDISABLED)) {
		d->mech = "LOGIN";
		qu = imap_parse_quote(ac->user, strlen(ac->user), &cause);
		qp = qu == NULL ? NULL :
		    imap_parse_quote(secret, strlen(secret), &cause);
		xfree_secret(secret);
		if (qp == NULL) {
			free(qu);
			diag_fail_line(d, EXIT_CONFIG, "authentication: cannot "
			    "send the user name or password with LOGIN: %s",
			    cause);
			free(cause);
			diag_stop(d);
			return;
		}
		diag_enter(d, DIAG_S_AUTH);
		diag_imap_send(d, 1, "LOGIN %s %s", qu, qp);
		free(qu);
		xfree_secret(qp);
		return;
	}
	xfree_secret(secret);
	if (d->mech == NULL) {
		diag_fail_line(d, EXIT_AUTH, "authentication: no usable "
		    "mechanism: the server offers %s%s", d->sasl != NULL ?
		    d->sasl : "no SASL mechanism", d->caps & IMAP_CAP_LOGINDISABLED ?
		    " and LOGINDISABLED" : "");
		diag_info(d, "fix: %s",
		    ac->token_command != NULL || ac->oauth2 != NULL ?
		    "this server does not take OAuth2 tokens: use a password" :
		    d->caps & IMAP_CAP_LOGINDISABLED && !conn_is_tls(d->conn) ?
		    "the server takes passwords only over TLS: use tls = "
		    "implicit or starttls" : "check the auth setting");
		diag_stop(d);
		return;
	}
	diag_enter(d, DIAG_S_AUTH);
	if (d->caps & IMAP_CAP_SASL_IR)
		diag_imap_send(d, 1, "AUTHENTICATE %s %s", d->mech, b64);
	else if (diag_imap_send(d, 0, "AUTHENTICATE %s", d->mech) == 0)
		diag_send(d, 1, "%s", b64);
	xfree_secret(b64);
}

/* POP3: picks a mechanism and sends the login. */
static void
diag_pop3_auth(struct diag *d)
{
	const struct account_conf	*ac = d->ac;
	unsigned int			 want = ac->auth_mechs;
	char				*secret, *b64 = NULL;

	if ((secret = diag_secret(d)) == NULL)
		return;
	d->mech = NULL;
	if (ac->token_command != NULL || ac->oauth2 != NULL) {
		if ((want == 0 || (want & AUTH_XOAUTH2)) &&
		    (d->capa.sasl & POP3_SASL_XOAUTH2)) {
			d->mech = "XOAUTH2";
			b64 = sasl_xoauth2(ac->user, secret);
		} else if ((want == 0 || (want & AUTH_OAUTHBEARER)) &&
		    (d->capa.sasl & POP3_SASL_OAUTHBEARER)) {
			d->mech = "OAUTHBEARER";
			b64 = sasl_oauthbearer(ac->user, ac->host, ac->port,
			    secret);
		}
	} else if ((want == 0 || (want & AUTH_PLAIN)) &&
	    (d->capa.sasl & POP3_SASL_PLAIN)) {
		d->mech = "PLAIN";
		b64 = sasl_plain(ac->user, secret);
	} else if (want == 0 || (want & AUTH_LOGIN)) {
		d->mech = "USER/PASS";
		xasprintf(&d->pass, "PASS %s", secret);
	}
	xfree_secret(secret);
	if (d->mech == NULL) {
		diag_fail_line(d, EXIT_AUTH, "authentication: no usable "
		    "mechanism (the server's CAPA offers none of those "
		    "allowed)");
		diag_info(d, "fix: %s",
		    ac->token_command != NULL || ac->oauth2 != NULL ?
		    "this server does not take OAuth2 tokens: use a password" :
		    "check the auth setting");
		diag_stop(d);
		return;
	}
	diag_enter(d, DIAG_S_AUTH);
	if (b64 != NULL) {
		diag_send(d, 1, "AUTH %s %s", d->mech, b64);
		xfree_secret(b64);
	} else
		diag_send(d, 0, "USER %s", ac->user);
}

/* A refused login: the server's words, then the hint. */
static void
diag_auth_refused(struct diag *d, int status, const char *text,
    const char *code)
{
	const char	*hint;

	diag_fail_line(d, status, "authentication: the server refused the "
	    "login of \"%s\" (%s): %s%s%s%s", d->ac->user, d->mech,
	    code != NULL ? "[" : "", code != NULL ? code : "",
	    code != NULL ? "] " : "", text);
	hint = provider_hint(d->ac->proto, text, code);
	if (hint != NULL)
		diag_info(d, "hint: %s", hint);
	else
		diag_info(d, "hint: check user and the password; the server "
		    "gave no more precise reason");
	if (d->prov != NULL)
		diag_info(d, "%s: enable first: %s", d->prov->title,
		    d->prov->enable);
	diag_enter(d, DIAG_S_LOGOUT);
}

/*
 * Step 5: greeting and capabilities.
 */

/* What the server offers before the login. */
static void
diag_imap_caps_print(struct diag *d)
{
	diag_ok(d, "capabilities: STARTTLS %s, LOGINDISABLED %s; SASL: %s",
	    d->caps & IMAP_CAP_STARTTLS ? "yes" : "no",
	    d->caps & IMAP_CAP_LOGINDISABLED ? "yes" : "no",
	    d->sasl != NULL ? d->sasl : "none");
}

/* What the server offers once logged in (servers such as Dovecot list
 * extensions only then). */
static void
diag_imap_caps_after(struct diag *d)
{
	diag_ok(d, "capabilities after login: IDLE %s, UIDPLUS %s, MOVE %s, "
	    "COMPRESS=DEFLATE %s",
	    d->caps & IMAP_CAP_IDLE ? "yes" : "no",
	    d->caps & IMAP_CAP_UIDPLUS ? "yes" : "no",
	    d->caps & IMAP_CAP_MOVE ? "yes" : "no",
	    d->caps & IMAP_CAP_COMPRESS ? "yes" : "no");
	if (d->ac->idle && !(d->caps & IMAP_CAP_IDLE))
		diag_warn(d, "capabilities: no IDLE: idle = yes falls back "
		    "to polling");
	if (!d->ac->keep && !(d->caps & IMAP_CAP_UIDPLUS))
		diag_warn(d, "capabilities: no UIDPLUS: keep = no expunges "
		    "with plain EXPUNGE");
	diag_enter(d, (d->caps & IMAP_CAP_NAMESPACE) ? DIAG_S_NAMESPACE :
	    DIAG_S_LIST_ALL);
}

static void
diag_imap_caps_from(struct diag *d, const struct imap_response *r)
{
	const struct imap_node	*list, *n;
	const char		*s;
	char			*t, *u;

	d->caps = imap_parse_capabilities(r);
	free(d->sasl);
	d->sasl = NULL;
	list = r->code == IMAP_CODE_CAPABILITY ? r->code_args : r->args;
	for (n = list != NULL ? list->child : NULL; n != NULL; n = n->next) {
		if ((s = imap_parse_node_str(n, NULL)) == NULL ||
		    strncasecmp(s, "AUTH=", 5) != 0)
			continue;
		t = diag_clean(s + 5, strlen(s + 5));
		if (d->sasl != NULL) {
			xasprintf(&u, "%s %s", d->sasl, t);
			free(d->sasl);
			free(t);
			t = u;
		}
		d->sasl = t;
	}
	d->caps_seen = 1;
}

/* Capabilities known: STARTTLS if wanted, else the login. */
static void
diag_caps_done(struct diag *d)
{
	int	stls;

	stls = d->ac->proto == PROTO_POP3 ?
	    (d->capa.flags & POP3_CAPA_STLS) != 0 :
	    (d->caps & IMAP_CAP_STARTTLS) != 0;
	if (d->ac->tls == TLS_STARTTLS && !conn_is_tls(d->conn)) {
		if (!stls) {
			diag_fail_line(d, EXIT_NETWORK, "capabilities: the "
			    "server does not offer %s (tls = starttls)",
			    d->ac->proto == PROTO_POP3 ? "STLS" : "STARTTLS");
			diag_info(d, "cause: STARTTLS is off on this port, or "
			    "something between strips it (never log in "
			    "without it)");
			diag_alt_ports(d);
			diag_enter(d, DIAG_S_LOGOUT);
			return;
		}
		diag_ok(d, "capabilities: %s offered (before TLS)",
		    d->ac->proto == PROTO_POP3 ? "STLS" : "STARTTLS");
		diag_enter(d, DIAG_S_STARTTLS);
		return;
	}
	if (d->ac->proto == PROTO_POP3) {
		diag_ok(d, "capabilities: %sUIDL %s, TOP %s, PIPELINING %s, "
		    "STLS %s; SASL:%s%s%s%s%s",
		    d->caps_seen ? "" : "(no CAPA) ",
		    d->capa.flags & POP3_CAPA_UIDL ? "yes" : "no",
		    d->capa.flags & POP3_CAPA_TOP ? "yes" : "no",
		    d->capa.flags & POP3_CAPA_PIPELINING ? "yes" : "no",
		    d->capa.flags & POP3_CAPA_STLS ? "yes" : "no",
		    d->capa.sasl & POP3_SASL_PLAIN ? " PLAIN" : "",
		    d->capa.sasl & POP3_SASL_LOGIN ? " LOGIN" : "",
		    d->capa.sasl & POP3_SASL_XOAUTH2 ? " XOAUTH2" : "",
		    d->capa.sasl & POP3_SASL_OAUTHBEARER ? " OAUTHBEARER" : "",
		    d->capa.sasl == 0 ? " none" : "");
		if (d->caps_seen && !(d->capa.flags & POP3_CAPA_UIDL))
			diag_warn(d, "capabilities: no UIDL in CAPA: the "
			    "server may not remember which messages were "
			    "fetched");
		diag_pop3_auth(d);
		return;
	}
	diag_imap_caps_print(d);
	diag_imap_auth(d);
}

/*
 * Step 8: folders (IMAP) and STAT (POP3).
 */

static void
diag_listed_clear(struct diag *d)
{
	size_t	i;

	for (i = 0; i < d->nlisted; i++)
		free(d->listed[i]);
	free(d->listed);
	d->listed = NULL;
	d->nlisted = 0;
	d->nexcluded = d->ntrashed = 0;
}

/* The special-use roles of a selectable folder of the LIST of all
 * folders: the first folder of each role is that role's (as imap.c). */
static void
diag_roles_note(struct diag *d, const struct imap_response *r,
    const char *name)
{
	unsigned int	roles = folder_roles_of(r->flags);
	int		role;

	if (!folder_ns_personal(&d->ns, r->mailbox, r->delim))
		return;		/* as imap.c: only the user's own */
	for (role = FOLDER_ROLE_NONE + 1; role < FOLDER_ROLE_MAX; role++) {
		if (!(roles & (1u << role)) || d->role_wire[role] != NULL)
			continue;
		d->role_wire[role] = xstrdup(r->mailbox);
		d->role_name[role] = xstrdup(name);
	}
}

/* Before the LIST of all folders is asked again: no role known. */
static void
diag_roles_clear(struct diag *d)
{
	int	role;

	for (role = 0; role < FOLDER_ROLE_MAX; role++) {
		free(d->role_wire[role]);
		free(d->role_name[role]);
		d->role_wire[role] = d->role_name[role] = NULL;
	}
}

/* Says which folder has each special-use role, for folder "\Junk" and
 * keep = no's default trash (mailfetchd.conf(5)). */
static void
diag_roles_print(struct diag *d)
{
	char	*s = xstrdup(""), *t;
	int	 role;

	for (role = FOLDER_ROLE_NONE + 1; role < FOLDER_ROLE_MAX; role++) {
		if (d->role_name[role] == NULL)
			continue;
		xasprintf(&t, "%s%s%s \"%s\"", s, *s == '\0' ? "" : ", ",
		    folder_role_name(role), d->role_name[role]);
		free(s);
		s = t;
	}
	if (*s == '\0')
		diag_info(d, "special-use folders: none (the server marks no "
		    "folder %s)", folder_role_names());
	else
		diag_info(d, "special-use folders: %s", s);
	free(s);
}

/* A folder configured by its role: the server's folder of that role,
 * whose STATUS is asked next (0), or a failure line (-1). */
static int
diag_role_folder(struct diag *d, const struct folder_conf *fc)
{
	const char	*wire = d->role_wire[fc->role];
	char		*cause;

	if (wire == NULL) {
		diag_fail_line(d, EXIT_PARTIAL, "folder \"%s\": the server "
		    "has no folder with this special-use role", fc->remote);
		return (-1);
	}
	if ((d->folder_q = imap_parse_quote(wire, strlen(wire),
	    &cause)) == NULL) {
		diag_fail_line(d, EXIT_PROTOCOL, "folder \"%s\": %s",
		    fc->remote, cause);
		free(cause);
		return (-1);
	}
	diag_ok(d, "folder \"%s\": the server's \"%s\"", fc->remote,
	    d->role_name[fc->role]);
	d->have_messages = 0;
	diag_enter(d, DIAG_S_STATUS);
	return (0);
}

/* An untagged LIST: keep the name of a selectable mailbox as the
 * configuration spells it (UTF-8, '/' between levels; folder.h). The
 * LIST of all folders says the server's separator (the first one not
 * NIL). */
static void
diag_list_untagged(struct diag *d, const struct imap_response *r)
{
	char	*name, *p;
	int	 bad;

	if (d->state == DIAG_S_LIST_ALL && d->delim == 0) {
		/* A flat INBOX (NIL) may come before the others. */
		d->delim = r->delim;
		d->delim_known = 1;
	}
	if (r->mailbox == NULL || (r->flags != NULL &&
	    (imap_parse_list_has(r->flags, "\\Noselect") ||
	    imap_parse_list_has(r->flags, "\\NonExistent"))))
		return;
	if (d->state == DIAG_S_LIST && d->ac->folders[d->folder].is_pattern &&
	    (folder_pattern_excluded(r->flags) != NULL ||
	    folder_role_excluded(d->role_wire, r->mailbox) != NULL)) {
		d->nexcluded++;		/* as imap.c: patterns skip them */
		return;
	}
	if (d->state == DIAG_S_LIST && d->ac->folders[d->folder].is_pattern &&
	    d->st != NULL && state_trashed_has(d->st, r->mailbox)) {
		d->ntrashed++;		/* and those (review r11 01) */
		return;
	}
	name = folder_wire_to_utf8(r->mailbox, &bad);
	for (p = name; r->delim != 0 && r->delim != '/' && *p != '\0'; p++) {
		if (*p == r->delim)
			*p = '/';
	}
	if (d->state == DIAG_S_LIST_ALL) {
		diag_roles_note(d, r, name);
		diag_ns_note(d, name, r->delim);
	}
	d->listed = xreallocarray(d->listed, d->nlisted + 1,
	    sizeof *d->listed);
	d->listed[d->nlisted++] = name;
}

/* A folder of the LIST of all folders in another namespace
 * ("#shared/team") that NAMESPACE did not name: its separator is that
 * namespace's (imap.c asks LIST "" "#shared" instead). */
static void
diag_ns_note(struct diag *d, const char *name, int delim)
{
	char	*prefix;

	if ((prefix = folder_ns_guess(name)) == NULL)
		return;
	if (!folder_ns_has(&d->ns, prefix))
		folder_ns_set(&d->ns, prefix, delim);
	free(prefix);
}

/* "a, b, c" of the listed names (at most DIAG_LIST_SHOW); caller frees. */
static char *
diag_listed_join(struct diag *d)
{
	char	*s = xstrdup(""), *t;
	size_t	 i;

	/* The names are printable already (folder_wire_to_utf8). */
	for (i = 0; i < d->nlisted && i < DIAG_LIST_SHOW; i++) {
		xasprintf(&t, "%s%s\"%s\"", s, i == 0 ? "" : ", ",
		    d->listed[i]);
		free(s);
		s = t;
	}
	if (d->nlisted > DIAG_LIST_SHOW) {
		xasprintf(&t, "%s, ... (%zu more)", s,
		    d->nlisted - DIAG_LIST_SHOW);
		free(s);
		s = t;
	}
	return (s);
}

/* Says how configured names map to the server's: a separator that is
 * not '/' is where a user's '/' goes; a namespace with a separator of
 * its own is named. */
static void
diag_separator(struct diag *d)
{
	size_t	i;

	for (i = 0; i < d->ns.n; i++) {
		if (d->ns.delim[i] != d->delim && d->ns.delim[i] != 0 &&
		    d->ns.prefix[i][0] != '\0')
			diag_info(d, "note: in the namespace \"%s\" the server "
			    "separates levels with '%c'", d->ns.prefix[i],
			    d->ns.delim[i]);
	}
	if (!d->delim_known || d->delim == '/')
		return;
	if (d->delim == 0)
		diag_info(d, "note: the server has no folder hierarchy; "
		    "folders are shown and configured as named");
	else
		diag_info(d, "note: the server separates folder levels with "
		    "'%c'; they are shown and configured with '/' (\"A/B\" "
		    "is the server's \"A%cB\")", d->delim, d->delim);
}

/* keep = no without a trash_folder: where delivered messages go (as
 * imap.c's imap_trash_resolve: the \Trash folder on Gmail only). */
static void
diag_trash_default(struct diag *d)
{
	const char	*name = d->role_name[FOLDER_ROLE_TRASH];

	if (d->ac->trash_none)
		diag_info(d, "keep = no, trash_folder = \"\": delivered "
		    "messages are flagged \\Deleted and expunged");
	else if (!(d->caps & IMAP_CAP_XGM))
		diag_info(d, "keep = no: delivered messages are flagged "
		    "\\Deleted and expunged (set trash_folder = '\\Trash' to "
		    "move them to the server's \\Trash folder instead)");
	else if (name != NULL && folder_conf_fetches(d->ac->folders,
	    d->ac->nfolders, d->role_wire, &d->ns, d->delim,
	    d->role_wire[FOLDER_ROLE_TRASH]))
		diag_info(d, "keep = no: the server's \\Trash folder \"%s\" "
		    "is one of the folders this account fetches, so delivered "
		    "messages are not moved there but flagged \\Deleted and "
		    "expunged", name);
	else if (name != NULL)
		diag_info(d, "keep = no: delivered messages are moved to the "
		    "server's \\Trash folder \"%s\"", name);
	else
		diag_warn(d, "keep = no: the server has no \\Trash folder; "
		    "delivered messages are flagged \\Deleted and expunged, "
		    "which on Gmail only takes a label off (set trash_folder "
		    "= \"[Gmail]/Trash\" to delete)");
}

/* trash_folder = '\Archive': the server's folder of that role, or a
 * failure (keep = no then leaves the messages on the server). */
static void
diag_trash_role(struct diag *d, int role)
{
	if (d->role_name[role] != NULL)
		diag_ok(d, "trash folder \"%s\": the server's \"%s\"",
		    d->ac->trash_folder, d->role_name[role]);
	else
		diag_fail_line(d, EXIT_CONFIG, "trash folder \"%s\": the "
		    "server has no folder with this special-use role",
		    d->ac->trash_folder);
}

/* After the folders, with keep = no and a trash_folder: LIST it (once).
 * 0 when sent, -1 when there is nothing to check. */
static int
diag_trash_begin(struct diag *d)
{
	const char	*trash = d->ac->trash_folder;
	char		*m, *cause = NULL;
	int		 role;

	if (!d->ac->keep && trash == NULL && !d->trash_checked) {
		d->trash_checked = 1;
		diag_trash_default(d);
	}
	if (d->ac->keep || trash == NULL || d->trash_checked)
		return (-1);
	d->trash_checked = 1;
	if ((role = folder_role_of_conf(trash)) > FOLDER_ROLE_NONE) {
		diag_trash_role(d, role);
		return (-1);
	}
	if ((m = folder_ns_conf_to_wire(&d->ns, folder_conf_unescape(trash),
	    d->delim, &cause)) == NULL ||
	    (d->folder_q = imap_parse_quote(m, strlen(m), &cause)) == NULL) {
		diag_fail_line(d, EXIT_CONFIG, "trash folder \"%s\": %s",
		    trash, cause);
		free(cause);
		free(m);
		return (-1);
	}
	free(m);
	diag_listed_clear(d);
	diag_enter(d, DIAG_S_TRASH);
	return (0);
}

/* The trash folder's LIST is in: it exists, or mailfetchd will create it
 * (on the server's [TRYCREATE], the first time it moves messages). */
static void
diag_trash_done(struct diag *d, int ok)
{
	const char	*trash = d->ac->trash_folder;

	if (ok && d->nlisted > 0)
		diag_ok(d, "trash folder \"%s\": exists", trash);
	else
		diag_warn(d, "trash folder \"%s\": does not exist on the "
		    "server; mailfetchd creates it the first time it moves "
		    "delivered messages there", trash);
	diag_enter(d, DIAG_S_LOGOUT);
}

/* LIST for the next configured folder, then the trash folder, then
 * LOGOUT. */
static void
diag_next_folder(struct diag *d)
{
	const struct folder_conf	*fc;
	char				*m, *cause = NULL;

	free(d->folder_q);
	d->folder_q = NULL;
	for (; d->folder < d->ac->nfolders; d->folder++) {
		fc = &d->ac->folders[d->folder];
		if (fc->role != FOLDER_ROLE_NONE) {
			if (diag_role_folder(d, fc) == 0)
				return;
			continue;
		}
		if ((m = folder_ns_conf_to_wire(&d->ns,
		    folder_conf_unescape(fc->remote), d->delim,
		    &cause)) == NULL ||
		    (d->folder_q = imap_parse_quote(m, strlen(m),
		    &cause)) == NULL) {
			diag_fail_line(d, EXIT_CONFIG, "folder \"%s\": %s",
			    fc->remote, cause);
			free(cause);
			cause = NULL;
			free(m);
			continue;
		}
		free(m);
		diag_listed_clear(d);
		diag_enter(d, DIAG_S_LIST);
		return;
	}
	if (diag_trash_begin(d) == 0)
		return;
	diag_enter(d, DIAG_S_LOGOUT);
}

/* The LIST of configured folder d->folder is in. */
static void
diag_list_done(struct diag *d)
{
	const struct folder_conf	*fc = &d->ac->folders[d->folder];
	char				*s;

	if (d->nlisted == 0 && d->nexcluded + d->ntrashed > 0) {
		diag_warn(d, "folder pattern \"%s\": matches only \\All, "
		    "\\Junk or \\Trash folders, or folders mailfetchd moved "
		    "mail into as the trash, which patterns do not fetch "
		    "(name a folder to fetch it)", fc->remote);
		d->folder++;
		diag_next_folder(d);
		return;
	}
	if (d->nlisted == 0) {
		diag_fail_line(d, EXIT_PARTIAL, "folder \"%s\": %s on the "
		    "server", fc->remote, fc->is_pattern ?
		    "the pattern matches no selectable folder" :
		    "does not exist (or cannot be selected)");
		diag_info(d, "fix: use one of the server's folders listed "
		    "above (names are case-sensitive except INBOX)");
		if ((s = folder_conf_mutf7_hint(fc->remote)) != NULL)
			diag_info(d, "note: folder names are UTF-8; if \"%s\" "
			    "is modified UTF-7, write \"%s\"", fc->remote, s);
		free(s);
		d->folder++;
		diag_next_folder(d);
		return;
	}
	if (fc->is_pattern) {
		s = diag_listed_join(d);
		diag_ok(d, "folder pattern \"%s\": matches %zu: %s",
		    fc->remote, d->nlisted, s);
		if (d->nexcluded > 0)
			diag_info(d, "note: %zu more \\All, \\Junk or \\Trash "
			    "folder%s not fetched through a pattern (name a "
			    "folder to fetch it)", d->nexcluded,
			    d->nexcluded == 1 ? "" : "s");
		if (d->ntrashed > 0)
			diag_info(d, "note: %zu more folder%s mailfetchd "
			    "moved delivered mail into as the trash not fetched "
			    "through a pattern", d->ntrashed,
			    d->ntrashed == 1 ? "" : "s");
		d->folders_ok++;
		free(s);
		d->folder++;
		diag_next_folder(d);
		return;
	}
	d->have_messages = 0;
	diag_enter(d, DIAG_S_STATUS);
}

/* POP3 STAT: count, size and whether it looks like a window. */
static void
diag_stat(struct diag *d, const struct pop3_reply *r)
{
	unsigned int	 count;
	uint64_t	 size;
	char		*cause;

	if (pop3_parse_stat(r->text, r->text_len, &count, &size,
	    &cause) != 0) {
		diag_fail_line(d, EXIT_PROTOCOL, "mailbox: bad STAT answer: "
		    "%s", cause);
		free(cause);
		diag_enter(d, DIAG_S_LOGOUT);
		return;
	}
	diag_ok(d, "mailbox: %u message%s, %llu bytes", count,
	    count == 1 ? "" : "s", (unsigned long long)size);
	/* Some providers serve POP3 a window of the newest messages
	 * (Gmail's "POP for mail that arrives from now on", batch limits):
	 * a suspiciously round count is the sign. */
	if (count == 1000 || (d->prov != NULL && count >= 250 &&
	    count % 250 == 0))
		diag_info(d, "note: exactly %u messages may be the provider's "
		    "POP3 window rather than the whole mailbox: older mail "
		    "may not be offered over POP3 (check the provider's POP "
		    "settings, e.g. \"Enable POP for all mail\")", count);
	diag_enter(d, DIAG_S_LOGOUT);
}

/*
 * The state machine.
 */

/* Sends what a state needs. */
static void
diag_enter(struct diag *d, enum diag_state next)
{
	struct conn_params	cp;
	int			pop3 = d->ac->proto == PROTO_POP3;

	d->state = next;
	switch (next) {
	case DIAG_S_TCP:
		d->next_addr = 0;
		diag_probe_next(d);
		break;
	case DIAG_S_CONNECT:
		memset(&cp, 0, sizeof cp);
		cp.host = d->ac->host;
		cp.port = d->ac->port;
		cp.tls = d->ac->tls;
		cp.ca_file = d->ac->ca_file;
		cp.fingerprint = d->ac->fingerprint;
		cp.timeout_sec = d->ac->timeout;
		cp.name = d->ac->name;
		d->conn = conn_new(d->base, d->dns, NULL, &cp, diag_conn_cb,
		    d);
		if (conn_connect(d->conn) != 0) {
			diag_fail_line(d, EXIT_NETWORK, "connect: %s",
			    conn_error(d->conn));
			diag_stop(d);
		}
		break;
	case DIAG_S_CAPS:
	case DIAG_S_AUTH_CAPS:
		d->caps_seen = 0;
		pop3_parse_capa_init(&d->capa);
		if (pop3)
			diag_send(d, 0, "CAPA");
		else
			diag_imap_send(d, 0, "CAPABILITY");
		break;
	case DIAG_S_STARTTLS:
		if (pop3)
			diag_send(d, 0, "STLS");
		else
			diag_imap_send(d, 0, "STARTTLS");
		break;
	case DIAG_S_NAMESPACE:
		diag_imap_send(d, 0, "NAMESPACE");
		break;
	case DIAG_S_LIST_ALL:
		/* The roles as the fetch learns them (imap.c): a server
		 * may mark them only in the answer to RETURN (SPECIAL-USE). */
		diag_imap_send(d, 0, "LIST \"\" \"*\"%s",
		    (d->caps & IMAP_CAP_SPECIAL_USE) && !d->list_plain ?
		    " RETURN (SPECIAL-USE)" : "");
		break;
	case DIAG_S_LIST:
	case DIAG_S_TRASH:
		diag_imap_send(d, 0, "LIST \"\" %s", d->folder_q);
		break;
	case DIAG_S_STATUS:
		diag_imap_send(d, 0, "STATUS %s (MESSAGES)", d->folder_q);
		break;
	case DIAG_S_STAT:
		diag_send(d, 0, "STAT");
		break;
	case DIAG_S_LOGOUT:
		conn_expect_eof(d->conn);
		if (pop3)
			diag_send(d, 0, "QUIT");
		else
			diag_imap_send(d, 0, "LOGOUT");
		break;
	default:
		break;
	}
}

/* The session's TLS came up (implicit, or after STARTTLS). */
static void
diag_tls_up(struct diag *d)
{
	diag_tls_ok(d);
	if (d->state == DIAG_S_TLS)
		diag_enter(d, DIAG_S_CAPS);	/* again: RFC 3501 6.2.1 */
}

/* Logged in: on to the folders or STAT. */
static void
diag_authenticated(struct diag *d)
{
	diag_ok(d, "authentication: logged in as \"%s\" (%s)", d->ac->user,
	    d->mech);
	if (d->ac->proto == PROTO_POP3)
		diag_enter(d, DIAG_S_STAT);
	else if (d->caps_seen)
		diag_imap_caps_after(d);
	else
		diag_enter(d, DIAG_S_AUTH_CAPS);
}

/* The logout was answered: the end. */
static void
diag_logged_out(struct diag *d)
{
	diag_ok(d, "logout");
	diag_stop(d);
}

/* The greeting of either protocol was refused. */
static void
diag_greeting_refused(struct diag *d, const char *text)
{
	const char	*hint;

	diag_fail_line(d, EXIT_PROTOCOL, "greeting: the server refuses the "
	    "connection: %s", text);
	if ((hint = provider_hint(d->ac->proto, text, NULL)) != NULL)
		diag_info(d, "hint: %s", hint);
	diag_stop(d);
}

/*
 * IMAP responses.
 */

static void
diag_imap_greeting(struct diag *d, const struct imap_response *r)
{
	char	*text;

	text = diag_clean(r->text, strlen(r->text));
	if (r->type != IMAP_RESP_UNTAGGED || r->status == IMAP_STATUS_NONE) {
		diag_fail_line(d, EXIT_PROTOCOL, "greeting: not an IMAP "
		    "server");
		diag_alt_ports(d);
		diag_stop(d);
	} else if (r->status == IMAP_STATUS_PREAUTH) {
		diag_fail_line(d, EXIT_PROTOCOL, "greeting: PREAUTH (logged "
		    "in before any TLS or login): refused: %s", text);
		diag_stop(d);
	} else if (r->status != IMAP_STATUS_OK)
		diag_greeting_refused(d, text);
	else {
		diag_ok(d, "greeting: %s", text);
		diag_enter(d, DIAG_S_CAPS);
	}
	free(text);
}

/* A tagged answer to the command of the current state. */
static void
diag_imap_tagged(struct diag *d, const struct imap_response *r)
{
	int	 ok = r->status == IMAP_STATUS_OK;
	char	*text;

	if (strcmp(r->tag, d->tag) != 0)
		return;
	text = diag_clean(r->text, strlen(r->text));
	switch (d->state) {
	case DIAG_S_CAPS:
		if (!ok) {
			diag_fail_line(d, EXIT_PROTOCOL, "capabilities: "
			    "CAPABILITY refused: %s", text);
			diag_stop(d);
			break;
		}
		if (!d->caps_seen && r->code == IMAP_CODE_CAPABILITY)
			diag_imap_caps_from(d, r);
		diag_caps_done(d);
		break;
	case DIAG_S_STARTTLS:
		if (!ok) {
			diag_fail_line(d, EXIT_NETWORK, "TLS: STARTTLS "
			    "refused: %s", text);
			diag_stop(d);
			break;
		}
		d->state = DIAG_S_TLS;
		if (conn_starttls(d->conn) != 0)
			diag_tls_failed(d, conn_error(d->conn));
		break;
	case DIAG_S_AUTH:
		d->caps_seen = 0;
		if (ok && r->code == IMAP_CODE_CAPABILITY)
			diag_imap_caps_from(d, r);
		if (ok)
			diag_authenticated(d);
		else
			diag_auth_refused(d, r->code == IMAP_CODE_UNAVAILABLE ?
			    EXIT_NETWORK : EXIT_AUTH, text, r->code_name);
		break;
	case DIAG_S_AUTH_CAPS:
		if (!ok) {
			diag_fail_line(d, EXIT_PROTOCOL, "capabilities: "
			    "CAPABILITY refused after login: %s", text);
			diag_enter(d, DIAG_S_LOGOUT);
			break;
		}
		diag_imap_caps_after(d);
		break;
	case DIAG_S_NAMESPACE:
		if (!ok)	/* announced but refused: one separator */
			folder_ns_clear(&d->ns);
		diag_enter(d, DIAG_S_LIST_ALL);
		break;
	case DIAG_S_LIST_ALL:
		if (!ok && (d->caps & IMAP_CAP_SPECIAL_USE) && !d->list_plain) {
			d->list_plain = 1;	/* asked again plainly */
			diag_listed_clear(d);
			diag_roles_clear(d);
			diag_enter(d, DIAG_S_LIST_ALL);
			break;
		}
		if (!ok) {
			diag_fail_line(d, EXIT_PROTOCOL, "folders: LIST "
			    "refused: %s", text);
			diag_enter(d, DIAG_S_LOGOUT);
			break;
		}
		free(text);
		text = diag_listed_join(d);
		diag_ok(d, "folders: %zu on the server: %s", d->nlisted, text);
		diag_separator(d);
		diag_roles_print(d);
		d->folder = 0;
		diag_next_folder(d);
		break;
	case DIAG_S_LIST:
		if (!ok)
			diag_listed_clear(d);
		diag_list_done(d);
		break;
	case DIAG_S_STATUS:
		if (ok && d->have_messages)
			d->folders_ok++;
		if (ok && d->have_messages)
			diag_ok(d, "folder \"%s\": %llu message%s",
			    d->ac->folders[d->folder].remote,
			    (unsigned long long)d->messages,
			    d->messages == 1 ? "" : "s");
		else
			diag_fail_line(d, EXIT_PARTIAL, "folder \"%s\": STATUS "
			    "refused: %s", d->ac->folders[d->folder].remote,
			    text);
		d->folder++;
		diag_next_folder(d);
		break;
	case DIAG_S_TRASH:
		diag_trash_done(d, ok);
		break;
	case DIAG_S_LOGOUT:
		diag_logged_out(d);
		break;
	default:
		break;
	}
	free(text);
}

static void
diag_imap_response(struct diag *d, const struct imap_response *r)
{
	if (d->state == DIAG_S_GREETING) {
		diag_imap_greeting(d, r);
		return;
	}
	switch (r->type) {
	case IMAP_RESP_TAGGED:
		diag_imap_tagged(d, r);
		break;
	case IMAP_RESP_CONTINUATION:
		/* A SASL failure sent as a challenge (XOAUTH2): an empty
		 * answer makes the server end the exchange with NO. */
		if (d->state == DIAG_S_AUTH)
			diag_send(d, 0, "%s", "");
		break;
	case IMAP_RESP_UNTAGGED:
		if (r->data == IMAP_DATA_CAPABILITY &&
		    (d->state == DIAG_S_CAPS || d->state == DIAG_S_AUTH_CAPS))
			diag_imap_caps_from(d, r);
		else if (r->data == IMAP_DATA_NAMESPACE &&
		    d->state == DIAG_S_NAMESPACE)
			folder_ns_parse(&d->ns, r);
		else if (r->data == IMAP_DATA_LIST &&
		    (d->state == DIAG_S_LIST_ALL || d->state == DIAG_S_LIST ||
		    d->state == DIAG_S_TRASH))
			diag_list_untagged(d, r);
		else if (r->data == IMAP_DATA_STATUS &&
		    d->state == DIAG_S_STATUS &&
		    imap_parse_status_item(r, "MESSAGES", &d->messages) == 0)
			d->have_messages = 1;
		else if (r->status == IMAP_STATUS_BYE &&
		    d->state != DIAG_S_LOGOUT) {
			char *t = diag_clean(r->text, strlen(r->text));

			diag_greeting_refused(d, t);
			free(t);
		}
		break;
	}
}

static void
diag_imap_read(struct diag *d)
{
	struct evbuffer		*in;
	struct evbuffer_iovec	 v;
	size_t			 used;
	char			*cause;
	int			 ev;

	while (!d->done && d->state != DIAG_S_TLS &&
	    (in = conn_input(d->conn)) != NULL &&
	    evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		ev = imap_parse_feed(d->parser, v.iov_base, v.iov_len, &used,
		    &cause);
		evbuffer_drain(in, used);
		if (ev == IMAP_PARSE_ERROR) {
			diag_fail_line(d, EXIT_PROTOCOL, "protocol: bad "
			    "response from the server: %s", cause);
			free(cause);
			diag_stop(d);
			return;
		}
		if (ev == IMAP_PARSE_RESPONSE)
			diag_imap_response(d, imap_parse_response(d->parser));
	}
}

/*
 * POP3 responses.
 */

static void
diag_pop3_status(struct diag *d, const struct pop3_reply *r)
{
	char	*text, *code = NULL;
	int	 ok = r->status == POP3_OK;

	text = diag_clean(r->text, r->text_len);
	if (r->code_str != NULL)
		code = xstrndup(r->code_str, r->code_len);
	switch (d->state) {
	case DIAG_S_GREETING:
		if (!ok)
			diag_greeting_refused(d, text);
		else {
			diag_ok(d, "greeting: %s", text);
			diag_enter(d, DIAG_S_CAPS);
		}
		break;
	case DIAG_S_CAPS:
		if (ok)
			d->in_capa = 1;
		else
			diag_caps_done(d);	/* no CAPA: RFC 1939 only */
		break;
	case DIAG_S_STARTTLS:
		if (!ok) {
			diag_fail_line(d, EXIT_NETWORK, "TLS: STLS refused: %s",
			    text);
			diag_stop(d);
			break;
		}
		d->state = DIAG_S_TLS;
		if (conn_starttls(d->conn) != 0)
			diag_tls_failed(d, conn_error(d->conn));
		break;
	case DIAG_S_AUTH:
	case DIAG_S_PASS:
		if (r->status == POP3_CONT) {
			diag_send(d, 0, "%s", "");	/* SASL error */
			break;
		}
		if (!ok) {
			xfree_secret(d->pass);
			d->pass = NULL;
			diag_auth_refused(d, r->code == POP3_CODE_IN_USE ?
			    EXIT_LOCKED : r->code == POP3_CODE_SYS_TEMP ||
			    r->code == POP3_CODE_LOGIN_DELAY ? EXIT_NETWORK :
			    EXIT_AUTH, text, code);
			break;
		}
		if (d->state == DIAG_S_AUTH && d->pass != NULL) {
			d->state = DIAG_S_PASS;
			diag_send(d, 1, "%s", d->pass);
			xfree_secret(d->pass);
			d->pass = NULL;
			break;
		}
		diag_authenticated(d);
		break;
	case DIAG_S_STAT:
		if (ok)
			diag_stat(d, r);
		else {
			diag_fail_line(d, EXIT_PROTOCOL, "mailbox: STAT "
			    "refused: %s", text);
			diag_enter(d, DIAG_S_LOGOUT);
		}
		break;
	case DIAG_S_LOGOUT:
		diag_logged_out(d);
		break;
	default:
		break;
	}
	free(code);
	free(text);
}

/* One line of the CAPA body. */
static void
diag_capa_line(struct diag *d, const char *line, size_t len)
{
	unsigned int	 anomalies = 0;
	char		*cause;

	if (pop3_parse_unstuff(&line, &len, &anomalies)) {
		d->in_capa = 0;
		d->caps_seen = 1;
		diag_caps_done(d);
		return;
	}
	if (pop3_parse_capa_line(&d->capa, line, len, &cause) != 0)
		free(cause);
}

static void
diag_pop3_read(struct diag *d)
{
	struct pop3_reply	 r;
	char			*line, *cause;
	size_t			 len;
	int			 n;

	while (!d->done && d->state != DIAG_S_TLS) {
		if ((n = conn_readline(d->conn, POP3_LINE_MAX, &line,
		    &len)) == 0)
			return;
		if (n == -1) {
			diag_fail_line(d, EXIT_PROTOCOL, "protocol: %s",
			    conn_error(d->conn));
			diag_stop(d);
			return;
		}
		if (d->in_capa)
			diag_capa_line(d, line, len);
		else if (pop3_parse_status(line, len, &r, &cause) != 0) {
			diag_fail_line(d, EXIT_PROTOCOL, "protocol: %s%s",
			    d->state == DIAG_S_GREETING ?
			    "not a POP3 server: " : "", cause);
			free(cause);
			if (d->state == DIAG_S_GREETING)
				diag_alt_ports(d);
			diag_stop(d);
		} else
			diag_pop3_status(d, &r);
		free(line);
	}
}

/* Events of the session's connection. */
static void
diag_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct diag	*d = arg;
	const char	*err = conn_error(c);

	if (d->done)
		return;
	switch (ev) {
	case CONN_EV_CONNECTED:
		if (conn_is_tls(c))
			diag_tls_up(d);
		else if (d->ac->tls == TLS_NONE)
			diag_ok(d, "TLS: not used (tls = none)");
		d->state = DIAG_S_GREETING;
		break;
	case CONN_EV_TLS_READY:
		diag_tls_up(d);
		break;
	case CONN_EV_INPUT:
		if (d->ac->proto == PROTO_POP3)
			diag_pop3_read(d);
		else
			diag_imap_read(d);
		break;
	case CONN_EV_CLOSED:
		if (d->state == DIAG_S_LOGOUT) {
			diag_logged_out(d);
			break;
		}
		/* FALLTHROUGH */
	case CONN_EV_ERROR:
	case CONN_EV_TIMEOUT:
		if (err == NULL)
			err = "connection lost";
		if ((d->state == DIAG_S_CONNECT || d->state == DIAG_S_TLS) &&
		    strstr(err, ": TLS") != NULL)
			diag_tls_failed(d, err);
		else if (d->state == DIAG_S_LOGOUT) {
			diag_warn(d, "logout: %s", err);
			diag_stop(d);
		} else {
			diag_fail_line(d, EXIT_NETWORK, "connection: %s%s",
			    ev == CONN_EV_TIMEOUT ? "timed out: " : "", err);
			if (d->state == DIAG_S_AUTH || d->state == DIAG_S_PASS)
				diag_info(d, "cause: the server hung up at the "
				    "login (some providers do so for a "
				    "refused or disabled account)");
			diag_stop(d);
		}
		break;
	}
}

/*
 * Driving one account.
 */

static void
diag_free(struct diag *d)
{
	size_t	i;

	conn_free(d->probe);
	conn_free(d->conn);
	imap_parse_free(d->parser);
	for (i = 0; i < d->naddrs; i++)
		free(d->addrs[i]);
	free(d->addrs);
	diag_listed_clear(d);
	for (i = 0; i < FOLDER_ROLE_MAX; i++) {
		free(d->role_wire[i]);
		free(d->role_name[i]);
	}
	free(d->folder_q);
	folder_ns_clear(&d->ns);
	free(d->sasl);
	xfree_secret(d->pass);
}

/* Runs the steps for one account; returns its status. */
static int
diag_account(struct event_base *base, struct evdns_base *dns,
    const struct config *conf, const struct account_conf *ac, FILE *out)
{
	struct diag	 d;
	struct timeval	 drain = { 1, 0 };
	char		*cause;
	int		 rc;

	memset(&d, 0, sizeof d);
	d.base = base;
	d.dns = dns;
	d.ac = ac;
	d.out = out;
	d.prov = ac->provider != NULL ? provider_find(ac->provider) : NULL;
	d.parser = imap_parse_new(NULL);
	/* Without the lock: what the fetch last saved (review r11 01). */
	if ((d.st = state_open_journal(conf->state_dir, ac->name,
	    &cause)) == NULL)
		free(cause);	/* the fetch says it */

	fprintf(out, "account \"%s\":\n", ac->name);
	diag_config(&d);
	d.state = DIAG_S_DNS;
	diag_dns(&d);
	while (!d.done) {
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	}
	if (!d.done && d.status == 0)
		diag_fail_line(&d, EXIT_NETWORK, "internal: nothing left to "
		    "wait for");
	/* As a fetch would end (fetch.h): a folder failing alone is a
	 * partial failure, every folder failing is the server's refusal. */
	if (d.status == EXIT_PARTIAL && d.folders_ok == 0)
		d.status = EXIT_PROTOCOL;
	rc = d.status;
	fprintf(out, "%s: %s\n", ac->name, rc == 0 ? "everything a fetch "
	    "needs works" : outcome_name(rc));
	fflush(out);
	diag_free(&d);
	state_close(d.st);
	/* Let libevent finish what the frees deferred (a bufferevent with
	 * callbacks still queued is released from the loop); bounded, in
	 * case the resolver keeps something registered. */
	event_base_loopexit(base, &drain);
	event_base_dispatch(base);
	return (rc);
}

int
diagnose_run(const struct config *conf, const char *const *names, size_t n,
    FILE *out)
{
	struct event_base	*base;
	struct evdns_base	*dns;
	const struct account_conf *ac;
	size_t			 i, count;
	int			 rc = 0, r;

	for (i = 0; i < n; i++) {
		if (config_find_account(conf, names[i]) == NULL) {
			fprintf(stderr, "mailfetchd: no account \"%s\" in %s\n",
			    names[i], conf->path);
			return (EXIT_CONFIG);
		}
	}
	count = n != 0 ? n : conf->naccounts;
	if (count == 0) {
		fprintf(stderr, "mailfetchd: no account in %s\n", conf->path);
		return (EXIT_CONFIG);
	}
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL)
		fatalx("cannot set up DNS resolution (evdns_base_new)");
	for (i = 0; i < count; i++) {
		ac = n != 0 ? config_find_account(conf, names[i]) :
		    &conf->accounts[i];
		if (i > 0)
			fputc('\n', out);
		r = diag_account(base, dns, conf, ac, out);
		if (rc == 0)
			rc = r;
	}
	evdns_base_free(dns, 0);
	event_base_free(base);
	return (rc);
}
