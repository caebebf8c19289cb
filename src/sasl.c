/* sasl.c: SASL client messages. Base64 comes from OpenSSL's EVP coders. */
#include "sasl.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "xmalloc.h"

char *
sasl_b64_encode(const void *buf, size_t len)
{
	char	*out;

	out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return (out);
}

/* EVP_DecodeBlock counts padding as data, so the '=' are taken off the
 * length it reports; it also accepts no stray bytes, which is what a SASL
 * challenge must be. */
char *
sasl_b64_decode(const char *in, size_t len, size_t *outlen)
{
	unsigned char	*out;
	int		 n;
	size_t		 pad = 0;

	if (len % 4 != 0)
		return (NULL);
	out = xmalloc(len / 4 * 3 + 1);
	if ((n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len)) < 0) {
		free(out);
		return (NULL);
	}
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	*outlen = (size_t)n - pad;
	out[*outlen] = '\0';
	return ((char *)out);
}

/* Encodes a message built in a scratch buffer, then wipes the buffer. */
static char *
sasl_encode_wipe(char *msg, size_t len)
{
	char	*out;

	out = sasl_b64_encode(msg, len);
	OPENSSL_cleanse(msg, len);
	free(msg);
	return (out);
}

char *
sasl_plain(const char *user, const char *password)
{
	size_t	 ulen = strlen(user), plen = strlen(password);
	char	*msg;

	msg = xmalloc(ulen + plen + 2);
	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[ulen + 1] = '\0';
	memcpy(msg + ulen + 2, password, plen);
	return (sasl_encode_wipe(msg, ulen + plen + 2));
}

char *
sasl_xoauth2(const char *user, const char *token)
{
	char	*msg;
	int	 n;

	n = xasprintf(&msg, "user=%s\001auth=Bearer %s\001\001", user, token);
	return (sasl_encode_wipe(msg, n));
}

/* RFC 5801 saslname: ',' and '=' in the user name become "=2C" and "=3D". */
static char *
sasl_gs2_name(const char *user)
{
	char	*out, *o;

	out = o = xmalloc(strlen(user) * 3 + 1);
	for (; *user != '\0'; user++) {
		if (*user == ',') {
			memcpy(o, "=2C", 3);
			o += 3;
		} else if (*user == '=') {
			memcpy(o, "=3D", 3);
			o += 3;
		} else
			*o++ = *user;
	}
	*o = '\0';
	return (out);
}

char *
sasl_oauthbearer(const char *user, const char *host, unsigned int port,
    const char *token)
{
	char	*msg, *name;
	int	 n;

	name = sasl_gs2_name(user);
	n = xasprintf(&msg, "n,a=%s,\001host=%s\001port=%u\001auth=Bearer %s"
	    "\001\001", name, host, port, token);
	free(name);
	return (sasl_encode_wipe(msg, n));
}
