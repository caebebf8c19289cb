/* test_tls.c: the parts of tls.c that need no server: fingerprint
 * parsing, context creation errors, per-connection SNI and name set-up.
 * Handshakes are tested by tests/integration/conn_tls.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "tls.h"

#define HEX64	"00112233445566778899aabbccddeeff" \
		"00112233445566778899aabbccddeeff"

static const struct {
	const char	*in;
	int		 ok;
} fp_cases[] = {
	{ "sha256:" HEX64, 1 },
	{ "SHA256:" HEX64, 1 },
	{ "sha256:00112233445566778899AABBCCDDEEFF"
	  "00112233445566778899AABBCCDDEEFF", 1 },
	{ "sha256:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
	  "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff", 1 },
	{ HEX64, 0 },					/* no prefix */
	{ "sha1:" HEX64, 0 },
	{ "sha256:" HEX64 "00", 0 },			/* too long */
	{ "sha256:00112233", 0 },			/* too short */
	{ "sha256:" HEX64 "0", 0 },			/* odd */
	{ "sha256:0g112233445566778899aabbccddeeff"
	  "00112233445566778899aabbccddeeff", 0 },	/* not hex */
	{ "sha256::00112233445566778899aabbccddeeff"
	  "00112233445566778899aabbccddeeff", 0 },	/* leading colon */
	{ "sha256:", 0 },
	{ "", 0 },
};

/* Every fingerprint form is accepted or refused as documented. */
static void
test_fingerprint_parse(void **state)
{
	unsigned char	 out[TLS_FP_LEN];
	char		*cause;
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof fp_cases / sizeof fp_cases[0]; i++) {
		cause = NULL;
		r = tls_fingerprint_parse(fp_cases[i].in, out, &cause);
		if (fp_cases[i].ok) {
			if (r != 0)
				fail_msg("refused %s: %s", fp_cases[i].in, cause);
			assert_int_equal(out[0], 0x00);
			assert_int_equal(out[1], 0x11);
			assert_int_equal(out[15], 0xff);
			assert_int_equal(out[31], 0xff);
			assert_null(cause);
		} else {
			if (r != -1)
				fail_msg("accepted %s", fp_cases[i].in);
			assert_non_null(cause);
			assert_non_null(strstr(cause, "64 hex digits"));
			free(cause);
		}
	}
}

/* The system store loads; the context is freed; NULL free is a no-op. */
static void
test_ctx_system(void **state)
{
	struct tls_ctx	*t;
	char		*cause = NULL;

	t = tls_ctx_new(NULL, &cause);
	assert_non_null(t);
	assert_null(cause);
	tls_ctx_free(t);
	tls_ctx_free(NULL);
}

/* A missing CA file is named, with the system error. */
static void
test_ctx_missing_ca(void **state)
{
	char	*cause = NULL;

	assert_null(tls_ctx_new("/nonexistent/ca.pem", &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "/nonexistent/ca.pem"));
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
}

/* A CA file without a certificate in it is refused, and named. */
static void
test_ctx_bad_ca(void **state)
{
	char	 path[] = "/tmp/test_tls.XXXXXX", *cause = NULL;
	int	 fd;

	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "not a certificate\n", 18), 18);
	close(fd);
	assert_null(tls_ctx_new(path, &cause));
	unlink(path);
	assert_non_null(cause);
	assert_non_null(strstr(cause, path));
	assert_non_null(strstr(cause, "no usable PEM certificate"));
	free(cause);
}

/* Names get SNI, IP literals do not (RFC 6066); both verify the peer. */
static void
test_ssl_sni(void **state)
{
	struct tls_ctx	*t;
	SSL		*ssl;
	X509_VERIFY_PARAM *param;
	char		*cause = NULL, *ipasc;
	const char	*ip[] = { "127.0.0.1", "::1", "2001:db8::1" };
	size_t		 i;

	t = tls_ctx_new(NULL, &cause);
	assert_non_null(t);

	ssl = tls_ssl_new(t, "imap.example.com", NULL, &cause);
	assert_non_null(ssl);
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name),
	    "imap.example.com");
	assert_int_equal(SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER,
	    SSL_VERIFY_PEER);
	param = SSL_get0_param(ssl);
	assert_string_equal(X509_VERIFY_PARAM_get0_host(param, 0),
	    "imap.example.com");
	assert_true(X509_VERIFY_PARAM_get_hostflags(param) &
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_free(ssl);

	for (i = 0; i < sizeof ip / sizeof ip[0]; i++) {
		ssl = tls_ssl_new(t, ip[i], NULL, &cause);
		assert_non_null(ssl);
		assert_null(SSL_get_servername(ssl,
		    TLSEXT_NAMETYPE_host_name));
		/* Checked as an address, not as a name. */
		param = SSL_get0_param(ssl);
		assert_null(X509_VERIFY_PARAM_get0_host(param, 0));
		ipasc = X509_VERIFY_PARAM_get1_ip_asc(param);
		assert_non_null(ipasc);
		OPENSSL_free(ipasc);
		SSL_free(ssl);
	}
	tls_ctx_free(t);
}

/* A malformed pin stops the connection before it starts. */
static void
test_ssl_bad_pin(void **state)
{
	struct tls_ctx	*t;
	SSL		*ssl;
	char		*cause = NULL;

	t = tls_ctx_new(NULL, &cause);
	assert_non_null(t);
	assert_null(tls_ssl_new(t, "imap.example.com", "md5:abcd", &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "md5:abcd"));
	free(cause);
	cause = NULL;
	ssl = tls_ssl_new(t, "x", "sha256:" HEX64, &cause);
	assert_non_null(ssl);
	assert_null(cause);
	SSL_free(ssl);
	tls_ctx_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_parse),
		cmocka_unit_test(test_ctx_system),
		cmocka_unit_test(test_ctx_missing_ca),
		cmocka_unit_test(test_ctx_bad_ca),
		cmocka_unit_test(test_ssl_sni),
		cmocka_unit_test(test_ssl_bad_pin),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
