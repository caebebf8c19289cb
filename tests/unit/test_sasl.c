/* test_sasl.c: SASL client messages, checked by decoding them again and
 * against published examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sasl.h"
#include "xmalloc.h"

/* Decodes b64 and checks it equals want (wantlen bytes). */
static void
assert_b64_is(const char *b64, const char *want, size_t wantlen)
{
	size_t	 n;
	char	*raw;

	raw = sasl_b64_decode(b64, strlen(b64), &n);
	assert_non_null(raw);
	assert_int_equal(n, wantlen);
	assert_memory_equal(raw, want, wantlen);
	free(raw);
}

static void
test_plain_rfc4616(void **state)
{
	char	*s;

	(void)state;
	/* RFC 4616 section 4: "\0tim\0tanstaaftanstaaf". */
	s = sasl_plain("tim", "tanstaaftanstaaf");
	assert_string_equal(s, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	xfree_secret(s);
}

static void
test_xoauth2(void **state)
{
	static const char want[] =
	    "user=someuser@example.com\001auth=Bearer ya29.vF9dft4qmTc2Nvb3Rlck"
	    "BhdHRhdmlzdGEuY29tCg\001\001";
	char	*s;

	(void)state;
	s = sasl_xoauth2("someuser@example.com",
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
	/* The example of Google's XOAUTH2 protocol page. */
	assert_string_equal(s, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJl"
	    "YXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0"
	    "Q2cBAQ==");
	assert_b64_is(s, want, sizeof want - 1);
	xfree_secret(s);
}

static void
test_oauthbearer(void **state)
{
	static const char want[] = "n,a=a=3Db=2Cc@x.org,\001host=server.example"
	    ".com\001port=143\001auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEu"
	    "Y29tCg==\001\001";
	char	*s;

	(void)state;
	s = sasl_oauthbearer("a=b,c@x.org", "server.example.com", 143,
	    "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==");
	assert_b64_is(s, want, sizeof want - 1);
	xfree_secret(s);
}

static void
test_b64_roundtrip_and_errors(void **state)
{
	static const unsigned char bin[] = { 0, 1, 2, 0xff, 0x80, 'x', 0 };
	char	*e, *d;
	size_t	 i, n;

	(void)state;
	for (i = 0; i <= sizeof bin; i++) {
		e = sasl_b64_encode(bin, i);
		d = sasl_b64_decode(e, strlen(e), &n);
		assert_non_null(d);
		assert_int_equal(n, i);
		assert_memory_equal(d, bin, i);
		free(e);
		free(d);
	}
	assert_null(sasl_b64_decode("abc", 3, &n));	/* not a multiple of 4 */
	assert_null(sasl_b64_decode("ab!d", 4, &n));	/* not base64 */
	d = sasl_b64_decode("", 0, &n);
	assert_non_null(d);
	assert_int_equal(n, 0);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_rfc4616),
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_oauthbearer),
		cmocka_unit_test(test_b64_roundtrip_and_errors),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
