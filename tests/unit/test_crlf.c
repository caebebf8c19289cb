/* test_crlf.c: CRLF -> LF conversion at every chunk split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crlf.h"

struct crlf_case {
	const char	*in;
	size_t		 inlen;
	const char	*out;
	size_t		 outlen;
};

#define C(i, o)	{ i, sizeof(i) - 1, o, sizeof(o) - 1 }
static const struct crlf_case cases[] = {
	C("", ""),
	C("a\r\nb\r\n", "a\nb\n"),
	C("bare\rcr\r\n", "bare\rcr\n"),
	C("lf only\n", "lf only\n"),
	C("\r\r\n\r", "\r\n\r"),
	C("nul\0byte\r\n\xff\xfe\r\n", "nul\0byte\n\xff\xfe\n"),
	C("\r\n\r\n\r\n", "\n\n\n"),
	C("ends in cr\r", "ends in cr\r"),
};

/* Converts in at one split point (and then byte by byte) and compares. */
static void
check_split(const struct crlf_case *tc, size_t split)
{
	char		out[64];
	struct crlf	c;
	size_t		n;

	crlf_init(&c);
	n = crlf_convert(&c, tc->in, split, out);
	n += crlf_convert(&c, tc->in + split, tc->inlen - split, out + n);
	if (crlf_finish(&c))
		out[n++] = '\r';
	assert_int_equal(n, tc->outlen);
	assert_memory_equal(out, tc->out, n);
}

static void
test_every_split(void **state)
{
	size_t		i, split, n;
	char		out[64];
	struct crlf	c;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (split = 0; split <= cases[i].inlen; split++)
			check_split(&cases[i], split);
		crlf_init(&c);
		n = 0;
		for (split = 0; split < cases[i].inlen; split++)
			n += crlf_convert(&c, cases[i].in + split, 1, out + n);
		if (crlf_finish(&c))
			out[n++] = '\r';
		assert_int_equal(n, cases[i].outlen);
		assert_memory_equal(out, cases[i].out, n);
	}
}

static void
test_in_place(void **state)
{
	char		buf[] = "x\r\ny\r\n";
	struct crlf	c;

	(void)state;
	crlf_init(&c);
	assert_int_equal(crlf_convert(&c, buf, 6, buf), 4);
	assert_memory_equal(buf, "x\ny\n", 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_in_place),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
