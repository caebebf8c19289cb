/* tls.h: the OpenSSL side of a connection: one SSL_CTX per trust setting,
 * per-connection SSL objects that check the chain, the host name and an
 * optional certificate pin, and readable reasons when any of that fails.
 *
 * Policy: TLS 1.2 or newer, SSL_VERIFY_PEER, no compression, no
 * renegotiation. A pin ("sha256:" + the hex SHA-256 of the leaf
 * certificate's DER) is checked *in addition to* the chain and the host
 * name, never instead of them (strict): a self-signed server needs its
 * certificate (or its CA) named by ca_file as well. */
#ifndef MAILFETCHD_TLS_H
#define MAILFETCHD_TLS_H

#include <openssl/ssl.h>

#define TLS_FP_LEN	32	/* SHA-256 */

struct tls_ctx;

/* Creates a context trusting ca_file (PEM, one or more certificates) or,
 * when ca_file is NULL, the system store. NULL and *cause on error. */
struct tls_ctx	*tls_ctx_new(const char *ca_file, char **cause);
/* Drops the caller's reference; SSL objects made from it stay valid.
 * NULL is a no-op. */
void		 tls_ctx_free(struct tls_ctx *);

/* A new client SSL for host (a name or an IP literal): SNI for names, the
 * name or address check, and the pin when fingerprint is not NULL. Clears
 * this thread's OpenSSL error queue first. The caller owns the SSL until it
 * hands it to a bufferevent with BEV_OPT_CLOSE_ON_FREE (which then frees it,
 * even when that bufferevent cannot be created). NULL and *cause on error
 * (a malformed fingerprint, for instance). */
SSL		*tls_ssl_new(struct tls_ctx *, const char *host,
		    const char *fingerprint, char **cause);

/* Why the handshake on ssl failed, for a person: the verification failure
 * (expired, not yet valid, wrong name, untrusted issuer, fingerprint
 * mismatch) or the protocol failure (old protocol version, not TLS at all),
 * followed by the subject and fingerprint of the certificate the server
 * presented, if it got that far. ossl_err is the first OpenSSL error of the
 * connection (0 if none). Drains the thread's error queue. The caller frees
 * the result. */
char		*tls_failure(SSL *, unsigned long ossl_err);

/* After a successful handshake: "TLSv1.3 TLS_AES_256_GCM_SHA384, subject
 * CN=..., sha256:..." for the logs. The caller frees the result. */
char		*tls_describe(SSL *);

/* Parses "sha256:" followed by 64 hex digits (either case; ':' between
 * bytes allowed) into out. 0, or -1 and *cause. */
int		 tls_fingerprint_parse(const char *, unsigned char out[TLS_FP_LEN],
		    char **cause);
/* "sha256:" + 64 lowercase hex digits of the certificate's DER; caller
 * frees. */
char		*tls_fingerprint(X509 *);

#endif
