/* test_json.c: the JSON writer: the escaping of every kind of byte a name
 * may hold (quotes, backslashes, control bytes, DEL, UTF-8 of every
 * length, U+2028/2029, and each kind of invalid UTF-8 replaced by
 * U+FFFD), embedded NULs with an explicit length, and the commas and
 * colons of nested objects and arrays; the validator of records from
 * another user's daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

struct esc_case {
	const char	*in;
	size_t		 inlen;
	const char	*out;
};

#define E(i, o)	{ i, sizeof(i) - 1, o }
static const struct esc_case esc_cases[] = {
	E("", "\"\""),
	E("plain", "\"plain\""),
	E("a \"quoted\" name", "\"a \\\"quoted\\\" name\""),
	E("back\\slash\\", "\"back\\\\slash\\\\\""),
	E("\n\r\t", "\"\\n\\r\\t\""),
	E("\x01\x08\x0c\x1f", "\"\\u0001\\u0008\\u000c\\u001f\""),
	E("del\x7f", "\"del\\u007f\""),
	E("nul\0in", "\"nul\\u0000in\""),
	E("/ stays", "\"/ stays\""),
	/* Valid UTF-8 of two, three and four bytes passes through. */
	E("caf\xc3\xa9", "\"caf\xc3\xa9\""),
	E("\xe2\x82\xac \xe6\x97\xa5", "\"\xe2\x82\xac \xe6\x97\xa5\""),
	E("\xf0\x9f\x93\xa7", "\"\xf0\x9f\x93\xa7\""),
	E("\xef\xbf\xbf", "\"\xef\xbf\xbf\""),		/* U+FFFF */
	E("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""),	/* U+10FFFF */
	/* Line separators of JavaScript. */
	E("a\xe2\x80\xa8z\xe2\x80\xa9", "\"a\\u2028z\\u2029\""),
	/* Invalid: each bad byte becomes U+FFFD, the rest is kept. */
	E("\xff", "\"\\ufffd\""),
	E("latin1 caf\xe9!", "\"latin1 caf\\ufffd!\""),
	E("\x80x", "\"\\ufffdx\""),			/* lone continuation */
	E("\xc0\xaf", "\"\\ufffd\\ufffd\""),		/* overlong '/' */
	E("\xc1\xbf", "\"\\ufffd\\ufffd\""),		/* overlong */
	E("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""),	/* overlong */
	E("\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""),
	E("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""),	/* surrogate */
	E("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""),
	E("\xf5\x80", "\"\\ufffd\\ufffd\""),
	E("\xe2\x82", "\"\\ufffd\\ufffd\""),		/* truncated */
	E("\xe2\x82z", "\"\\ufffd\\ufffdz\""),
	E("\xc3\"", "\"\\ufffd\\\"\""),			/* cut by a quote */
};

static void
test_escape(void **state)
{
	const struct esc_case	*c;
	struct json		*j;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof esc_cases / sizeof esc_cases[0]; i++) {
		c = &esc_cases[i];
		j = json_new();
		json_string_len(j, c->in, c->inlen);
		assert_string_equal(json_text(j, NULL), c->out);
		json_free(j);
	}
}

/* Every byte value alone: the output is printable ASCII or valid UTF-8,
 * never a raw control byte, quote or backslash. */
static void
test_every_byte(void **state)
{
	struct json	*j;
	const char	*t;
	size_t		 len, k;
	char		 in[1];
	int		 b;

	(void)state;
	for (b = 0; b < 256; b++) {
		in[0] = (char)b;
		j = json_new();
		json_string_len(j, in, 1);
		t = json_text(j, &len);
		assert_true(len >= 3);
		assert_int_equal(t[0], '"');
		assert_int_equal(t[len - 1], '"');
		for (k = 1; k < len - 1; k++) {
			assert_true((unsigned char)t[k] >= 0x20);
			assert_true((unsigned char)t[k] < 0x7f);
			if (t[k] == '"')
				fail_msg("byte %d: raw quote in %s", b, t);
			/* An escape: its second character is one of JSON's. */
			if (t[k] == '\\')
				assert_non_null(strchr("\"\\nrtu", t[++k]));
		}
		json_free(j);
	}
}

static void
test_structure(void **state)
{
	struct json	*j;
	char		*text;

	(void)state;
	j = json_new();
	json_object_begin(j);
	json_key(j, "schema_version");
	json_uint(j, 1);
	json_key(j, "na\"me");
	json_string(j, "x");
	json_key(j, "none");
	json_string(j, NULL);
	json_key(j, "list");
	json_array_begin(j);
	json_int(j, -5);
	json_uint(j, UINT64_MAX);
	json_bool(j, 1);
	json_bool(j, 0);
	json_null(j);
	json_object_begin(j);
	json_object_end(j);
	json_array_begin(j);
	json_array_end(j);
	json_object_begin(j);
	json_key(j, "a");
	json_raw(j, "{\"b\":[1,2]}");
	json_key(j, "c");
	json_array_begin(j);
	json_string(j, "d");
	json_array_end(j);
	json_object_end(j);
	json_array_end(j);
	json_key(j, "last");
	json_int(j, INT64_MIN);
	json_object_end(j);
	text = json_finish(j);
	assert_string_equal(text, "{\"schema_version\":1,\"na\\\"me\":\"x\","
	    "\"none\":null,\"list\":[-5,18446744073709551615,true,false,"
	    "null,{},[],{\"a\":{\"b\":[1,2]},\"c\":[\"d\"]}],"
	    "\"last\":-9223372036854775808}");
	free(text);
}

/* A long string grows the buffer past its first size. */
static void
test_long(void **state)
{
	struct json	*j;
	char		*in;
	size_t		 len;

	(void)state;
	in = malloc(100001);
	assert_non_null(in);
	memset(in, '"', 100000);
	in[100000] = '\0';
	j = json_new();
	json_string(j, in);
	json_text(j, &len);
	assert_int_equal(len, 200002);
	json_free(j);
	free(in);
}

/* json_valid_object: what root takes from another user's daemon (review
 * r16 06): the writer's own output passes; the review's truncated record,
 * raw control bytes, a second "name" (also spelt with an escape), invalid
 * UTF-8, trailing text, and too deep nesting do not. */
static void
test_valid(void **state)
{
	struct json	*j;
	char		*text, deep[200];
	size_t		 i;

	(void)state;
	j = json_new();
	json_object_begin(j);
	json_key(j, "name");
	json_string(j, "a\"b\x01\xc3\xa9\xff");
	json_key(j, "n");
	json_int(j, -12);
	json_key(j, "list");
	json_array_begin(j);
	json_uint(j, 0);
	json_null(j);
	json_bool(j, 1);
	json_object_begin(j);
	json_object_end(j);
	json_array_end(j);
	json_object_end(j);
	text = json_finish(j);
	assert_true(json_valid_object(text));
	free(text);
	assert_true(json_valid_object("{ \"a\" : [ 1.5e+3, -0, \"\\u00e9\\/\" ] }"));
	assert_false(json_valid_object("{\"name\":\"a\",\"owner\":"));
	assert_false(json_valid_object("{\"name\":\"a\x1b]0;t\x07\"}"));
	assert_false(json_valid_object("{\"name\":\"a\",\"name\":\"b\"}"));
	assert_false(json_valid_object("{\"name\":\"a\",\"n\\u0061me\":\"b\"}"));
	assert_false(json_valid_object("{\"name\":\"\xc3\"}"));
	assert_false(json_valid_object("{\"a\":1} {\"b\":2}"));
	assert_false(json_valid_object("{\"a\":1,}"));
	assert_false(json_valid_object("{\"a\":01}"));
	assert_false(json_valid_object("{\"a\":\"\\x\"}"));
	assert_false(json_valid_object("{\"a\":tru}"));
	assert_false(json_valid_object("[1]"));
	assert_false(json_valid_object(""));
	for (i = 0; i < sizeof deep - 1; i++)
		deep[i] = i == 0 ? '{' : '[';
	deep[sizeof deep - 1] = '\0';
	memcpy(deep, "{\"a\":", 5);
	assert_false(json_valid_object(deep));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_valid),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
