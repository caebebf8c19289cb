/* test_provider.c: the provider presets (lookup, aliases, the published
 * Gmail limits, every preset well formed) and the server-text hints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provider.h"

/* Names and aliases, case-insensitive; unknown names are NULL. */
static void
t_find(void **state)
{
	const struct provider	*p;

	(void)state;
	p = provider_find("gmail");
	assert_non_null(p);
	assert_string_equal(p->name, "gmail");
	assert_ptr_equal(provider_find("GMail"), p);
	assert_ptr_equal(provider_find("googlemail"), p);
	assert_string_equal(provider_find("office365")->name, "outlook");
	assert_string_equal(provider_find("Hotmail")->name, "outlook");
	assert_string_equal(provider_find("mail.ru")->name, "mailru");
	assert_string_equal(provider_find("mailbox.org")->name, "mailbox.org");
	assert_null(provider_find("gmai"));
	assert_null(provider_find("gmail "));
	assert_null(provider_find(""));
	assert_null(provider_find(NULL));
}

/* The figures for Gmail, and what derives from them. */
static void
t_gmail_limits(void **state)
{
	const struct provider		*p = provider_find("gmail");
	const struct provider_server	*s;

	(void)state;
	assert_int_equal(p->min_poll, 600);
	assert_int_equal(p->max_conn, 15);
	assert_int_equal(provider_default_connections(p), 10);
	assert_int_equal(provider_daily_limit(p, PROTO_IMAP), 2500000000ULL);
	assert_int_equal(provider_daily_limit(p, PROTO_POP3), 1250000000ULL);
	s = provider_server(p, PROTO_IMAP);
	assert_string_equal(s->host, "imap.gmail.com");
	assert_int_equal(s->port, 993);
	assert_int_equal(s->tls, TLS_IMPLICIT);
	s = provider_server(p, PROTO_POP3);
	assert_string_equal(s->host, "pop.gmail.com");
	assert_int_equal(s->port, 995);
	/* No published cap: no default cap either. */
	assert_int_equal(provider_default_connections(provider_find("gmx")),
	    0);
	/* iCloud has no POP3; Microsoft wants OAuth2. */
	assert_null(provider_server(provider_find("icloud"), PROTO_POP3));
	assert_int_equal(provider_find("icloud")->user_form,
	    PROVIDER_USER_LOCALPART);
	assert_int_equal(provider_find("outlook")->oauth,
	    PROVIDER_OAUTH_REQUIRED);
	assert_int_equal(provider_find("yandex")->idle_interval, 240);
}

/* Every preset: the five of the issue exist, implicit TLS on the standard
 * ports, a source and settings text, unique names that find themselves. */
static void
t_table(void **state)
{
	const char			*must[] = { "gmail", "yandex", "mailru",
					    "rambler", "outlook" };
	const struct provider		*p, *q;
	const struct provider_server	*s;
	size_t				 i, j;

	(void)state;
	for (i = 0; i < sizeof must / sizeof must[0]; i++)
		assert_non_null(provider_find(must[i]));
	assert_true(provider_count() >= 13);
	assert_null(provider_get(provider_count()));
	for (i = 0; i < provider_count(); i++) {
		p = provider_get(i);
		assert_ptr_equal(provider_find(p->name), p);
		assert_non_null(p->source);
		assert_true(strncmp(p->source, "https://", 8) == 0);
		assert_non_null(p->enable);
		assert_true(p->conn_reserve < p->max_conn || p->max_conn == 0);
		s = provider_server(p, PROTO_IMAP);
		assert_non_null(s);
		assert_int_equal(s->port, 993);
		assert_int_equal(s->tls, TLS_IMPLICIT);
		if ((s = provider_server(p, PROTO_POP3)) != NULL) {
			assert_int_equal(s->port, 995);
			assert_int_equal(s->tls, TLS_IMPLICIT);
		}
		for (j = 0; j < nitems(p->aliases) && p->aliases[j] != NULL;
		    j++) {
			q = provider_find(p->aliases[j]);
			assert_ptr_equal(q, p);
		}
	}
}

/* The list for error messages: sorted, names only. */
static void
t_names(void **state)
{
	char	*s;

	(void)state;
	s = provider_names();
	assert_true(strncmp(s, "aol, fastmail, gmail, ", 22) == 0);
	assert_null(strstr(s, "office365"));
	assert_true(strlen(s) > 5 && strcmp(s + strlen(s) - 6, ", zoho") == 0);
	free(s);
}

/* --providers prints every preset with its servers and source. */
static void
t_print_list(void **state)
{
	char	*out;
	size_t	 n;
	FILE	*f;

	(void)state;
	f = open_memstream(&out, &n);
	provider_print_list(f);
	fclose(f);
	assert_non_null(strstr(out, "gmail (Gmail; also googlemail"));
	assert_non_null(strstr(out, "imap.gmail.com:993 implicit"));
	assert_non_null(strstr(out, "pop.gmail.com:995 implicit"));
	assert_non_null(strstr(out, "poll at most every 600s; 15 IMAP "
	    "connections (default max_connections 10); IMAP 2500000000 "
	    "bytes/day"));
	assert_non_null(strstr(out, "Forwarding and POP/IMAP"));
	assert_non_null(strstr(out, "source:  https://support.google.com/"
	    "mail/answer/7126229\n"));
	assert_non_null(strstr(out, "pop3:    not offered"));
	assert_non_null(strstr(out, "\nposteo (Posteo)\n"));
	free(out);
}

/* One hint case: protocol, server text, code, and a substring of the
 * hint wanted (NULL: no hint). */
struct hint_case {
	enum config_proto	 proto;
	const char		*text;
	const char		*code;
	const char		*want;
};

/* Real server texts map to their hints; a known text beats the code. */
static void
t_hints(void **state)
{
	static const struct hint_case cases[] = {
		{ PROTO_IMAP, "[ALERT] Application-specific password required: "
		  "https://support.google.com/accounts/answer/185833 (Failure)",
		  "ALERT", "app password" },
		{ PROTO_IMAP, "Your account is not enabled for IMAP use.",
		  "ALERT", "IMAP access is disabled" },
		{ PROTO_POP3, "[SYS/PERM] Your account is not enabled for POP "
		  "access.", "SYS/PERM", "POP3 access is disabled" },
		{ PROTO_IMAP, "LOGIN Invalid credentials or IMAP is disabled",
		  "AUTHENTICATIONFAILED", "IMAP access is disabled" },
		{ PROTO_POP3, "login failure or POP3 disabled, try later",
		  "AUTH", "POP3 access is disabled" },
		{ PROTO_IMAP, "BasicAuthBlocked", NULL, "OAuth2" },
		{ PROTO_IMAP, "AUTHENTICATE failed.", NULL, "OAuth2" },
		{ PROTO_IMAP, "Too many simultaneous connections. (Failure)",
		  NULL, "too many simultaneous connections" },
		{ PROTO_POP3, "[IN-USE] too many connections", "IN-USE",
		  "too many simultaneous" },
		{ PROTO_IMAP, "[ALERT] Please log in via your web browser: "
		  "https://support.google.com/mail/accounts/answer/78754",
		  "ALERT", "web page" },
		{ PROTO_POP3, "[AUTH] Web login required", "AUTH", "web page" },
		{ PROTO_IMAP, "Invalid credentials (Failure)",
		  "AUTHENTICATIONFAILED", "wrong user name or password" },
		{ PROTO_IMAP, "Invalid credentials (Failure)",
		  "authenticationfailed", "wrong user name or password" },
		{ PROTO_IMAP, "Service temporarily down", "UNAVAILABLE",
		  "not a password problem" },
		{ PROTO_POP3, "try again later", "SYS/TEMP",
		  "not a password problem" },
		{ PROTO_POP3, "wait", "LOGIN-DELAY", "poll_interval" },
		{ PROTO_IMAP, "account is locked", NULL, "locked" },
		/* Codes are per protocol. */
		{ PROTO_POP3, "x", "AUTHENTICATIONFAILED", NULL },
		{ PROTO_IMAP, "x", "SYS/TEMP", NULL },
		/* IMAP texts do not match POP3 and back. */
		{ PROTO_POP3, "not enabled for IMAP", NULL, NULL },
		{ PROTO_IMAP, "Login OK", NULL, NULL },
		{ PROTO_IMAP, NULL, NULL, NULL },
		{ PROTO_IMAP, NULL, "UNAVAILABLE", "not a password problem" },
	};
	const char	*h;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		h = provider_hint(cases[i].proto, cases[i].text,
		    cases[i].code);
		if (cases[i].want == NULL) {
			if (h != NULL)
				fail_msg("case %zu: unexpected hint '%s'", i, h);
			continue;
		}
		if (h == NULL || strstr(h, cases[i].want) == NULL)
			fail_msg("case %zu: hint '%s' lacks '%s'", i,
			    h != NULL ? h : "(none)", cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(t_find),
		cmocka_unit_test(t_gmail_limits),
		cmocka_unit_test(t_table),
		cmocka_unit_test(t_names),
		cmocka_unit_test(t_print_list),
		cmocka_unit_test(t_hints),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
