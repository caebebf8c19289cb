/* tls.c: SSL_CTX set-up, per-connection verification (chain, host name,
 * optional pin) and readable reasons for every way a handshake can fail.
 * OpenSSL checks names itself (SSL_set1_host); nothing here matches SANs
 * by hand. */
#include "tls.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "xmalloc.h"

#define TLS_FP_PREFIX	"sha256:"

struct tls_ctx {
	SSL_CTX		*ctx;
};

/* What the verify callback saw, attached to each SSL (ex_data) so that a
 * failed handshake can be explained after the fact. Freed with the SSL. */
struct tls_peer {
	int		 have_pin;
	unsigned char	 pin[TLS_FP_LEN];
	int		 pin_mismatch;
	char		*host;
	X509		*leaf;		/* the certificate the server presented */
	int		 verify_err;	/* first chain error, X509_V_OK if none */
	X509		*err_cert;	/* the certificate it is about */
};

static int	tls_ex_index = -1;

/* Frees a tls_peer when OpenSSL frees its SSL (libevent owns the SSL). */
static void
tls_peer_free_ex(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct tls_peer	*p = ptr;

	if (p == NULL)
		return;
	X509_free(p->leaf);
	X509_free(p->err_cert);
	free(p->host);
	free(p);
}

/* The first OpenSSL error on the queue as text; clears the queue. */
static const char *
tls_ossl_error(void)
{
	static char	buf[256];
	unsigned long	e;

	if ((e = ERR_get_error()) == 0)
		snprintf(buf, sizeof buf, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return (buf);
}

/* Creates the client context: TLS 1.2 minimum, peer verification against
 * ca_file or the system store. */
struct tls_ctx *
tls_ctx_new(const char *ca_file, char **cause)
{
	struct tls_ctx	*t;
	SSL_CTX		*ctx;

	ERR_clear_error();
	if (tls_ex_index == -1) {
		tls_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    tls_peer_free_ex);
		if (tls_ex_index == -1) {
			xasprintf(cause, "SSL_get_ex_new_index: %s",
			    tls_ossl_error());
			return (NULL);
		}
	}
	/* Say "cannot read" with errno before OpenSSL's vaguer wording. */
	if (ca_file != NULL && access(ca_file, R_OK) == -1) {
		xasprintf(cause, "ca_file %s: %s", ca_file, strerror(errno));
		return (NULL);
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		xasprintf(cause, "SSL_CTX_new: %s", tls_ossl_error());
		return (NULL);
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		xasprintf(cause, "cannot require TLS 1.2: %s", tls_ossl_error());
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	/* RELEASE_BUFFERS: an idle connection gives its record buffers
	 * (about 34 KB) back until the next record; the daemon holds many
	 * idle IDLE connections. */
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY | SSL_MODE_RELEASE_BUFFERS);
	if (ca_file != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, ca_file, NULL)) {
			xasprintf(cause, "ca_file %s: no usable PEM certificate"
			    " (%s)", ca_file, tls_ossl_error());
			goto fail;
		}
	} else if (!SSL_CTX_set_default_verify_paths(ctx)) {
		xasprintf(cause, "cannot load the system CA store: %s",
		    tls_ossl_error());
		goto fail;
	}
	t = xcalloc(1, sizeof *t);
	t->ctx = ctx;
	return (t);

fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/* Drops the context; SSLs made from it hold their own reference. */
void
tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* Returns the value of one hex digit, -1 if c is not one. */
static int
tls_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Parses "sha256:<hex>" (colons between bytes allowed) into out. */
int
tls_fingerprint_parse(const char *s, unsigned char out[TLS_FP_LEN],
    char **cause)
{
	const char	*p;
	size_t		 n = 0;
	int		 hi, lo;

	if (strncasecmp(s, TLS_FP_PREFIX, strlen(TLS_FP_PREFIX)) != 0)
		goto bad;
	p = s + strlen(TLS_FP_PREFIX);
	while (*p != '\0') {
		if (*p == ':' && n > 0) {
			p++;
			continue;
		}
		if (n == TLS_FP_LEN ||
		    (hi = tls_hexval(p[0])) == -1 ||
		    (lo = tls_hexval(p[1])) == -1)
			goto bad;
		out[n++] = (hi << 4) | lo;
		p += 2;
	}
	if (n == TLS_FP_LEN)
		return (0);
bad:
	xasprintf(cause, "fingerprint '%s' is not \"sha256:\" followed by 64"
	    " hex digits", s);
	return (-1);
}

/* Formats a digest as "sha256:<lowercase hex>". */
static char *
tls_fp_string(const unsigned char *md)
{
	char	*s, *p;
	size_t	 i;

	s = xmalloc(strlen(TLS_FP_PREFIX) + 2 * TLS_FP_LEN + 1);
	p = s + strlen(TLS_FP_PREFIX);
	memcpy(s, TLS_FP_PREFIX, strlen(TLS_FP_PREFIX));
	for (i = 0; i < TLS_FP_LEN; i++, p += 2)
		snprintf(p, 3, "%02x", md[i]);
	return (s);
}

/* Computes the SHA-256 of the certificate's DER; 0 or -1. */
static int
tls_digest(X509 *x, unsigned char md[TLS_FP_LEN])
{
	unsigned int	len = 0;

	if (!X509_digest(x, EVP_sha256(), md, &len) || len != TLS_FP_LEN)
		return (-1);
	return (0);
}

/* The printable fingerprint of a certificate. */
char *
tls_fingerprint(X509 *x)
{
	unsigned char	md[TLS_FP_LEN];

	if (tls_digest(x, md) == -1) {
		ERR_clear_error();
		return (xstrdup("sha256:(unavailable)"));
	}
	return (tls_fp_string(md));
}

/* Records what verification found, and checks the pin on the leaf once
 * the chain and the name have passed. Keeps OpenSSL's verdict otherwise:
 * the pin is an extra condition, never a substitute. */
static int
tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL		*ssl;
	struct tls_peer	*p;
	X509		*leaf, *cur;
	unsigned char	 md[TLS_FP_LEN];

	ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL || (p = SSL_get_ex_data(ssl, tls_ex_index)) == NULL)
		return (ok);
	leaf = X509_STORE_CTX_get0_cert(xs);
	if (p->leaf == NULL && leaf != NULL && X509_up_ref(leaf))
		p->leaf = leaf;
	if (!ok) {
		if (p->verify_err == X509_V_OK) {
			p->verify_err = X509_STORE_CTX_get_error(xs);
			cur = X509_STORE_CTX_get_current_cert(xs);
			if (cur != NULL && X509_up_ref(cur))
				p->err_cert = cur;
		}
		return (0);
	}
	if (!p->have_pin || X509_STORE_CTX_get_error_depth(xs) != 0)
		return (1);
	if (leaf == NULL || tls_digest(leaf, md) == -1 ||
	    memcmp(md, p->pin, sizeof md) != 0) {
		p->pin_mismatch = 1;
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return (0);
	}
	return (1);
}

/* Whether host is an IPv4 or IPv6 literal (no SNI, address check). */
static int
tls_is_ip(const char *host)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	return (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1);
}

/* Makes the per-connection SSL: SNI, name or address check, pin. */
SSL *
tls_ssl_new(struct tls_ctx *t, const char *host, const char *fingerprint,
    char **cause)
{
	SSL		*ssl;
	struct tls_peer	*p;
	X509_VERIFY_PARAM *param;

	/* Errors left by someone else must not be blamed on this server. */
	ERR_clear_error();
	p = xcalloc(1, sizeof *p);
	p->verify_err = X509_V_OK;
	if (fingerprint != NULL) {
		if (tls_fingerprint_parse(fingerprint, p->pin, cause) == -1) {
			free(p);
			return (NULL);
		}
		p->have_pin = 1;
	}
	p->host = xstrdup(host);
	if ((ssl = SSL_new(t->ctx)) == NULL) {
		xasprintf(cause, "SSL_new: %s", tls_ossl_error());
		tls_peer_free_ex(NULL, p, NULL, 0, 0, NULL);
		return (NULL);
	}
	if (!SSL_set_ex_data(ssl, tls_ex_index, p)) {
		xasprintf(cause, "SSL_set_ex_data: %s", tls_ossl_error());
		tls_peer_free_ex(NULL, p, NULL, 0, 0, NULL);
		SSL_free(ssl);
		return (NULL);
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, tls_verify_cb);
	param = SSL_get0_param(ssl);
	if (tls_is_ip(host)) {
		/* RFC 6066: SNI carries host names only. */
		if (!X509_VERIFY_PARAM_set1_ip_asc(param, host))
			goto fail;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (!SSL_set_tlsext_host_name(ssl, host) ||
		    !SSL_set1_host(ssl, host))
			goto fail;
	}
	return (ssl);

fail:
	xasprintf(cause, "cannot set up TLS for host '%s': %s", host,
	    tls_ossl_error());
	SSL_free(ssl);
	return (NULL);
}

/* Reads a memory BIO into a string the caller frees. */
static char *
tls_bio_string(BIO *bio)
{
	char	*data, *s;
	long	 len;

	len = BIO_get_mem_data(bio, &data);
	if (len < 0)
		len = 0;
	s = xstrndup(data, len);
	BIO_free(bio);
	return (s);
}

/* The certificate's subject, RFC 2253 with escaped control bytes. */
static char *
tls_subject(X509 *x)
{
	BIO	*bio;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return (xstrdup("?"));
	X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	return (tls_bio_string(bio));
}

/* An ASN1 time as "2021-01-01 00:00:00Z". */
static char *
tls_time(const ASN1_TIME *t)
{
	BIO	*bio;

	if (t == NULL || (bio = BIO_new(BIO_s_mem())) == NULL)
		return (xstrdup("?"));
	ASN1_TIME_print_ex(bio, t, ASN1_DTFLGS_ISO8601);
	return (tls_bio_string(bio));
}

/* Appends ", 'name'" (sanitised) to *list. */
static void
tls_add_name(char **list, const void *data, size_t len)
{
	char	*s, *n;

	s = log_sanitize(data, len, 128);
	if (*list == NULL)
		xasprintf(&n, "'%s'", s);
	else
		xasprintf(&n, "%s, '%s'", *list, s);
	free(s);
	free(*list);
	*list = n;
}

/* The names a certificate is for: DNS and IP SANs, else the CN. */
static char *
tls_cert_names(X509 *x)
{
	GENERAL_NAMES	*gens;
	GENERAL_NAME	*g;
	X509_NAME	*subj;
	X509_NAME_ENTRY	*e;
	ASN1_STRING	*s;
	char		*list = NULL, buf[INET6_ADDRSTRLEN];
	int		 i, af;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			s = g->d.dNSName;
			tls_add_name(&list, ASN1_STRING_get0_data(s),
			    ASN1_STRING_length(s));
		} else if (g->type == GEN_IPADD) {
			s = g->d.iPAddress;
			af = ASN1_STRING_length(s) == 16 ? AF_INET6 : AF_INET;
			if ((ASN1_STRING_length(s) == 4 ||
			    ASN1_STRING_length(s) == 16) &&
			    inet_ntop(af, ASN1_STRING_get0_data(s), buf,
			    sizeof buf) != NULL)
				tls_add_name(&list, buf, strlen(buf));
		}
	}
	GENERAL_NAMES_free(gens);
	if (list != NULL)
		return (list);

	subj = X509_get_subject_name(x);
	i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i >= 0 && (e = X509_NAME_get_entry(subj, i)) != NULL) {
		s = X509_NAME_ENTRY_get_data(e);
		tls_add_name(&list, ASN1_STRING_get0_data(s),
		    ASN1_STRING_length(s));
	}
	return (list != NULL ? list : xstrdup("no name at all"));
}

/* Explains a chain or name verification failure. */
static char *
tls_verify_reason(struct tls_peer *p)
{
	X509	*x = p->err_cert != NULL ? p->err_cert : p->leaf;
	char	*r, *s, *which = NULL;

	/* Name the certificate when it is not the server's own. */
	if (x != NULL && p->leaf != NULL && X509_cmp(x, p->leaf) != 0) {
		s = tls_subject(x);
		xasprintf(&which, " of '%s' in the chain", s);
		free(s);
	}
	switch (p->verify_err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		s = tls_time(x != NULL ? X509_get0_notAfter(x) : NULL);
		xasprintf(&r, "certificate%s has expired (notAfter %s; check"
		    " the system clock)", which ? which : "", s);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		s = tls_time(x != NULL ? X509_get0_notBefore(x) : NULL);
		xasprintf(&r, "certificate%s is not yet valid (notBefore %s;"
		    " check the system clock)", which ? which : "", s);
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		s = x != NULL ? tls_cert_names(x) : xstrdup("?");
		xasprintf(&r, "certificate is for %s, not '%s'", s, p->host);
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		s = NULL;
		r = xstrdup("certificate issuer is not trusted (self-signed:"
		    " the certificate is its own issuer; name it in ca_file to"
		    " trust it)");
		break;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		s = NULL;
		r = xstrdup("certificate issuer is not trusted (self-signed"
		    " root not in the trust store; name it in ca_file to trust"
		    " it)");
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		s = NULL;
		xasprintf(&r, "certificate issuer is not trusted (unknown CA;"
		    " %s)", X509_verify_cert_error_string(p->verify_err));
		break;
	default:
		s = NULL;
		xasprintf(&r, "certificate verification failed%s: %s",
		    which ? which : "",
		    X509_verify_cert_error_string(p->verify_err));
		break;
	}
	free(s);
	free(which);
	return (r);
}

/* Explains a handshake failure that is not about the certificate. */
static char *
tls_protocol_reason(unsigned long e)
{
	char	*r, buf[256];

	if (e == 0)
		return (xstrdup("connection closed during the TLS handshake"));
	if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
		switch (ERR_GET_REASON(e)) {
		case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_NO_PROTOCOLS_AVAILABLE:
		case SSL_R_VERSION_TOO_LOW:
		case SSL_R_WRONG_SSL_VERSION:
			return (xstrdup("server offered only TLS 1.0/1.1 or"
			    " older (TLS 1.2 or newer is required)"));
		case SSL_R_WRONG_VERSION_NUMBER:
		case SSL_R_PACKET_LENGTH_TOO_LONG:
		case SSL_R_RECORD_LENGTH_MISMATCH:
		case SSL_R_HTTP_REQUEST:
			return (xstrdup("server did not answer with TLS (a"
			    " plain-text port? try tls = starttls)"));
		case SSL_R_UNEXPECTED_EOF_WHILE_READING:
			return (xstrdup("connection closed during the TLS"
			    " handshake"));
		case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
		case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
		case SSL_R_NO_SHARED_CIPHER:
			return (xstrdup("no TLS parameters in common with the"
			    " server (handshake failure)"));
		}
	}
	ERR_error_string_n(e, buf, sizeof buf);
	xasprintf(&r, "TLS handshake failed: %s", buf);
	return (r);
}

/* Why the handshake failed, plus what the server presented. */
char *
tls_failure(SSL *ssl, unsigned long e)
{
	struct tls_peer	*p;
	char		*r, *out, *subj, *fp, *want;
	long		 v;

	p = SSL_get_ex_data(ssl, tls_ex_index);
	if (p != NULL && p->pin_mismatch && p->leaf != NULL) {
		fp = tls_fingerprint(p->leaf);
		want = tls_fp_string(p->pin);
		xasprintf(&r, "fingerprint mismatch: server presented %s,"
		    " expected %s", fp, want);
		free(fp);
		free(want);
	} else if (p != NULL && p->verify_err != X509_V_OK)
		r = tls_verify_reason(p);
	else if ((v = SSL_get_verify_result(ssl)) != X509_V_OK)
		xasprintf(&r, "certificate verification failed: %s",
		    X509_verify_cert_error_string(v));
	else
		r = tls_protocol_reason(e);
	ERR_clear_error();

	if (p == NULL || p->leaf == NULL)
		return (r);
	subj = tls_subject(p->leaf);
	fp = tls_fingerprint(p->leaf);
	xasprintf(&out, "%s [server certificate: subject '%s', %s]", r, subj,
	    fp);
	free(subj);
	free(fp);
	free(r);
	return (out);
}

/* Protocol, cipher and certificate of an established session. */
char *
tls_describe(SSL *ssl)
{
	X509	*x;
	char	*s, *subj, *fp;

	x = SSL_get0_peer_certificate(ssl);
	subj = x != NULL ? tls_subject(x) : xstrdup("?");
	fp = x != NULL ? tls_fingerprint(x) : xstrdup("?");
	xasprintf(&s, "%s %s, subject '%s', %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl), subj, fp);
	free(subj);
	free(fp);
	return (s);
}
