/* compress_probe.c: drives COMPRESS=DEFLATE in src/conn.c against an IMAP
 * server for tests/integration/compress.sh and the bench. Connects, reads
 * the greeting, optionally logs in, sends COMPRESS DEFLATE, calls
 * conn_compress() on the OK, then sends each --cmd in turn and reads the
 * responses: every literal's bytes go through SHA-256 (not printed), so a
 * large body can be checked byte for byte in bounded memory. At the end it
 * prints, on stdout:
 *
 *	literal_bytes N sha256 HEX
 *	wire_in A data_in B wire_out C data_out D
 *
 * usage: compress_probe [--plain] [--ca FILE] [--timeout S] [--user U
 *	  --password-file F] [--no-compress] [--cmd COMMAND]... [-v] HOST PORT
 *
 * --no-compress: skip COMPRESS (for a comparison). Exit 0; 1 with the
 * reason on stderr; 3 when the server refuses COMPRESS (tagged NO/BAD). */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "conn.h"
#include "log.h"
#include "xmalloc.h"

#define PROBE_MAX_LINE	(64 * 1024)
#define PROBE_MAX_CMDS	16

enum probe_phase {
	PROBE_GREETING,
	PROBE_LOGIN,
	PROBE_COMPRESS,
	PROBE_COMMANDS,
};

struct probe {
	struct event_base	*base;
	struct conn		*conn;
	enum probe_phase	 phase;
	const char		*user;
	char			*password;
	int			 compress;
	const char		*cmds[PROBE_MAX_CMDS];
	int			 ncmds;
	int			 next_cmd;
	uint64_t		 lit_left;	/* of the literal being read */
	uint64_t		 lit_total;
	EVP_MD_CTX		*md;
	int			 status;
	int			 done;
};

static __dead void
usage(void)
{
	fprintf(stderr, "usage: compress_probe [--plain] [--ca FILE]"
	    " [--timeout S] [--user U --password-file F] [--no-compress]"
	    " [--cmd COMMAND]... [-v] HOST PORT\n");
	exit(2);
}

/* Prints the digest and the counters. */
static void
probe_report(struct probe *p)
{
	struct conn_zstats	st;
	unsigned char		md[EVP_MAX_MD_SIZE];
	unsigned int		mdlen, i;

	if (EVP_DigestFinal_ex(p->md, md, &mdlen) != 1)
		fatalx("EVP_DigestFinal_ex");
	printf("literal_bytes %" PRIu64 " sha256 ", p->lit_total);
	for (i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
	printf("\n");
	conn_wire_stats(p->conn, &st);
	printf("wire_in %" PRIu64 " data_in %" PRIu64 " wire_out %" PRIu64
	    " data_out %" PRIu64 "\n", st.in_wire, st.in_data, st.out_wire,
	    st.out_data);
}

/* Ends the run with a status; frees the conn from inside its callback. */
static void
probe_done(struct probe *p, int status, const char *why)
{
	if (p->done)
		return;
	p->done = 1;
	if (why != NULL)
		fprintf(stderr, "compress_probe: %s\n", why);
	p->status = status;
	conn_free(p->conn);
	p->conn = NULL;
	event_base_loopbreak(p->base);
}

/* Sends the next command, or reports and stops after the last. */
static void
probe_next_cmd(struct probe *p, struct conn *c)
{
	if (p->next_cmd == p->ncmds) {
		probe_report(p);
		probe_done(p, 0, NULL);
		return;
	}
	if (conn_printf(c, "t%d %s\r\n", p->next_cmd,
	    p->cmds[p->next_cmd]) == -1) {
		probe_done(p, 1, conn_error(c));
		return;
	}
	p->next_cmd++;
}

/* Sends COMPRESS, or skips to the commands. */
static void
probe_compress(struct probe *p, struct conn *c)
{
	if (!p->compress) {
		p->phase = PROBE_COMMANDS;
		probe_next_cmd(p, c);
		return;
	}
	if (conn_printf(c, "z COMPRESS DEFLATE\r\n") == -1) {
		probe_done(p, 1, conn_error(c));
		return;
	}
	p->phase = PROBE_COMPRESS;
}

/* Whether line is the tagged reply to tag, and if so whether it is OK. */
static int
probe_tagged(const char *line, const char *tag, int *ok)
{
	size_t	n = strlen(tag);

	if (strncmp(line, tag, n) != 0 || line[n] != ' ')
		return (0);
	*ok = strncasecmp(line + n + 1, "OK", 2) == 0;
	return (1);
}

/* If the line announces a literal ("... {123}"), returns its size. */
static int
probe_literal(const char *line, size_t len, uint64_t *size)
{
	const char	*open;
	char		*end;

	if (len < 3 || line[len - 1] != '}' ||
	    (open = strrchr(line, '{')) == NULL)
		return (0);
	*size = strtoull(open + 1, &end, 10);
	return (end == line + len - 1 && end != open + 1);
}

/* Handles one line; returns -1 once the run is over. */
static int
probe_line(struct probe *p, struct conn *c, const char *line, size_t len)
{
	char	tag[16];
	int	ok;

	switch (p->phase) {
	case PROBE_GREETING:
		printf("%s\n", line);
		if (p->user == NULL) {
			probe_compress(p, c);
			break;
		}
		if (conn_printf(c, "l LOGIN \"%s\" \"%s\"\r\n", p->user,
		    p->password) == -1) {
			probe_done(p, 1, conn_error(c));
			break;
		}
		p->phase = PROBE_LOGIN;
		break;
	case PROBE_LOGIN:
		if (!probe_tagged(line, "l", &ok))
			break;
		if (!ok) {
			fprintf(stderr, "compress_probe: LOGIN refused: %s\n",
			    line);
			probe_done(p, 1, NULL);
			break;
		}
		probe_compress(p, c);
		break;
	case PROBE_COMPRESS:
		if (!probe_tagged(line, "z", &ok))
			break;
		if (!ok) {
			fprintf(stderr, "compress_probe: COMPRESS refused: "
			    "%s\n", line);
			probe_done(p, 3, NULL);
			break;
		}
		/* Right after the OK, with whatever else came in the same
		 * read still buffered: conn must refuse leftovers. */
		if (conn_compress(c) == -1) {
			probe_done(p, 1, conn_error(c));
			break;
		}
		fprintf(stderr, "compress_probe: COMPRESS=DEFLATE on\n");
		p->phase = PROBE_COMMANDS;
		probe_next_cmd(p, c);
		break;
	case PROBE_COMMANDS:
		if (probe_literal(line, len, &p->lit_left))
			break;
		snprintf(tag, sizeof tag, "t%d", p->next_cmd - 1);
		if (!probe_tagged(line, tag, &ok))
			break;
		if (!ok) {
			fprintf(stderr, "compress_probe: %s\n", line);
			probe_done(p, 1, NULL);
			break;
		}
		probe_next_cmd(p, c);
		break;
	}
	return (p->done ? -1 : 0);
}

/* Hashes what is available of the current literal. */
static void
probe_literal_bytes(struct probe *p, struct evbuffer *in)
{
	unsigned char	buf[64 * 1024];
	size_t		n;
	int		got;

	while (p->lit_left > 0 && evbuffer_get_length(in) > 0) {
		n = sizeof buf;
		if (n > p->lit_left)
			n = p->lit_left;
		if ((got = evbuffer_remove(in, buf, n)) <= 0)
			fatalx("evbuffer_remove");
		if (EVP_DigestUpdate(p->md, buf, got) != 1)
			fatalx("EVP_DigestUpdate");
		p->lit_left -= got;
		p->lit_total += got;
	}
}

/* Reads literals and lines as they come. */
static void
probe_input(struct probe *p, struct conn *c)
{
	char	*line;
	size_t	 len;
	int	 r;

	while (!p->done) {
		if (p->lit_left > 0) {
			probe_literal_bytes(p, conn_input(c));
			if (p->lit_left > 0)
				return;
		}
		r = conn_readline(c, PROBE_MAX_LINE, &line, &len);
		if (r == -1) {
			probe_done(p, 1, conn_error(c));
			return;
		}
		if (r == 0)
			return;
		r = probe_line(p, c, line, len);
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
		fprintf(stderr, "compress_probe: connected to %s%s%s\n",
		    conn_peer(c), conn_is_tls(c) ? ", " : "",
		    conn_is_tls(c) ? conn_tls_info(c) : "");
		break;
	case CONN_EV_INPUT:
		probe_input(p, c);
		break;
	case CONN_EV_TLS_READY:
		break;
	case CONN_EV_CLOSED:
	case CONN_EV_ERROR:
	case CONN_EV_TIMEOUT:
		probe_done(p, 1, conn_error(c));
		break;
	}
}

/* Reads the password from the first line of a file. */
static char *
probe_read_password(const char *path)
{
	FILE	*f;
	char	 buf[256];

	if ((f = fopen(path, "r")) == NULL ||
	    fgets(buf, sizeof buf, f) == NULL)
		fatal("%s", path);
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return (xstrdup(buf));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "plain",	   no_argument,	      NULL, 'p' },
		{ "ca",		   required_argument, NULL, 'c' },
		{ "timeout",	   required_argument, NULL, 't' },
		{ "user",	   required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "no-compress",   no_argument,	      NULL, 'n' },
		{ "cmd",	   required_argument, NULL, 'x' },
		{ NULL,		   0,		      NULL, 0 }
	};
	struct conn_params	 cp;
	struct probe		 p;
	struct evdns_base	*dns;
	struct conn		*c;
	int			 ch, verbose = 0;

	memset(&cp, 0, sizeof cp);
	memset(&p, 0, sizeof p);
	cp.tls = TLS_IMPLICIT;
	cp.name = "probe";
	p.status = 1;
	p.compress = 1;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			cp.tls = TLS_NONE;
			break;
		case 'c':
			cp.ca_file = optarg;
			break;
		case 't':
			cp.timeout_sec = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			p.user = optarg;
			break;
		case 'P':
			p.password = probe_read_password(optarg);
			break;
		case 'n':
			p.compress = 0;
			break;
		case 'x':
			if (p.ncmds == PROBE_MAX_CMDS)
				usage();
			p.cmds[p.ncmds++] = optarg;
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
	if (argc != 2 || (p.user == NULL) != (p.password == NULL))
		usage();
	cp.host = argv[0];
	cp.port = strtoul(argv[1], NULL, 10);
	log_init(verbose ? LOG_LVL_DEBUG : LOG_LVL_WARNING);
	log_force_stderr(1);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if ((p.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(p.md, EVP_sha256(), NULL) != 1)
		fatalx("EVP_DigestInit_ex");
	if ((p.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((dns = evdns_base_new(p.base, 0)) == NULL ||
	    evdns_base_load_hosts(dns, NULL) != 0)
		fatalx("evdns_base_new");

	c = p.conn = conn_new(p.base, dns, NULL, &cp, probe_cb, &p);
	if (conn_connect(c) == -1) {
		fprintf(stderr, "compress_probe: %s\n", conn_error(c));
		conn_free(c);
		p.conn = NULL;
	} else
		event_base_dispatch(p.base);

	conn_free(p.conn);
	evdns_base_free(dns, 0);
	event_base_free(p.base);
	EVP_MD_CTX_free(p.md);
	if (p.password != NULL)
		xfree_secret(p.password);
	return (p.status);
}
