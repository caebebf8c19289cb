/* conn_probe.c: drives src/conn.c against a test server for
 * tests/integration/conn_tls.sh. Connects, prints the greeting line; with
 * --starttls it upgrades and prints the first line of the CAPABILITY (IMAP)
 * or CAPA (POP3) reply. Exit 0, or 1 with conn_error() on stderr.
 *
 * usage: conn_probe [--starttls imap|pop3] [--plain] [--ca FILE]
 *	  [--fingerprint FP] [--timeout S] [--hosts FILE] [--max-line N]
 *	  [--read-all] [--read-until LINE] [--expect-eof]
 *	  [--starttls-delay MS] [-v] HOST PORT
 *
 * --plain: tls = none. --hosts: resolve with this hosts file only (no DNS
 * servers, not /etc/hosts). --read-all: after the greeting (and STARTTLS),
 * print every line until the server closes (exit 0) or an error (exit 1).
 * --read-until: the same, but stop (exit 0) after printing LINE.
 * --expect-eof: call conn_expect_eof() after the greeting.
 * --starttls-delay: block MS milliseconds between reading the STARTTLS OK
 * and conn_starttls(), outside the event loop, so that whatever the server
 * sends meanwhile waits in the kernel, unread. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "xmalloc.h"

enum probe_phase {
	PROBE_GREETING,
	PROBE_STARTTLS_REPLY,
	PROBE_HANDSHAKE,
	PROBE_CAPA,
	PROBE_ALL,
};

enum probe_starttls {
	PROBE_NO_STARTTLS,
	PROBE_IMAP,
	PROBE_POP3,
};

struct probe {
	struct event_base	*base;
	enum probe_phase	 phase;
	enum probe_starttls	 starttls;
	int			 read_all;
	const char		*until;
	int			 expect_eof;
	size_t			 max_line;
	unsigned int		 starttls_delay;	/* ms */
	int			 status;
	int			 done;
	struct conn		*conn;
};

static __dead void
usage(void)
{
	fprintf(stderr, "usage: conn_probe [--starttls imap|pop3] [--plain]"
	    " [--ca FILE] [--fingerprint FP] [--timeout S] [--hosts FILE]"
	    " [--max-line N] [--read-all] [--read-until LINE] [--expect-eof]"
	    " [--starttls-delay MS] [-v] HOST PORT\n");
	exit(2);
}

/* Ends the run with a status. Frees the conn from inside its callback, as
 * the sessions will, to exercise the deferred free. */
static void
probe_done(struct probe *p, int status, const char *why)
{
	if (p->done)
		return;
	p->done = 1;
	if (why != NULL)
		fprintf(stderr, "conn_probe: %s\n", why);
	p->status = status;
	conn_free(p->conn);
	p->conn = NULL;
	event_base_loopbreak(p->base);
}

/* After the greeting or the upgrade: read everything, or stop. */
static void
probe_next(struct probe *p, struct conn *c)
{
	if (!p->read_all) {
		probe_done(p, 0, NULL);
		return;
	}
	if (p->expect_eof)
		conn_expect_eof(c);
	p->phase = PROBE_ALL;
}

/* Handles one line; returns -1 to stop reading. */
static int
probe_line(struct probe *p, struct conn *c, const char *line)
{
	int	ok;

	switch (p->phase) {
	case PROBE_GREETING:
		printf("%s\n", line);
		if (p->starttls == PROBE_NO_STARTTLS) {
			probe_next(p, c);
			return (p->read_all ? 0 : -1);
		}
		if (conn_printf(c, "%s\r\n", p->starttls == PROBE_IMAP ?
		    "a STARTTLS" : "STLS") == -1) {
			probe_done(p, 1, conn_error(c));
			return (-1);
		}
		p->phase = PROBE_STARTTLS_REPLY;
		return (0);
	case PROBE_STARTTLS_REPLY:
		if (p->starttls == PROBE_IMAP && strncmp(line, "* ", 2) == 0)
			return (0);
		ok = p->starttls == PROBE_IMAP ?
		    strncasecmp(line, "a OK", 4) == 0 :
		    strncmp(line, "+OK", 3) == 0;
		if (!ok) {
			fprintf(stderr, "conn_probe: STARTTLS refused: %s\n",
			    line);
			probe_done(p, 1, NULL);
			return (-1);
		}
		/* Upgrade right after the OK line, with whatever else came
		 * in the same read still in the buffer: conn must refuse. */
		if (p->starttls_delay != 0)
			usleep(p->starttls_delay * 1000);
		if (conn_starttls(c) == -1) {
			probe_done(p, 1, conn_error(c));
			return (-1);
		}
		p->phase = PROBE_HANDSHAKE;
		return (-1);
	case PROBE_CAPA:
		printf("%s\n", line);
		probe_next(p, c);
		return (p->read_all ? 0 : -1);
	case PROBE_ALL:
		printf("%s\n", line);
		if (p->until != NULL && strcmp(line, p->until) == 0) {
			probe_done(p, 0, NULL);
			return (-1);
		}
		return (0);
	case PROBE_HANDSHAKE:
		break;
	}
	probe_done(p, 1, "unexpected input during the TLS handshake");
	return (-1);
}

/* Reads complete lines while the phase wants them. */
static void
probe_input(struct probe *p, struct conn *c)
{
	char	*line;
	size_t	 len;
	int	 r;

	while (!p->done) {
		r = conn_readline(c, p->max_line, &line, &len);
		if (r == -1) {
			probe_done(p, 1, conn_error(c));
			return;
		}
		if (r == 0)
			return;
		r = probe_line(p, c, line);
		free(line);
		if (r == -1)
			return;
	}
}

/* The one callback conn talks through. */
static void
probe_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct probe	*p = arg;

	switch (ev) {
	case CONN_EV_CONNECTED:
		fprintf(stderr, "conn_probe: connected to %s%s%s\n",
		    conn_peer(c), conn_is_tls(c) ? ", " : "",
		    conn_is_tls(c) ? conn_tls_info(c) : "");
		break;
	case CONN_EV_INPUT:
		probe_input(p, c);
		break;
	case CONN_EV_TLS_READY:
		fprintf(stderr, "conn_probe: STARTTLS done, %s\n",
		    conn_tls_info(c));
		if (conn_printf(c, "%s\r\n", p->starttls == PROBE_IMAP ?
		    "b CAPABILITY" : "CAPA") == -1) {
			probe_done(p, 1, conn_error(c));
			break;
		}
		p->phase = PROBE_CAPA;
		break;
	case CONN_EV_CLOSED:
		if (p->phase == PROBE_ALL) {
			probe_input(p, c);
			probe_done(p, 0, "closed by the server");
		} else
			probe_done(p, 1, conn_error(c));
		break;
	case CONN_EV_ERROR:
	case CONN_EV_TIMEOUT:
		probe_done(p, 1, conn_error(c));
		break;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "starttls",	 required_argument, NULL, 's' },
		{ "plain",	 no_argument,	    NULL, 'p' },
		{ "ca",		 required_argument, NULL, 'c' },
		{ "fingerprint", required_argument, NULL, 'f' },
		{ "timeout",	 required_argument, NULL, 't' },
		{ "hosts",	 required_argument, NULL, 'H' },
		{ "max-line",	 required_argument, NULL, 'm' },
		{ "read-all",	 no_argument,	    NULL, 'a' },
		{ "read-until",	 required_argument, NULL, 'u' },
		{ "expect-eof",	 no_argument,	    NULL, 'e' },
		{ "starttls-delay", required_argument, NULL, 'd' },
		{ NULL,		 0,		    NULL, 0 }
	};
	struct conn_params	 cp;
	struct probe		 p;
	struct evdns_base	*dns;
	struct conn		*c;
	const char		*hosts = NULL;
	int			 ch, verbose = 0;

	memset(&cp, 0, sizeof cp);
	memset(&p, 0, sizeof p);
	cp.tls = TLS_IMPLICIT;
	cp.name = "probe";
	p.max_line = 8192;
	p.status = 1;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (strcmp(optarg, "imap") == 0)
				p.starttls = PROBE_IMAP;
			else if (strcmp(optarg, "pop3") == 0)
				p.starttls = PROBE_POP3;
			else
				usage();
			cp.tls = TLS_STARTTLS;
			break;
		case 'p':
			cp.tls = TLS_NONE;
			break;
		case 'c':
			cp.ca_file = optarg;
			break;
		case 'f':
			cp.fingerprint = optarg;
			break;
		case 't':
			cp.timeout_sec = strtoul(optarg, NULL, 10);
			break;
		case 'H':
			hosts = optarg;
			break;
		case 'm':
			p.max_line = strtoul(optarg, NULL, 10);
			break;
		case 'a':
			p.read_all = 1;
			break;
		case 'u':
			p.read_all = 1;
			p.until = optarg;
			break;
		case 'e':
			p.expect_eof = 1;
			break;
		case 'd':
			p.starttls_delay = strtoul(optarg, NULL, 10);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();
	cp.host = argv[0];
	cp.port = strtoul(argv[1], NULL, 10);
	log_init(verbose ? LOG_LVL_DEBUG : LOG_LVL_WARNING);
	log_force_stderr(1);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if ((p.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (hosts != NULL) {
		if ((dns = evdns_base_new(p.base, 0)) == NULL ||
		    evdns_base_load_hosts(dns, hosts) != 0)
			fatalx("cannot load hosts file %s", hosts);
	} else if ((dns = evdns_base_new(p.base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS|
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL)
		fatalx("evdns_base_new");

	c = p.conn = conn_new(p.base, dns, NULL, &cp, probe_cb, &p);
	if (conn_connect(c) == -1) {
		fprintf(stderr, "conn_probe: %s\n", conn_error(c));
		conn_free(c);
		p.conn = NULL;
	} else
		event_base_dispatch(p.base);

	conn_free(p.conn);
	evdns_base_free(dns, 0);
	event_base_free(p.base);
	return (p.status);
}
