/* fuzz_oauth2_json.c: libFuzzer target for the OAuth2 JSON reader.
 *
 * Invariants checked (abort() on failure):
 *   - success and failure are deterministic (two parses agree);
 *   - a failure leaves the response empty and gives a cause;
 *   - on success every string is NUL-terminated within the input's length
 *     (decoding never grows a string) and numbers are -1 or >= 0;
 *   - the input plus trailing white space parses the same way. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth2.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Checks one optional string against the input size. */
static void
check_str(const char *s, size_t len)
{
	if (s != NULL && strlen(s) > len)
		abort();
}

/* Whether two responses hold the same fields. */
static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct oauth2_response	 r, r2;
	char			*cause = NULL, *cause2 = NULL, *copy;
	int			 rc, rc2;

	rc = oauth2_json_parse((const char *)data, len, &r, &cause);
	if (rc != 0) {
		if (cause == NULL || r.access_token != NULL || r.error != NULL ||
		    r.expires_in != -1)
			abort();
		free(cause);
	} else {
		check_str(r.access_token, len);
		check_str(r.refresh_token, len);
		check_str(r.token_type, len);
		check_str(r.error, len);
		check_str(r.error_description, len);
		check_str(r.device_code, len);
		check_str(r.user_code, len);
		check_str(r.verification_uri, len);
		check_str(r.verification_uri_complete, len);
		if (r.expires_in < -1 || r.interval < -1)
			abort();
	}
	copy = malloc(len + 2);
	if (copy == NULL)
		return (0);
	memcpy(copy, data, len);
	copy[len] = '\n';
	copy[len + 1] = ' ';
	rc2 = oauth2_json_parse(copy, len + 2, &r2, &cause2);
	/* Only the size bound may tell them apart. */
	if (rc2 != rc && len + 2 <= OAUTH2_JSON_MAX)
		abort();
	if (rc == 0 && rc2 == 0 && (!same_str(r.access_token, r2.access_token) ||
	    !same_str(r.error, r2.error) || r.expires_in != r2.expires_in ||
	    r.interval != r2.interval))
		abort();
	free(cause2);
	free(copy);
	if (rc == 0)
		oauth2_response_clear(&r);
	if (rc2 == 0)
		oauth2_response_clear(&r2);
	return (0);
}
