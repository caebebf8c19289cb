/* provider.h: presets for well-known mail providers (servers, TLS, user
 * name form, published limits, what to enable on the provider's side) and
 * the table mapping server refusal texts to hints for the user. Pure data
 * and lookups: no I/O except provider_print_list(). */
#ifndef MAILFETCHD_PROVIDER_H
#define MAILFETCHD_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* What the provider wants in "user". */
enum provider_user {
	PROVIDER_USER_ADDRESS = 0,	/* the full address, me@example.com */
	PROVIDER_USER_LOCALPART,	/* the part before '@' */
};

/* OAuth2 (XOAUTH2 / OAUTHBEARER) at the provider. */
enum provider_oauth {
	PROVIDER_OAUTH_NONE = 0,	/* passwords only */
	PROVIDER_OAUTH_OFFERED,		/* passwords (often app passwords) too */
	PROVIDER_OAUTH_REQUIRED,	/* password login is switched off */
};

/* One server of a provider; host is NULL when the protocol is not
 * offered. */
struct provider_server {
	const char	*host;
	unsigned int	 port;
	enum config_tls	 tls;
};

/* One preset. Numbers are 0 where the provider publishes none. */
struct provider {
	const char		*name;		/* as in "provider = NAME" */
	const char		*aliases[4];	/* other names, NULL-terminated */
	const char		*title;		/* "Gmail", for people */
	struct provider_server	 imap;
	struct provider_server	 pop3;
	enum provider_user	 user_form;
	unsigned int		 min_poll;	/* seconds between polls */
	unsigned int		 max_conn;	/* simultaneous IMAP, per account */
	unsigned int		 conn_reserve;	/* of max_conn, left to the
						 * user's other clients */
	uint64_t		 imap_daily;	/* IMAP download, bytes / 24 h */
	uint64_t		 pop3_daily;	/* POP3 download, bytes / 24 h */
	unsigned int		 idle_interval;	/* re-issue IDLE at least this
						 * often (s); 0: our default */
	enum provider_oauth	 oauth;
	const char		*enable;	/* what to switch on first */
	const char		*source;	/* the provider's settings page */
	const char		*folders;	/* separator and special use, for
						 * --providers, as its servers were
						 * reported to answer (not
						 * re-checked in this session;
						 * --diagnose shows a server's);
						 * NULL: not said */
	const char		*quirks;	/* of its folders; NULL: none */
};

/* The preset called name (or one of its aliases), case-insensitive, or
 * NULL. Points into a static table: do not free. */
const struct provider	*provider_find(const char *name);
/* The i-th preset (0 <= i < provider_count()), in table order. Do not
 * free. */
const struct provider	*provider_get(size_t i);
size_t			 provider_count(void);
/* "aol, fastmail, ..." (names only, no aliases); the caller frees. */
char			*provider_names(void);
/* The server for proto, or NULL if the provider does not offer it. Do not
 * free. */
const struct provider_server *provider_server(const struct provider *,
			    enum config_proto);
/* The default per-account connection cap: the provider's limit minus the
 * reserve for other clients (at least 1); 0 when no limit is published. */
unsigned int		 provider_default_connections(const struct provider *);
/* The provider's daily download budget for proto in bytes; 0: none. */
uint64_t		 provider_daily_limit(const struct provider *,
			    enum config_proto);
const char		*provider_user_name(enum provider_user);
const char		*provider_oauth_name(enum provider_oauth);
/* Prints every preset for "mailfetchd --providers", then the folder
 * conventions of the servers people host themselves (Dovecot, Cyrus,
 * Courier). */
void			 provider_print_list(FILE *);

/* A hint for a server's refusal, or NULL when none is known. text is the
 * server's human-readable text (may be NULL); code is the response code
 * without brackets, e.g. "AUTHENTICATIONFAILED" (IMAP, RFC 5530) or
 * "SYS/TEMP" (POP3, RFC 3206), or NULL. Matching is case-insensitive; a
 * known text wins over a known code. Static string: do not free. */
const char		*provider_hint(enum config_proto, const char *text,
			    const char *code);

#endif
