/* test_config.c: the configuration module. Good files must come back with
 * every default filled in; bad ones must fail with the exact message,
 * file and line included. Files are written to a temp directory. */
#include <sys/stat.h>
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "xmalloc.h"

static char	tdir[] = "/tmp/mfd-test-config.XXXXXX";

/* The config file every test writes; @DIR@ is the temp directory. */
#define F	"@DIR@/c.conf"

/* An IMAP account, lines 1 to 6, left open for more options. */
#define ACCT \
	"account \"work\" {\n" \
	"\tprotocol = imap\n" \
	"\thost = \"imap.example.com\"\n" \
	"\tuser = \"me@example.com\"\n" \
	"\tpassword_file = \"@DIR@/pw\"\n" \
	"\tmaildir = \"/home/me/Maildir\"\n"

/* The same for POP3. */
#define POP3 \
	"account \"pop\" {\n" \
	"\tprotocol = pop3\n" \
	"\thost = \"pop.example.com\"\n" \
	"\tuser = \"me\"\n" \
	"\tpassword_file = \"@DIR@/pw\"\n" \
	"\tmaildir = \"/home/me/Maildir\"\n"

/* Creates path with the given contents and mode. */
static int
make_file(const char *name, const char *text, mode_t mode)
{
	char	*path;
	FILE	*f;
	int	 rc;

	xasprintf(&path, "%s/%s", tdir, name);
	if ((f = fopen(path, "w")) == NULL) {
		free(path);
		return (-1);
	}
	fputs(text, f);
	rc = fclose(f) == 0 && chmod(path, mode) == 0 ? 0 : -1;
	free(path);
	return (rc);
}

static int
group_setup(void **state)
{
	char	*path;
	int	 rc;

	(void)state;
	if (mkdtemp(tdir) == NULL)
		return (-1);
	if (make_file("pw", "secret\n", 0600) != 0 ||
	    make_file("pw644", "secret\n", 0644) != 0 ||
	    make_file("pw000", "secret\n", 0000) != 0 ||
	    make_file("ca.pem", "not really a CA\n", 0644) != 0)
		return (-1);
	xasprintf(&path, "%s/adir", tdir);
	rc = mkdir(path, 0700);
	free(path);
	return (rc);
}

static int
group_teardown(void **state)
{
	const char	*names[] = { "pw", "pw644", "pw000", "ca.pem", "c.conf",
			    "print.conf" };
	char		*path;
	size_t		 i;

	(void)state;
	for (i = 0; i < nitems(names); i++) {
		xasprintf(&path, "%s/%s", tdir, names[i]);
		unlink(path);
		free(path);
	}
	xasprintf(&path, "%s/adir", tdir);
	rmdir(path);
	free(path);
	return (rmdir(tdir));
}

/* s with every @DIR@ replaced by the temp directory (caller frees). */
static char *
expand(const char *s)
{
	const char	*p;
	char		*out, *o;
	size_t		 n = 1;

	for (p = s; *p != '\0'; p++)
		n += strncmp(p, "@DIR@", 5) == 0 ? strlen(tdir) : 1;
	out = o = xmalloc(n);
	while (*s != '\0') {
		if (strncmp(s, "@DIR@", 5) == 0) {
			o = stpcpy(o, tdir);
			s += 5;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return (out);
}

/* Writes text (expanded) to F; returns F expanded (caller frees). */
static char *
write_conf(const char *text)
{
	char	*path, *body;
	FILE	*f;

	path = expand(F);
	body = expand(text);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	assert_int_equal(fclose(f), 0);
	free(body);
	return (path);
}

/* Writes text to F and loads it. */
static struct config *
load(const char *text, char **cause)
{
	struct config	*conf;
	char		*path;

	path = write_conf(text);
	*cause = NULL;
	conf = config_load(path, cause);
	free(path);
	return (conf);
}

/* Loads text, which must succeed. */
static struct config *
load_ok(const char *text)
{
	struct config	*conf;
	char		*cause;

	conf = load(text, &cause);
	if (conf == NULL)
		fail_msg("unexpected error: %s", cause);
	return (conf);
}

/* Loads text, which must fail with exactly expected (expanded). */
static void
load_bad(const char *text, const char *expected)
{
	struct config	*conf;
	char		*cause, *want;

	conf = load(text, &cause);
	want = expand(expected);
	assert_null(conf);
	assert_non_null(cause);
	assert_string_equal(cause, want);
	free(cause);
	free(want);
}

/* A minimal IMAP account gets every default. */
static void
t_defaults(void **state)
{
	struct config			*conf;
	const struct account_conf	*a;
	char				*path;

	(void)state;
	conf = load_ok(ACCT "}\n");
	path = expand(F);
	assert_string_equal(conf->path, path);
	assert_string_equal(conf->state_dir, CONFIG_DEFAULT_STATE_DIR);
	assert_int_equal(conf->log_level, LOG_LVL_INFO);
	assert_int_equal(conf->max_connections, 64);
	assert_int_equal(conf->naccounts, 1);
	a = &conf->accounts[0];
	assert_string_equal(a->name, "work");
	assert_string_equal(a->file, path);
	assert_int_equal(a->line, 7);
	assert_int_equal(a->proto, PROTO_IMAP);
	assert_string_equal(a->host, "imap.example.com");
	assert_int_equal(a->port, 993);
	assert_int_equal(a->tls, TLS_IMPLICIT);
	assert_false(a->allow_insecure);
	assert_null(a->ca_file);
	assert_null(a->fingerprint);
	assert_string_equal(a->user, "me@example.com");
	assert_non_null(a->password_file);
	assert_null(a->password_command);
	assert_null(a->token_command);
	assert_int_equal(a->auth_mechs, 0);
	assert_string_equal(a->maildir, "/home/me/Maildir");
	assert_true(a->keep);
	assert_false(a->mark_read);
	assert_int_equal(a->local_flags, LOCAL_FLAGS_NEW);
	assert_int_equal(a->first_fetch, FIRST_FETCH_ALL);
	assert_null(a->trash_folder);
	assert_false(a->idle);
	assert_int_equal(a->poll_interval, 300);
	assert_int_equal(a->timeout, 60);
	assert_int_equal(a->max_message_size, 256 * 1024 * 1024);
	assert_int_equal(a->max_connections, 0);
	assert_int_equal(a->daily_limit, 0);
	assert_int_equal(a->nfolders, 1);
	assert_string_equal(a->folders[0].remote, "INBOX");
	assert_null(a->folders[0].local);
	assert_string_equal(config_folder_local(&a->folders[0]), "");
	assert_false(a->folders[0].is_pattern);
	assert_ptr_equal(config_find_account(conf, "work"), a);
	assert_null(config_find_account(conf, "other"));
	free(path);
	config_free(conf);
}

/* Globals, every enum value and an explicit port. */
static void
t_globals_and_enums(void **state)
{
	struct config			*conf;
	const struct account_conf	*a;

	(void)state;
	conf = load_ok("state_dir = \"/srv/mfd\"\nlog_level = debug\n"
	    "max_connections = 5\n"
	    ACCT "\tport = 1143\n\ttls = starttls\n\tlocal_flags = mirror\n"
	    "\tfirst_fetch = unseen\n\tkeep = no\n\ttrash_folder = Trash\n"
	    "\tca_file = \"@DIR@/ca.pem\"\n\tmax_connections = 3\n}\n");
	assert_string_equal(conf->state_dir, "/srv/mfd");
	assert_int_equal(conf->log_level, LOG_LVL_DEBUG);
	assert_int_equal(conf->max_connections, 5);
	a = &conf->accounts[0];
	assert_int_equal(a->port, 1143);
	assert_int_equal(a->tls, TLS_STARTTLS);
	assert_int_equal(a->local_flags, LOCAL_FLAGS_MIRROR);
	assert_int_equal(a->first_fetch, FIRST_FETCH_UNSEEN);
	assert_false(a->keep);
	assert_string_equal(a->trash_folder, "Trash");
	assert_non_null(a->ca_file);
	assert_int_equal(a->max_connections, 3);
	assert_string_equal(config_proto_name(a->proto), "imap");
	assert_string_equal(config_tls_name(a->tls), "starttls");
	assert_string_equal(config_tls_name((enum config_tls)7), "unknown");
	config_free(conf);
}

/* The port follows protocol and tls when not given. */
static void
t_default_ports(void **state)
{
	struct config	*conf;

	(void)state;
	conf = load_ok(ACCT "\ttls = starttls\n}\n"
	    POP3 "}\n"
	    "account \"pop2\" {\n\tprotocol = pop3\n\thost = pop.example.com\n"
	    "\tuser = me\n\tpassword_command = \"pass show mail\"\n"
	    "\tmaildir = /m\n\ttls = starttls\n}\n"
	    "account \"local\" {\n\tprotocol = imap\n\thost = 127.0.0.1\n"
	    "\tuser = me\n\tpassword_file = \"@DIR@/pw\"\n"
	    "\tmaildir = /m\n\ttls = none\n}\n");
	assert_int_equal(conf->naccounts, 4);
	assert_int_equal(conf->accounts[0].port, 143);
	assert_int_equal(conf->accounts[1].port, 995);
	assert_int_equal(conf->accounts[1].nfolders, 0);
	assert_int_equal(conf->accounts[2].port, 110);
	assert_string_equal(conf->accounts[2].password_command,
	    "pass show mail");
	assert_int_equal(conf->accounts[3].port, 143);
	assert_int_equal(conf->accounts[3].tls, TLS_NONE);
	config_free(conf);
}

/* Folders inherit idle and mark_read unless they set them. */
static void
t_folder_inheritance(void **state)
{
	struct config			*conf;
	const struct account_conf	*a;

	(void)state;
	conf = load_ok(ACCT "\tidle = yes\n\tmark_read = yes\n"
	    "\tfolder \"INBOX\" { }\n"
	    "\tfolder \"Lists/dev\" { idle = no }\n"
	    "\tfolder \"[Gmail]/Spam\" { local = \"Spam\"  mark_read = no }\n"
	    "\tfolder \"Archive/*\" { }\n"
	    "\tfolder \"Old%\" { local = \"Old\" }\n}\n");
	a = &conf->accounts[0];
	assert_int_equal(a->nfolders, 5);
	assert_true(a->folders[0].idle);
	assert_true(a->folders[0].mark_read);
	assert_false(a->folders[1].idle);
	assert_true(a->folders[1].mark_read);
	assert_true(a->folders[2].idle);
	assert_false(a->folders[2].mark_read);
	assert_string_equal(a->folders[2].local, "Spam");
	assert_string_equal(config_folder_local(&a->folders[1]), "Lists/dev");
	assert_string_equal(config_folder_local(&a->folders[2]), "Spam");
	assert_false(a->folders[1].is_pattern);
	assert_true(a->folders[3].is_pattern);
	assert_true(a->folders[4].is_pattern);
	config_free(conf);

	/* And the other way round: the account says no, a folder yes. */
	conf = load_ok(ACCT "\tfolder \"INBOX\" { idle = yes }\n"
	    "\tfolder \"Sent\" { }\n}\n");
	a = &conf->accounts[0];
	assert_true(a->folders[0].idle);
	assert_false(a->folders[0].mark_read);
	assert_false(a->folders[1].idle);
	config_free(conf);
}

/* Fingerprints come back as lowercase "sha256:<64 hex>". */
static void
t_fingerprint(void **state)
{
	struct config	*conf;
	const char	*want = "sha256:"
			    "0123456789abcdef0123456789abcdef"
			    "0123456789abcdef0123456789abcdef";

	(void)state;
	conf = load_ok(ACCT "\tfingerprint = \"SHA256:01:23:45:67:89:AB:CD:EF:"
	    "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:"
	    "CD:EF\"\n}\n");
	assert_string_equal(conf->accounts[0].fingerprint, want);
	config_free(conf);
	conf = load_ok(ACCT "\tfingerprint = \"sha256:0123456789ABCDEF"
	    "0123456789abcdef0123456789abcdef0123456789abcdef\"\n}\n");
	assert_string_equal(conf->accounts[0].fingerprint, want);
	config_free(conf);
}

/* Durations and sizes with and without units. */
static void
t_durations_sizes(void **state)
{
	struct config			*conf;
	const struct account_conf	*a;

	(void)state;
	conf = load_ok(ACCT "\tpoll_interval = 90\n\ttimeout = 30s\n"
	    "\tmax_message_size = 512K\n\tdaily_limit = 2G\n}\n"
	    "account \"b\" {\n\tprotocol = imap\n\thost = h\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n"
	    "\tpoll_interval = 5m\n\ttimeout = 1h\n"
	    "\tmax_message_size = 0\n\tdaily_limit = 10m\n}\n"
	    "account \"c\" {\n\tprotocol = imap\n\thost = h\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n"
	    "\tpoll_interval = 2d\n\tmax_message_size = 1234\n}\n");
	a = &conf->accounts[0];
	assert_int_equal(a->poll_interval, 90);
	assert_int_equal(a->timeout, 30);
	assert_int_equal(a->max_message_size, 512 * 1024);
	assert_int_equal(a->daily_limit, 2ULL * 1024 * 1024 * 1024);
	a = &conf->accounts[1];
	assert_int_equal(a->poll_interval, 300);
	assert_int_equal(a->timeout, 3600);
	assert_int_equal(a->max_message_size, 0);
	assert_int_equal(a->daily_limit, 10 * 1024 * 1024);
	a = &conf->accounts[2];
	assert_int_equal(a->poll_interval, 2 * 86400);
	assert_int_equal(a->max_message_size, 1234);
	config_free(conf);
}

/* auth lists become AUTH_* bits. */
static void
t_auth(void **state)
{
	struct config	*conf;

	(void)state;
	conf = load_ok(ACCT "\tauth = {plain, login}\n}\n"
	    POP3 "\tauth = apop\n}\n"
	    "account \"oauth\" {\n\tprotocol = imap\n\thost = h\n\tuser = u\n"
	    "\ttoken_command = \"oauth2-token me\"\n\tmaildir = /m\n"
	    "\tauth = {xoauth2, oauthbearer}\n}\n");
	assert_int_equal(conf->accounts[0].auth_mechs, AUTH_PLAIN | AUTH_LOGIN);
	assert_int_equal(conf->accounts[1].auth_mechs, AUTH_APOP);
	assert_int_equal(conf->accounts[2].auth_mechs,
	    AUTH_XOAUTH2 | AUTH_OAUTHBEARER);
	assert_string_equal(conf->accounts[2].token_command, "oauth2-token me");
	config_free(conf);
}

/* tls = none is fine to loopback, or anywhere with allow_insecure. */
static void
t_tls_none_allowed(void **state)
{
	const char	*hosts[] = { "localhost", "127.0.0.1", "127.1.2.3",
			    "::1", "LocalHost" };
	struct config	*conf;
	char		*text;
	size_t		 i;

	(void)state;
	for (i = 0; i < nitems(hosts); i++) {
		xasprintf(&text, "account \"a\" {\n\tprotocol = imap\n"
		    "\thost = \"%s\"\n\tuser = u\n\tpassword_file = \"@DIR@/pw\"\n"
		    "\tmaildir = /m\n\ttls = none\n}\n", hosts[i]);
		conf = load_ok(text);
		assert_int_equal(conf->accounts[0].tls, TLS_NONE);
		config_free(conf);
		free(text);
	}
	conf = load_ok(ACCT "\ttls = none\n\tallow_insecure = yes\n}\n");
	assert_true(conf->accounts[0].allow_insecure);
	config_free(conf);
}

/* Two accounts may share a Maildir, and a file may have no account. */
static void
t_shared_maildir_and_empty(void **state)
{
	struct config	*conf;

	(void)state;
	conf = load_ok(ACCT "}\n" POP3 "}\n");
	assert_int_equal(conf->naccounts, 2);
	config_free(conf);
	conf = load_ok("# nothing yet\n");
	assert_int_equal(conf->naccounts, 0);
	assert_null(config_find_account(conf, "work"));
	config_free(conf);
	config_free(NULL);
}

/* config_print writes every option, parses back to the same output, and
 * names the password file without reading it. */
static void
t_print_roundtrip(void **state)
{
	struct config	*conf, *again;
	char		*out1, *out2, *cause, *path;
	size_t		 n1, n2;
	FILE		*f;

	(void)state;
	conf = load_ok("log_level = notice\n"
	    ACCT "\tidle = yes\n\tauth = {login}\n\tca_file = \"@DIR@/ca.pem\"\n"
	    "\tfolder \"INBOX\" { }\n"
	    "\tfolder \"Odd \\\"$x\\\\\" { local = \"Odd\" mark_read = yes }\n}\n"
	    POP3 "\tlocal_flags = seen\n}\n");
	f = open_memstream(&out1, &n1);
	config_print(f, conf);
	fclose(f);
	assert_non_null(strstr(out1, "\tpoll_interval = 300\n"));
	assert_non_null(strstr(out1, "\tmax_message_size = 268435456\n"));
	assert_non_null(strstr(out1, "\tauth = {login}\n"));
	assert_non_null(strstr(out1, "\tfolder \"Odd \\\"\\$x\\\\\" {\n"));
	assert_non_null(strstr(out1, "\tport = 995\n"));
	assert_non_null(strstr(out1, "password_file = \""));
	assert_null(strstr(out1, "secret"));

	path = expand("@DIR@/print.conf");
	again = config_load_buffer(path, out1, n1, &cause);
	if (again == NULL)
		fail_msg("printed config does not parse: %s\n%s", cause, out1);
	f = open_memstream(&out2, &n2);
	config_print(f, again);
	fclose(f);
	assert_string_equal(out1, out2);
	assert_int_equal(again->accounts[0].folders[1].mark_read, 1);
	assert_string_equal(again->accounts[0].folders[1].remote, "Odd \"$x\\");
	free(out1);
	free(out2);
	free(path);
	config_free(again);
	config_free(conf);
}

/* An IMAP account without host, lines 1 to 5, left open: provider goes
 * on line 6. */
#define PACCT \
	"account \"work\" {\n" \
	"\tprotocol = imap\n" \
	"\tuser = \"me@gmail.com\"\n" \
	"\tpassword_file = \"@DIR@/pw\"\n" \
	"\tmaildir = \"/home/me/Maildir\"\n"

/* provider = NAME fills host, port, tls and the limits. */
static void
t_provider_fill(void **state)
{
	struct config			*conf;
	const struct account_conf	*a;

	(void)state;
	conf = load_ok(PACCT "\tprovider = gmail\n}\n");
	a = &conf->accounts[0];
	assert_string_equal(a->provider, "gmail");
	assert_string_equal(a->host, "imap.gmail.com");
	assert_int_equal(a->port, 993);
	assert_int_equal(a->tls, TLS_IMPLICIT);
	/* 15 connections, 5 left to the user's other clients. */
	assert_int_equal(a->max_connections, 10);
	assert_int_equal(a->daily_limit, 2500000000ULL);
	/* The default 300 s is below Gmail's 10 minutes: raised quietly. */
	assert_int_equal(a->poll_interval, 600);
	assert_int_equal(a->min_poll_interval, 600);
	assert_int_equal(a->idle_interval, 600);
	assert_int_equal(conf->nwarnings, 0);
	config_free(conf);

	/* POP3: the POP3 server and budget; no IMAP connection cap. */
	conf = load_ok("account \"p\" {\n\tprotocol = pop3\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n"
	    "\tprovider = GMail\n}\n");
	a = &conf->accounts[0];
	assert_string_equal(a->provider, "gmail");
	assert_string_equal(a->host, "pop.gmail.com");
	assert_int_equal(a->port, 995);
	assert_int_equal(a->daily_limit, 1250000000ULL);
	assert_int_equal(a->max_connections, 0);
	config_free(conf);

	/* Aliases name the canonical preset; Yandex re-issues IDLE early. */
	conf = load_ok(PACCT "\tprovider = office365\n}\n"
	    "account \"y\" {\n\tprotocol = imap\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /y\n"
	    "\tprovider = yandex\n}\n");
	assert_string_equal(conf->accounts[0].provider, "outlook");
	assert_string_equal(conf->accounts[0].host, "outlook.office365.com");
	assert_int_equal(conf->accounts[0].max_connections, 0);
	assert_int_equal(conf->accounts[0].daily_limit, 0);
	assert_int_equal(conf->accounts[0].poll_interval, 300);
	assert_int_equal(conf->accounts[1].idle_interval, 240);
	assert_int_equal(conf->accounts[1].min_poll_interval, 0);
	config_free(conf);
}

/* What the file sets wins over the preset. */
static void
t_provider_explicit(void **state)
{
	struct config			*conf;
	const struct account_conf	*a;

	(void)state;
	conf = load_ok(PACCT "\tprovider = gmail\n\thost = \"gmail.example\"\n"
	    "\ttls = starttls\n\tmax_connections = 3\n\tdaily_limit = 1G\n"
	    "\tidle_interval = 5m\n\tpoll_interval = 20m\n}\n");
	a = &conf->accounts[0];
	assert_string_equal(a->host, "gmail.example");
	assert_int_equal(a->tls, TLS_STARTTLS);
	/* The port follows the explicit tls, not the preset's 993. */
	assert_int_equal(a->port, 143);
	assert_int_equal(a->max_connections, 3);
	assert_int_equal(a->daily_limit, 1024ULL * 1024 * 1024);
	assert_int_equal(a->idle_interval, 300);
	assert_int_equal(a->poll_interval, 1200);
	assert_int_equal(conf->nwarnings, 0);
	config_free(conf);

	conf = load_ok(PACCT "\tprovider = gmail\n\tport = 1993\n"
	    "\tmax_connections = 0\n\tdaily_limit = 0\n}\n");
	a = &conf->accounts[0];
	assert_string_equal(a->host, "imap.gmail.com");
	assert_int_equal(a->port, 1993);
	assert_int_equal(a->tls, TLS_IMPLICIT);
	assert_int_equal(a->max_connections, 0);
	assert_int_equal(a->daily_limit, 0);
	config_free(conf);
}

/* A poll_interval below the provider's minimum is raised with a warning
 * naming its line, unless poll_interval_override = yes. */
static void
t_provider_poll(void **state)
{
	struct config	*conf;
	char		*want;

	(void)state;
	conf = load_ok(PACCT "\tprovider = gmail\n\tpoll_interval = 1m\n}\n");
	assert_int_equal(conf->accounts[0].poll_interval, 600);
	assert_int_equal(conf->nwarnings, 1);
	want = expand(F ":7: account 'work': poll_interval = 60s is below "
	    "gmail's minimum of 600s; using 600s (set poll_interval_override "
	    "= yes to keep 60s)");
	assert_string_equal(conf->warnings[0], want);
	free(want);
	config_free(conf);

	conf = load_ok(PACCT "\tprovider = gmail\n\tpoll_interval = 1m\n"
	    "\tpoll_interval_override = yes\n}\n");
	assert_int_equal(conf->accounts[0].poll_interval, 60);
	assert_int_equal(conf->accounts[0].poll_interval_override, 1);
	assert_int_equal(conf->nwarnings, 0);
	config_free(conf);

	/* Without a provider there is no minimum beyond the global 10 s. */
	conf = load_ok(ACCT "\tpoll_interval = 1m\n}\n");
	assert_int_equal(conf->accounts[0].poll_interval, 60);
	assert_int_equal(conf->accounts[0].min_poll_interval, 0);
	assert_null(conf->accounts[0].provider);
	assert_int_equal(conf->nwarnings, 0);
	config_free(conf);
}

/* The printed configuration names the provider and reads back the same. */
static void
t_provider_print(void **state)
{
	struct config	*conf, *again;
	char		*out1, *out2, *cause;
	size_t		 n1, n2;
	FILE		*f;

	(void)state;
	conf = load_ok(PACCT "\tprovider = gmail\n\tpoll_interval = 1m\n}\n");
	f = open_memstream(&out1, &n1);
	config_print(f, conf);
	fclose(f);
	assert_non_null(strstr(out1, "\tprovider = \"gmail\"\n"));
	assert_non_null(strstr(out1, "\thost = \"imap.gmail.com\"\n"));
	assert_non_null(strstr(out1, "\tpoll_interval = 600\n"));
	assert_non_null(strstr(out1, "\tmax_connections = 10\n"));
	assert_non_null(strstr(out1, "\tdaily_limit = 2500000000\n"));
	again = config_load_buffer("print.conf", out1, n1, &cause);
	if (again == NULL)
		fail_msg("printed config does not parse: %s\n%s", cause, out1);
	assert_int_equal(again->nwarnings, 0);
	f = open_memstream(&out2, &n2);
	config_print(f, again);
	fclose(f);
	assert_string_equal(out1, out2);
	free(out1);
	free(out2);
	config_free(again);
	config_free(conf);
}

/* Unknown presets, protocols a preset lacks, and idle_interval bounds. */
static void
t_bad_provider(void **state)
{
	(void)state;
	load_bad(PACCT "\tprovider = \"hotmale\"\n}\n",
	    F ":6: unknown provider 'hotmale' (use one of aol, fastmail, gmail, "
	    "gmx, icloud, mailbox.org, mailru, outlook, posteo, rambler, yahoo, "
	    "yandex, zoho; or set host, port and tls instead)");
	load_bad("account \"p\" {\n\tprotocol = pop3\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n"
	    "\tprovider = icloud\n}\n",
	    F ":2: account 'p': provider icloud offers no pop3 (use protocol = "
	    "imap)");
	load_bad(PACCT "\tprovider = gmail\n\ttls = none\n}\n",
	    F ":7: account 'work': tls = none would send the password in clear "
	    "text to 'imap.gmail.com' (use tls = implicit or starttls; set "
	    "allow_insecure = yes only if the network path is trusted)");
	load_bad(PACCT "\tprovider = gmail\n\tidle_interval = 30m\n}\n",
	    F ":7: idle_interval = 30m is too long (the maximum is 1740s)");
	load_bad(PACCT "\tprovider = gmail\n\tidle_interval = 30\n}\n",
	    F ":7: idle_interval = 30 is too short (the minimum is 60s)");
}

/* config_load_buffer names its input in messages. */
static void
t_buffer(void **state)
{
	struct config	*conf;
	char		*cause = NULL;
	const char	 text[] = "max_connections = 2\nfoo = 1\n";

	(void)state;
	conf = config_load_buffer("mem", text, strlen(text), &cause);
	assert_null(conf);
	assert_string_equal(cause, "mem:2: no such option 'foo' (see "
	    "mailfetchd.conf(5) for the options and where they go)");
	free(cause);
	conf = config_load_buffer("mem", "", 0, &cause);
	assert_non_null(conf);
	assert_string_equal(conf->path, "mem");
	config_free(conf);
}

/* The file itself cannot be read. */
static void
t_bad_file(void **state)
{
	char	*cause = NULL, *path;

	(void)state;
	assert_null(config_load("/nonexistent/mailfetchd.conf", &cause));
	assert_string_equal(cause, "/nonexistent/mailfetchd.conf: cannot open: "
	    "No such file or directory");
	free(cause);
	xasprintf(&path, "%s/adir", tdir);
	assert_null(config_load(path, &cause));
	assert_non_null(strstr(cause, "adir: cannot open: not a regular file"));
	free(cause);
	free(path);
}

/* libconfuse's own errors: unknown options, wrong types, syntax. */
static void
t_bad_syntax(void **state)
{
	(void)state;
	load_bad("log_level = info\nfoo = bar\n",
	    F ":2: no such option 'foo' (see mailfetchd.conf(5) for the "
	    "options and where they go)");
	load_bad(ACCT "\tpasword_file = x\n}\n",
	    F ":7: no such option 'pasword_file' (see mailfetchd.conf(5) "
	    "for the options and where they go)");
	load_bad(ACCT "\tkeep = maybe\n}\n",
	    F ":7: invalid boolean value for option 'keep' (use yes or no)");
	load_bad("max_connections = lots\n",
	    F ":1: invalid max_connections 'lots' (use a number from 1 to "
	    "1000)");
	load_bad(ACCT "\tmax_connections = -1\n}\n",
	    F ":7: invalid max_connections '-1' (use a number from 0 to 1000; "
	    "0 means the global max_connections)");
	load_bad(ACCT "\tport = 70000\n}\n",
	    F ":7: invalid port '70000' (use a number from 1 to 65535)");
	load_bad(ACCT "\tprotocol = smtp\n}\n",
	    F ":7: invalid protocol 'smtp' (use imap or pop3)");
	load_bad(ACCT "\ttls = yes\n}\n",
	    F ":7: invalid tls 'yes' (use implicit, starttls or none)");
	load_bad(ACCT "\tauth = {plain, cram-md5}\n}\n",
	    F ":7: invalid auth 'cram-md5' (use plain, login, xoauth2, "
	    "oauthbearer or apop)");
	load_bad("log_level = loud\n", F ":1: invalid log_level 'loud' (use "
	    "error, warning, notice, info or debug)");
	/* libconfuse alone would take end of file for the missing '}'. */
	load_bad(ACCT, F ":6: end of file inside account 'work' (missing '}')");
	load_bad(ACCT "\tfolder \"INBOX\" {\n\t\tidle = yes",
	    F ":8: end of file inside folder 'INBOX' (missing '}')");
	load_bad(ACCT "\tuser = \"me\n}\n",
	    F ":8: premature end of file");
	load_bad("log_level =\n", F ":1: premature end of file");
	/* libconfuse 3.3 alone miscounts lines after comments. */
	load_bad("# one\n// two\n/* three\n */ log_level = info # four\n"
	    "state_dir = \"/x#y//z\" # five\nfoo = 1\n",
	    F ":6: no such option 'foo' (see mailfetchd.conf(5) for the "
	    "options and where they go)");
	load_bad(ACCT "}\n}\n", F ":8: unexpected closing brace");
	load_bad("folder \"INBOX\" { }\n", F ":1: no such option 'folder' "
	    "(see mailfetchd.conf(5) for the options and where they go)");
}

/* Required options, reported at the account's closing brace. */
static void
t_bad_missing(void **state)
{
	(void)state;
	load_bad("account \"a\" {\n\tprotocol = imap\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n}\n",
	    F ":6: account 'a': host is required (or provider = NAME, see "
	    "mailfetchd --providers)");
	load_bad("account \"a\" {\n\tprotocol = imap\n\thost = h\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n}\n",
	    F ":6: account 'a': user is required");
	load_bad("account \"a\" {\n\tprotocol = imap\n\thost = h\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n}\n",
	    F ":6: account 'a': maildir is required (an absolute path)");
	load_bad("account \"a\" {\n\tprotocol = imap\n\thost = h\n\tuser = u\n"
	    "\tmaildir = /m\n}\n",
	    F ":6: account 'a': a secret is required (set password_file, "
	    "password_command or token_command)");
	load_bad("account \"a\" {\n\thost = h\n\tuser = u\n"
	    "\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n}\n",
	    F ":6: account 'a': protocol is required (imap or pop3)");
	load_bad(ACCT "\tpassword_command = \"pass mail\"\n}\n",
	    F ":8: account 'work': password_file, password_command and "
	    "token_command exclude each other (set only one)");
	/* Several errors come back together, one per line. */
	load_bad("account \"a\" {\n\tprotocol = imap\n}\n",
	    F ":3: account 'a': host is required (or provider = NAME, see "
	    "mailfetchd --providers)\n"
	    F ":3: account 'a': user is required\n"
	    F ":3: account 'a': maildir is required (an absolute path)\n"
	    F ":3: account 'a': a secret is required (set password_file, "
	    "password_command or token_command)");
}

/* Duplicate sections. */
static void
t_bad_duplicates(void **state)
{
	(void)state;
	load_bad(ACCT "}\n" ACCT "}\n",
	    F ":8: duplicate account 'work' (account names must be unique)");
	load_bad(ACCT "\tfolder \"INBOX\" { }\n\tfolder \"INBOX\" { }\n}\n",
	    F ":8: duplicate folder 'INBOX' in account 'work' (folder names "
	    "must be unique within an account)");
	load_bad("account \"a/b\" {\n\tprotocol = imap\n\thost = h\n\tuser = u"
	    "\n\tpassword_file = \"@DIR@/pw\"\n\tmaildir = /m\n}\n",
	    F ":7: invalid account name 'a/b' (use 1 to 64 letters, digits, "
	    "'.', '-', '_', '@' or '+', not starting with '.')");
}

/* tls = none to a remote host needs allow_insecure. */
static void
t_bad_tls_none(void **state)
{
	(void)state;
	load_bad(ACCT "\ttls = none\n}\n",
	    F ":7: account 'work': tls = none would send the password in clear "
	    "text to 'imap.example.com' (use tls = implicit or starttls; set "
	    "allow_insecure = yes only if the network path is trusted)");
	load_bad(ACCT "\ttls = none\n\tallow_insecure = no\n}\n",
	    F ":7: account 'work': tls = none would send the password in clear "
	    "text to 'imap.example.com' (use tls = implicit or starttls; set "
	    "allow_insecure = yes only if the network path is trusted)");
	load_bad("account \"a\" {\n\ttls = none\n\tprotocol = imap\n"
	    "\thost = 128.0.0.1\n\tuser = u\n\tpassword_file = \"@DIR@/pw\"\n"
	    "\tmaildir = /m\n}\n",
	    F ":2: account 'a': tls = none would send the password in clear "
	    "text to '128.0.0.1' (use tls = implicit or starttls; set "
	    "allow_insecure = yes only if the network path is trusted)");
}

/* password_file must exist, be a readable regular file, mode 600. */
static void
t_bad_password_file(void **state)
{
	struct config	*conf;
	char		*path, *cause, *want;

	(void)state;
	load_bad("account \"a\" {\n\tpassword_file = \"@DIR@/nope\"\n}\n",
	    F ":2: password_file '@DIR@/nope': No such file or directory\n"
	    F ":3: account 'a': protocol is required (imap or pop3)\n"
	    F ":3: account 'a': host is required (or provider = NAME, see "
	    "mailfetchd --providers)\n"
	    F ":3: account 'a': user is required\n"
	    F ":3: account 'a': maildir is required (an absolute path)");
	load_bad(POP3 "\tpassword_file = \"@DIR@/pw644\"\n}\n",
	    F ":7: password_file '@DIR@/pw644' has mode 0644: it must not be "
	    "readable or writable by group or others (chmod 600 "
	    "'@DIR@/pw644')");
	load_bad(POP3 "\tpassword_file = \"@DIR@/adir\"\n}\n",
	    F ":7: password_file '@DIR@/adir' is not a regular file");

	/* Unreadable: root reads anything, so become nobody for this (the
	 * config file itself stays readable). */
	path = write_conf("account \"pop\" {\n\tprotocol = pop3\n"
	    "\thost = h\n\tuser = u\n\tmaildir = /m\n"
	    "\tpassword_file = \"@DIR@/pw000\"\n}\n");
	if (geteuid() == 0) {
		assert_int_equal(chmod(tdir, 0711), 0);
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(seteuid(65534), 0);
	}
	conf = config_load(path, &cause);
	if (getuid() == 0) {
		assert_int_equal(seteuid(0), 0);
		assert_int_equal(chmod(tdir, 0700), 0);
	}
	want = expand(F ":6: password_file '@DIR@/pw000' is not readable: "
	    "Permission denied");
	assert_null(conf);
	assert_string_equal(cause, want);
	free(cause);
	free(want);
	free(path);
}

/* Paths, durations and sizes checked where they are set. */
static void
t_bad_values(void **state)
{
	(void)state;
	load_bad(POP3 "\tmaildir = \"Maildir\"\n}\n",
	    F ":7: maildir must be an absolute path, not 'Maildir'");
	load_bad("state_dir = var/mfd\n",
	    F ":1: state_dir must be an absolute path, not 'var/mfd'");
	load_bad(POP3 "\thost = \"\"\n}\n", F ":7: host must not be empty");
	load_bad(POP3 "\tpoll_interval = 5x\n}\n",
	    F ":7: invalid duration '5x' for poll_interval (use seconds or a "
	    "number with s, m, h or d, e.g. 90, 30s, 5m, 1h; at most 365d)");
	load_bad(POP3 "\ttimeout = 1h30m\n}\n",
	    F ":7: invalid duration '1h30m' for timeout (use seconds or a "
	    "number with s, m, h or d, e.g. 90, 30s, 5m, 1h; at most 365d)");
	load_bad(POP3 "\tpoll_interval = 5s\n}\n",
	    F ":7: poll_interval = 5s is too short (the minimum is 10s)");
	load_bad(POP3 "\tmax_message_size = 10MB\n}\n",
	    F ":7: invalid size '10MB' for max_message_size (use bytes or a "
	    "number with K, M or G, e.g. 1048576, 512K, 256M, 2G; at most "
	    "1024G)");
	load_bad(POP3 "\tdaily_limit = 99999999999999999999\n}\n",
	    F ":7: invalid size '99999999999999999999' for daily_limit (use "
	    "bytes or a number with K, M or G, e.g. 1048576, 512K, 256M, 2G; "
	    "at most 1024G)");
	load_bad(POP3 "\tfingerprint = \"sha1:abcd\"\n}\n",
	    F ":7: invalid fingerprint 'sha1:abcd' (use \"sha256:\" and 64 hex "
	    "digits, colons allowed between bytes)");
	load_bad(POP3 "\tca_file = \"@DIR@/no-ca.pem\"\n}\n",
	    F ":7: ca_file '@DIR@/no-ca.pem': No such file or directory");
}

/* Not supported yet, said so instead of ignored. */
static void
t_bad_unsupported(void **state)
{
	(void)state;
	load_bad(POP3 "\tpassword = \"hunter2\"\n}\n",
	    F ":7: inline passwords are not supported yet; use password_file "
	    "or password_command");
}

/* What POP3 cannot do, and auth mechanisms against the account. */
static void
t_bad_pop3(void **state)
{
	(void)state;
	load_bad(POP3 "\tfolder \"INBOX\" { }\n}\n",
	    F ":7: account 'pop': folder sections are IMAP only; POP3 has a "
	    "single mailbox");
	load_bad(POP3 "\tmark_read = yes\n}\n",
	    F ":7: account 'pop': mark_read = yes: POP3 has no server-side read "
	    "flag; use local_flags = seen");
	load_bad(POP3 "\tidle = yes\n\tlocal_flags = mirror\n"
	    "\ttrash_folder = Trash\n}\n",
	    F ":7: account 'pop': idle = yes: POP3 has no IDLE; remove it "
	    "(poll_interval sets how often to check)\n"
	    F ":8: account 'pop': local_flags = mirror needs IMAP flags; use "
	    "new or seen with POP3\n"
	    F ":9: account 'pop': trash_folder is IMAP only; remove it");
	/* Reported in line order, though found at the closing brace. */
	load_bad(POP3 "\tmark_read = yes\n\tpoll_interval = 1s\n}\n",
	    F ":7: account 'pop': mark_read = yes: POP3 has no server-side "
	    "read flag; use local_flags = seen\n"
	    F ":8: poll_interval = 1s is too short (the minimum is 10s)");
	load_bad(ACCT "\tauth = {login, apop}\n}\n",
	    F ":7: account 'work': auth = apop is POP3 only");
	load_bad(ACCT "\tauth = xoauth2\n}\n",
	    F ":7: account 'work': auth = xoauth2 and oauthbearer need "
	    "token_command");
}

/* Local folder names: collisions and unusable names. */
static void
t_bad_local_names(void **state)
{
	char	*text, *want, *longname;

	(void)state;
	load_bad(ACCT "\tfolder \"Archive\" { }\n"
	    "\tfolder \"Old\" { local = \"Archive\" }\n}\n",
	    F ":8: folders 'Archive' and 'Old' of account 'work' both deliver "
	    "to local folder 'Archive' (set a different local = \"...\")");
	load_bad(ACCT "\tfolder \"inbox\" { }\n\tfolder \"INBOX\" { }\n}\n",
	    F ":8: folders 'inbox' and 'INBOX' of account 'work' both deliver "
	    "to local folder '(the Maildir root)' (set a different local = "
	    "\"...\")");
	load_bad(ACCT "\tfolder \"INBOX\" { }\n"
	    "\tfolder \"Old\" { local = \"INBOX\" }\n}\n",
	    F ":8: folders 'INBOX' and 'Old' of account 'work' both deliver "
	    "to local folder '(the Maildir root)' (set a different local = "
	    "\"...\")");
	load_bad(ACCT "\tfolder \"A\" { local = \"\" }\n}\n",
	    F ":7: invalid local folder name '': it must not be empty");
	load_bad(ACCT "\tfolder \"A\" { local = \".hidden\" }\n}\n",
	    F ":7: invalid local folder name '.hidden': it must not start with "
	    "'.' (nor any level after '/')");
	load_bad(ACCT "\tfolder \"A\" { local = \"a/../b\" }\n}\n",
	    F ":7: invalid local folder name 'a/../b': it must not contain "
	    "'..'");
	load_bad(ACCT "\tfolder \"A\" { local = \"a\\tb\" }\n}\n",
	    F ":7: invalid local folder name 'a\\011b': it must not contain "
	    "control characters");
	load_bad(ACCT "\tfolder \"A\" { local = \"a//b\" }\n}\n",
	    F ":7: invalid local folder name 'a//b': it must not start or end "
	    "with '/' or contain '//'");
	load_bad(ACCT "\tfolder \".Trash\" { }\n}\n",
	    F ":7: invalid local folder name derived from folder '.Trash': it "
	    "must not start with '.' (nor any level after '/') (set local = "
	    "\"...\" in the folder)");

	longname = xmalloc(202);
	memset(longname, 'x', 201);
	longname[201] = '\0';
	xasprintf(&text, ACCT "\tfolder \"A\" {\n\t\tlocal = \"%s\"\n\t}\n}\n",
	    longname);
	longname[64] = '\0';
	xasprintf(&want, F ":8: invalid local folder name '%s...': it must "
	    "not be longer than 200 bytes", longname);
	load_bad(text, want);
	free(text);
	free(want);
	free(longname);
}

/* config_account_equal: the same account written elsewhere in the file
 * is equal; any changed setting, folder or name makes it differ. */
static void
t_account_equal(void **state)
{
	static const char *changed[] = {
		ACCT "\tpoll_interval = 11m\n}\n",
		ACCT "\tport = 1993\n}\n",
		ACCT "\tkeep = no\n}\n",
		ACCT "\tfolder \"INBOX\" { }\n\tfolder \"Sent\" { }\n}\n",
		ACCT "\tfolder \"INBOX\" { local = \"In\" }\n}\n",
		ACCT "\tdaily_limit = 1G\n}\n",
		ACCT "\towner = \"daemon\"\n}\n",
	};
	struct config	*a, *b;
	size_t		 i;

	(void)state;
	a = load_ok(ACCT "}\n");
	b = load_ok("\n\n# moved down\n" ACCT "\n}\n");
	assert_true(config_account_equal(&a->accounts[0], &b->accounts[0]));
	assert_true(config_account_equal(&a->accounts[0], &a->accounts[0]));
	config_free(b);
	for (i = 0; i < nitems(changed); i++) {
		b = load_ok(changed[i]);
		if (config_account_equal(&a->accounts[0], &b->accounts[0]))
			fail_msg("equal despite: %s", changed[i]);
		config_free(b);
	}
	b = load_ok(POP3 "}\n");
	assert_false(config_account_equal(&a->accounts[0], &b->accounts[0]));
	config_free(b);
	config_free(a);
}

/* owner = USER: resolved at load (uid, gid, home); unknown users, root
 * and names that are no plain file name are errors at the option's line;
 * allow_root defaults to no. */
static void
t_owner(void **state)
{
	struct config	*conf;

	(void)state;
	conf = load_ok(ACCT "\towner = \"daemon\"\n}\n");
	assert_string_equal(conf->accounts[0].owner, "daemon");
	assert_int_equal(conf->accounts[0].owner_uid, 1);
	assert_int_equal(conf->accounts[0].owner_gid, 1);
	assert_non_null(conf->accounts[0].owner_home);
	assert_false(conf->allow_root);
	config_free(conf);
	conf = load_ok("allow_root = yes\n" ACCT "}\n");
	assert_true(conf->allow_root);
	assert_null(conf->accounts[0].owner);
	assert_int_equal(conf->accounts[0].owner_uid, (uid_t)-1);
	config_free(conf);
	load_bad(ACCT "\towner = \"mfd-no-such-user\"\n}\n",
	    F ":7: owner 'mfd-no-such-user': no such local user (see getent "
	    "passwd 'mfd-no-such-user')");
	load_bad(ACCT "\towner = \"root\"\n}\n",
	    F ":7: owner 'root' is root (uid 0): an owner is the unprivileged "
	    "user the account's mail is written as (to fetch as root, leave "
	    "owner unset and set allow_root = yes)");
	load_bad(ACCT "\towner = \"../etc\"\n}\n",
	    F ":7: invalid owner '../etc' (a local user name: letters, "
	    "digits, '.', '-', '_', '@' or '+', not starting with '.')");
}

/* config_filter_owner: keeps one owner's accounts and moves the state
 * directory, control socket and token files to state_dir/owner/USER;
 * NULL keeps the accounts without owner and the paths. */
static void
t_owner_filter(void **state)
{
	static const char text[] =
	    "state_dir = \"/var/lib/mfd\"\n"
	    "control_socket = \"/run/mfd.sock\"\n"
	    ACCT "\towner = \"daemon\"\n}\n"
	    POP3 "}\n"
	    "account \"other\" {\n\tprotocol = imap\n\thost = \"h\"\n"
	    "\tuser = \"u\"\n\tmaildir = \"/m\"\n\towner = \"daemon\"\n"
	    "\toauth2 { provider = google\n client_id = \"id\" }\n}\n";
	struct config	*conf;

	(void)state;
	conf = load_ok(text);
	assert_int_equal(conf->naccounts, 3);
	assert_int_equal(config_filter_owner(conf, "daemon"), 2);
	assert_int_equal(conf->naccounts, 2);
	assert_string_equal(conf->accounts[0].name, "work");
	assert_string_equal(conf->accounts[1].name, "other");
	assert_string_equal(conf->state_dir, "/var/lib/mfd/owner/daemon");
	assert_string_equal(conf->control_socket,
	    "/var/lib/mfd/owner/daemon/control");
	assert_false(conf->control_socket_default);
	assert_string_equal(conf->accounts[1].oauth2->token_file,
	    "/var/lib/mfd/owner/daemon/other.oauth2");
	assert_null(config_find_account(conf, "pop"));
	config_free(conf);

	conf = load_ok(text);
	assert_int_equal(config_filter_owner(conf, NULL), 1);
	assert_string_equal(conf->accounts[0].name, "pop");
	assert_string_equal(conf->state_dir, "/var/lib/mfd");
	assert_string_equal(conf->control_socket, "/run/mfd.sock");
	config_free(conf);

	conf = load_ok(text);
	assert_int_equal(config_filter_owner(conf, "nobody"), 0);
	assert_int_equal(conf->naccounts, 0);
	config_free(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_defaults),
		cmocka_unit_test(t_globals_and_enums),
		cmocka_unit_test(t_default_ports),
		cmocka_unit_test(t_folder_inheritance),
		cmocka_unit_test(t_fingerprint),
		cmocka_unit_test(t_durations_sizes),
		cmocka_unit_test(t_auth),
		cmocka_unit_test(t_tls_none_allowed),
		cmocka_unit_test(t_shared_maildir_and_empty),
		cmocka_unit_test(t_print_roundtrip),
		cmocka_unit_test(t_provider_fill),
		cmocka_unit_test(t_provider_explicit),
		cmocka_unit_test(t_provider_poll),
		cmocka_unit_test(t_provider_print),
		cmocka_unit_test(t_bad_provider),
		cmocka_unit_test(t_buffer),
		cmocka_unit_test(t_bad_file),
		cmocka_unit_test(t_bad_syntax),
		cmocka_unit_test(t_bad_missing),
		cmocka_unit_test(t_bad_duplicates),
		cmocka_unit_test(t_bad_tls_none),
		cmocka_unit_test(t_bad_password_file),
		cmocka_unit_test(t_bad_values),
		cmocka_unit_test(t_bad_unsupported),
		cmocka_unit_test(t_bad_pop3),
		cmocka_unit_test(t_bad_local_names),
		cmocka_unit_test(t_account_equal),
		cmocka_unit_test(t_owner),
		cmocka_unit_test(t_owner_filter),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
