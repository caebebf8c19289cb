/* test_oauth2.c: the JSON reader, the refresh token store, the expiry
 * logic with an injected clock, PKCE and form encoding. */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "oauth2.h"
#include "xmalloc.h"

static time_t	fake_now = 1000000;

/* The injected clock. */
static time_t
fake_clock(void)
{
	return (fake_now);
}

/* Parses s, asserting success. */
static void
parse_ok(const char *s, struct oauth2_response *r)
{
	char	*cause = NULL;

	if (oauth2_json_parse(s, strlen(s), r, &cause) != 0)
		fail_msg("%s: %s", s, cause);
}

/* Parses s, asserting failure. */
static void
parse_bad(const char *s)
{
	struct oauth2_response	 r;
	char			*cause = NULL;

	if (oauth2_json_parse(s, strlen(s), &r, &cause) == 0)
		fail_msg("accepted: %s", s);
	assert_non_null(cause);
	assert_null(r.access_token);
	free(cause);
}

static void
t_json_token(void **state)
{
	struct oauth2_response	r;

	(void)state;
	parse_ok(" {\"access_token\":\"ya29.a0\",\"expires_in\":3599,"
	    "\"refresh_token\":\"1//0g\",\"scope\":\"https://mail.google.com/\","
	    "\"token_type\":\"Bearer\"}\n", &r);
	assert_string_equal(r.access_token, "ya29.a0");
	assert_string_equal(r.refresh_token, "1//0g");
	assert_string_equal(r.token_type, "Bearer");
	assert_int_equal(r.expires_in, 3599);
	assert_int_equal(r.interval, -1);
	assert_null(r.error);
	oauth2_response_clear(&r);
	assert_null(r.access_token);
	assert_int_equal(r.expires_in, -1);
}

static void
t_json_error_nested(void **state)
{
	struct oauth2_response	r;

	(void)state;
	/* Microsoft's error answers carry arrays; they are skipped. */
	parse_ok("{\"error\":\"invalid_grant\",\"error_description\":"
	    "\"AADSTS70000: bad\\nline\",\"error_codes\":[70000,[1,{\"a\":"
	    "\"]\"}]],\"timestamp\":\"2024\",\"x\":{\"y\":null,\"z\":true},"
	    "\"f\":-1.5e3}", &r);
	assert_string_equal(r.error, "invalid_grant");
	assert_string_equal(r.error_description, "AADSTS70000: bad\nline");
	assert_null(r.access_token);
	oauth2_response_clear(&r);
}

static void
t_json_device(void **state)
{
	struct oauth2_response	r;

	(void)state;
	/* Google says verification_url; expires_in as a string. */
	parse_ok("{\"device_code\":\"dc\",\"user_code\":\"ABC-DEF\","
	    "\"verification_url\":\"https:\\/\\/www.google.com\\/device\","
	    "\"expires_in\":\"1800\",\"interval\":5}", &r);
	assert_string_equal(r.device_code, "dc");
	assert_string_equal(r.user_code, "ABC-DEF");
	assert_string_equal(r.verification_uri, "https://www.google.com/device");
	assert_int_equal(r.expires_in, 1800);
	assert_int_equal(r.interval, 5);
	oauth2_response_clear(&r);
}

static void
t_json_escapes(void **state)
{
	struct oauth2_response	r;

	(void)state;
	parse_ok("{\"access_token\":\"a\\\"b\\\\c\\u00e9\\u20ac"
	    "\\ud83d\\ude00\\t\"}", &r);
	assert_string_equal(r.access_token,
	    "a\"b\\c\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\t");
	oauth2_response_clear(&r);
	parse_ok("{}", &r);
	assert_null(r.access_token);
	oauth2_response_clear(&r);
}

static void
t_json_bad(void **state)
{
	static const char	*bad[] = {
		"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
		"{\"a\":1} x", "{\"a\":1}{}", "{\"access_token\":1}",
		"{\"expires_in\":\"x\"}", "{\"expires_in\":-5}",
		"{\"expires_in\":1e3}", "{\"expires_in\":99999999999999999999}",
		"{\"access_token\":\"a\",\"access_token\":\"b\"}",
		"{\"interval\":1,\"interval\":2}",
		"{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u0000\"}",
		"{\"access_token\":\"\\u0000\"}",
		"{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
		"{\"a\":\"x\ty\"}", "{\"a\":\"unterminated}", "{\"a\":tru}",
		"{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":[1,2}",
		"{\"a\":]}", "{\"a\":nul}", "{'a':1}",
	};
	size_t			 i;
	char			*big;
	struct oauth2_response	 r;
	char			*cause = NULL;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		parse_bad(bad[i]);
	/* Bounded input: one byte over the limit is refused unread. */
	big = xmalloc(OAUTH2_JSON_MAX + 2);
	memset(big, ' ', OAUTH2_JSON_MAX + 1);
	big[0] = '{';
	big[OAUTH2_JSON_MAX] = '}';
	big[OAUTH2_JSON_MAX + 1] = '\0';
	assert_int_equal(oauth2_json_parse(big, OAUTH2_JSON_MAX + 1, &r,
	    &cause), -1);
	assert_non_null(strstr(cause, "too long"));
	free(cause);
	assert_int_equal(oauth2_json_parse(big, OAUTH2_JSON_MAX, &r, &cause),
	    -1);	/* no closing brace within the limit */
	free(cause);
	big[OAUTH2_JSON_MAX - 1] = '}';
	big[OAUTH2_JSON_MAX] = '\0';
	parse_ok(big, &r);	/* strlen is exactly the limit */
	oauth2_response_clear(&r);
	free(big);
}

static void
t_store(void **state)
{
	char		 dir[] = "/tmp/mfd-test-oauth2.XXXXXX", *path, *tok;
	char		*cause = NULL;
	struct stat	 sb;
	int		 missing;

	(void)state;
	assert_non_null(mkdtemp(dir));
	xasprintf(&path, "%s/acct.oauth2", dir);
	assert_null(oauth2_store_load(path, &missing, &cause));
	assert_int_equal(missing, 1);
	free(cause);
	assert_int_equal(oauth2_store_save(path, "1//refresh-A", &cause), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	tok = oauth2_store_load(path, &missing, &cause);
	assert_non_null(tok);
	assert_string_equal(tok, "1//refresh-A");
	xfree_secret(tok);
	/* Replaced, not appended. */
	assert_int_equal(oauth2_store_save(path, "B", &cause), 0);
	tok = oauth2_store_load(path, &missing, &cause);
	assert_string_equal(tok, "B");
	xfree_secret(tok);
	assert_int_equal(oauth2_store_save(path, "a\nb", &cause), -1);
	free(cause);
	assert_int_equal(oauth2_store_save(path, "", &cause), -1);
	free(cause);
	/* A file opened to others is refused. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(oauth2_store_load(path, &missing, &cause));
	assert_int_equal(missing, 0);
	assert_non_null(strstr(cause, "chmod 600"));
	free(cause);
	unlink(path);
	free(path);
	/* No temp file left behind. */
	assert_int_equal(rmdir(dir), 0);
}

static void
t_expiry(void **state)
{
	(void)state;
	assert_int_equal(oauth2_needs_refresh(1000, 0), 0);
	assert_int_equal(oauth2_needs_refresh(1000, 1000 - 301), 0);
	assert_int_equal(oauth2_needs_refresh(1000, 1000 - 300), 1);
	assert_int_equal(oauth2_needs_refresh(1000, 1000), 1);
	assert_int_equal(oauth2_needs_refresh(1000, 5000), 1);
}

static void
t_token_cache(void **state)
{
	char			 dir[] = "/tmp/mfd-test-oauth2.XXXXXX";
	struct oauth2_conf	 oc;
	struct account_conf	 ac;
	char			*tok, *cause = NULL;
	int			 reauth;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&oc, 0, sizeof oc);
	memset(&ac, 0, sizeof ac);
	xasprintf(&oc.token_file, "%s/a.oauth2", dir);
	oc.token_url = "https://127.0.0.1:1/token";
	oc.client_id = "id";
	ac.name = "a";
	ac.oauth2 = &oc;
	oauth2_set_clock(fake_clock);
	oauth2_cache_put(oc.token_file, "cached-token", fake_now + 3600);
	tok = oauth2_token(&ac, &reauth, &cause);
	assert_non_null(tok);
	assert_string_equal(tok, "cached-token");
	assert_int_equal(reauth, 0);
	xfree_secret(tok);
	/* 4 minutes before expiry: a refresh is due; with no refresh token
	 * stored that means re-authorisation, without touching the net. */
	fake_now += 3600 - 240;
	assert_null(oauth2_token(&ac, &reauth, &cause));
	assert_int_equal(reauth, 1);
	assert_non_null(strstr(cause, "re-authorisation needed: run "
	    "mailfetchd --oauth2-setup a"));
	free(cause);
	/* Another account's token is not this one's. */
	oauth2_cache_put("/elsewhere", "other", fake_now + 7200);
	assert_null(oauth2_token(&ac, &reauth, &cause));
	free(cause);
	oauth2_cache_clear();
	oauth2_set_clock(NULL);
	/* The refresh took the token file's lock (created beside it). */
	xasprintf(&cause, "%s.lock", oc.token_file);
	assert_int_equal(unlink(cause), 0);
	free(cause);
	free(oc.token_file);
	assert_int_equal(rmdir(dir), 0);
}

static void
t_pkce_form(void **state)
{
	const char	*pairs[] = { "a", "x y&z=1/é", "skip", NULL, "b", "",
			    NULL };
	char		*s;

	(void)state;
	/* RFC 7636 appendix B. */
	s = oauth2_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
	assert_string_equal(s, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	free(s);
	s = oauth2_base64url((const unsigned char *)"\xfb\xff", 2);
	assert_string_equal(s, "-_8");
	free(s);
	s = oauth2_form(pairs);
	assert_string_equal(s, "a=x%20y%26z%3D1%2F%C3%A9&b=");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(t_json_token),
		cmocka_unit_test(t_json_error_nested),
		cmocka_unit_test(t_json_device),
		cmocka_unit_test(t_json_escapes),
		cmocka_unit_test(t_json_bad),
		cmocka_unit_test(t_store),
		cmocka_unit_test(t_expiry),
		cmocka_unit_test(t_token_cache),
		cmocka_unit_test(t_pkce_form),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
