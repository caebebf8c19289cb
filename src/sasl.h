/* sasl.h: the client side of the SASL mechanisms mailfetchd speaks, as
 * base64 strings ready to send (IMAP AUTHENTICATE, POP3 AUTH). */
#ifndef MAILFETCHD_SASL_H
#define MAILFETCHD_SASL_H

#include <stddef.h>

/* Each returns a NUL-terminated base64 string; the caller frees it with
 * xfree_secret() (it encodes a secret). */
/* RFC 4616: "\0user\0password" (no authorization identity). */
char	*sasl_plain(const char *user, const char *password);
/* Google/Microsoft XOAUTH2: "user=U\1auth=Bearer T\1\1". */
char	*sasl_xoauth2(const char *user, const char *token);
/* RFC 7628 OAUTHBEARER: "n,a=U,\1host=H\1port=P\1auth=Bearer T\1\1". */
char	*sasl_oauthbearer(const char *user, const char *host,
	    unsigned int port, const char *token);

/* Base64 of len bytes; caller frees. */
char	*sasl_b64_encode(const void *, size_t len);
/* Decodes base64 (no whitespace inside); returns a NUL-terminated buffer
 * of *outlen bytes the caller frees, or NULL if the input is not base64. */
char	*sasl_b64_decode(const char *, size_t len, size_t *outlen);

#endif
