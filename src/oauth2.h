/* oauth2.h: the built-in OAuth2 client of accounts with an oauth2 section:
 * the first grant (mailfetchd --oauth2-setup: device-code flow, or the
 * loopback redirect with PKCE), the refresh token kept in
 * STATE_DIR/ACCOUNT.oauth2 (mode 0600, replaced atomically, never logged),
 * and the access token kept in memory with its expiry and refreshed when
 * it expires within OAUTH2_REFRESH_MARGIN seconds.
 *
 * HTTP goes through libevent's evhttp over an OpenSSL bufferevent made by
 * tls.c (chain and host name verified); the calls here are synchronous:
 * each runs a private event base for at most a few timeouts. The
 * sessions of a daemon refresh in a child process instead (secret_job,
 * secret.h), so that their event loop never waits. */
#ifndef MAILFETCHD_OAUTH2_H
#define MAILFETCHD_OAUTH2_H

#include <stdio.h>
#include <time.h>

#include "config.h"

#define OAUTH2_JSON_MAX		16384	/* bytes of a token endpoint's answer */
#define OAUTH2_REFRESH_MARGIN	300	/* refresh when this close to expiry */
#define OAUTH2_DEFAULT_EXPIRY	3600	/* when expires_in is missing */
#define OAUTH2_HTTP_TIMEOUT	30	/* seconds per HTTP phase */
#define OAUTH2_SETUP_MAX_WAIT	1800	/* longest wait for the user's grant */

/* The fields of a token or device-authorisation answer (RFC 6749 5.1 and
 * 5.2, RFC 8628 3.2). Strings are NULL when absent; numbers -1. */
struct oauth2_response {
	char		*access_token;
	char		*refresh_token;
	char		*token_type;
	long long	 expires_in;
	char		*error;
	char		*error_description;
	char		*device_code;
	char		*user_code;
	char		*verification_uri;	/* or Google's verification_url */
	char		*verification_uri_complete;
	long long	 interval;
};

/* Parses a flat JSON object of at most OAUTH2_JSON_MAX bytes into r
 * (cleared first; unknown members are skipped, nested values included,
 * without recursion). Strict: a duplicate known member, bad escapes,
 * control characters in strings, \u0000 or trailing bytes are errors.
 * 0, or -1 and *cause (r left empty). Clear r with oauth2_response_clear. */
int	 oauth2_json_parse(const char *buf, size_t len,
	    struct oauth2_response *r, char **cause);
/* Frees (wiping the tokens) what r holds and empties it. */
void	 oauth2_response_clear(struct oauth2_response *r);

/* The refresh token store: one line in path. Save writes a temp file
 * (0600) beside it, fsyncs it, renames it over path and fsyncs the
 * directory. Load returns the token (free with xfree_secret) or NULL and
 * *cause; *missing is set when the file does not exist. */
int	 oauth2_store_save(const char *path, const char *refresh_token,
	    char **cause);
char	*oauth2_store_load(const char *path, int *missing, char **cause);

/* The clock the expiry logic reads (time(NULL) by default; tests). NULL
 * restores the default. */
void	 oauth2_set_clock(time_t (*)(void));
/* Whether a token expiring at expires_at must be refreshed at now. */
int	 oauth2_needs_refresh(time_t expires_at, time_t now);
/* Puts an access token in the in-memory cache of token_file (tests, and
 * secret.c with the answer of a refresh child; the refresh does it
 * itself). */
void	 oauth2_cache_put(const char *token_file, const char *access_token,
	    time_t expires_at);
/* Empties the cache, wiping the tokens. */
void	 oauth2_cache_clear(void);

/* A valid access token for the account (free with xfree_secret): from the
 * cache, or refreshed with the stored refresh token when it expires within
 * OAUTH2_REFRESH_MARGIN seconds. Blocks for the refresh (a few seconds at
 * most, OAUTH2_HTTP_TIMEOUT per phase). NULL and *cause on error; *reauth
 * is set when only a new grant can help (no refresh token stored, or the
 * endpoint answered invalid_grant): *cause then says "re-authorisation
 * needed: run mailfetchd --oauth2-setup ACCOUNT". The token is registered
 * with log_add_secret(). */
char	*oauth2_token(const struct account_conf *, int *reauth, char **cause);

/* The cached access token of the account when it needs no refresh (free
 * with xfree_secret), with its expiry in *expires_at; else NULL. Never
 * blocks: a caller that must not block refreshes elsewhere (secret.h's
 * secret_job runs oauth2_token in a child) and oauth2_cache_put()s the
 * result. */
char	*oauth2_token_cached(const struct account_conf *, time_t *expires_at);

/* mailfetchd --oauth2-setup: the first grant, talking to the user on out
 * (device flow when the account has a device_url, else the loopback
 * redirect), then stores the refresh token and caches the access token.
 * 0, or -1 and *cause. */
int	 oauth2_setup(const struct account_conf *, FILE *out, char **cause);

/* The whole of mailfetchd --oauth2-setup NAME: finds the account, runs
 * oauth2_setup, prints errors on stderr. Returns the exit status: 0,
 * EXIT_CONFIG (unknown account, no oauth2 section) or EXIT_AUTH. */
int	 oauth2_setup_account(const struct config *, const char *name,
	    FILE *out);

/* Pieces of the loopback flow, for tests: base64url without padding, and
 * the PKCE S256 challenge of a verifier (RFC 7636 4.2). Caller frees. */
char	*oauth2_base64url(const unsigned char *, size_t);
char	*oauth2_pkce_challenge(const char *verifier);
/* application/x-www-form-urlencoded "k1=v1&k2=v2" from NULL-ended pairs
 * (a NULL value skips its pair). Caller frees (xfree_secret: it may hold
 * secrets). */
char	*oauth2_form(const char *const *pairs);

#endif
