/* json.c: the JSON writer (see json.h). */
#include "json.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "log.h"
#include "xmalloc.h"

struct json {
	char		*buf;
	size_t		 len;
	size_t		 size;
	unsigned int	 depth;
	/* Per level: whether a value was written there (a comma is due),
	 * and whether a key was just written (no comma before the value). */
	unsigned char	 used[JSON_DEPTH_MAX + 1];
	int		 after_key;
};

struct json *
json_new(void)
{
	struct json	*j = xcalloc(1, sizeof *j);

	j->size = 256;
	j->buf = xmalloc(j->size);
	j->buf[0] = '\0';
	return (j);
}

void
json_free(struct json *j)
{
	if (j == NULL)
		return;
	free(j->buf);
	free(j);
}

const char *
json_text(const struct json *j, size_t *len)
{
	if (len != NULL)
		*len = j->len;
	return (j->buf);
}

char *
json_finish(struct json *j)
{
	char	*text = j->buf;

	free(j);
	return (text);
}

/* Appends n bytes. */
static void
json_add(struct json *j, const char *s, size_t n)
{
	if (j->len + n + 1 > j->size) {
		while (j->len + n + 1 > j->size)
			j->size *= 2;
		j->buf = xreallocarray(j->buf, j->size, 1);
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void
json_adds(struct json *j, const char *s)
{
	json_add(j, s, strlen(s));
}

/* Before any value or key: the comma that separates it from the last. */
static void
json_sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->used[j->depth])
		json_add(j, ",", 1);
	j->used[j->depth] = 1;
}

static void
json_open(struct json *j, char c)
{
	json_sep(j);
	if (j->depth == JSON_DEPTH_MAX)
		fatalx("json: nested deeper than %d", JSON_DEPTH_MAX);
	json_add(j, &c, 1);
	j->used[++j->depth] = 0;
}

static void
json_close(struct json *j, char c)
{
	if (j->depth == 0)
		fatalx("json: %c without its opening", c);
	j->depth--;
	json_add(j, &c, 1);
}

void
json_object_begin(struct json *j)
{
	json_open(j, '{');
}

void
json_object_end(struct json *j)
{
	json_close(j, '}');
}

void
json_array_begin(struct json *j)
{
	json_open(j, '[');
}

void
json_array_end(struct json *j)
{
	json_close(j, ']');
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 if
 * the bytes there are not one (RFC 3629: no overlong forms, no
 * surrogates, nothing beyond U+10FFFF). */
static size_t
json_utf8_len(const unsigned char *s, size_t n)
{
	size_t	need, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return (0);
	if (n < need)
		return (0);
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
	}
	if ((s[0] == 0xe0 && s[1] < 0xa0) ||	/* overlong */
	    (s[0] == 0xed && s[1] >= 0xa0) ||	/* surrogate */
	    (s[0] == 0xf0 && s[1] < 0x90) ||	/* overlong */
	    (s[0] == 0xf4 && s[1] >= 0x90))	/* beyond U+10FFFF */
		return (0);
	return (need);
}

/* Appends the escape of one byte below 0x80 that needs one, or returns
 * 0 if it needs none. */
static int
json_escape_ascii(struct json *j, unsigned char c)
{
	char	esc[8];

	switch (c) {
	case '"':
		json_adds(j, "\\\"");
		return (1);
	case '\\':
		json_adds(j, "\\\\");
		return (1);
	case '\n':
		json_adds(j, "\\n");
		return (1);
	case '\r':
		json_adds(j, "\\r");
		return (1);
	case '\t':
		json_adds(j, "\\t");
		return (1);
	}
	if (c >= 0x20 && c != 0x7f)
		return (0);
	snprintf(esc, sizeof esc, "\\u%04x", c);
	json_adds(j, esc);
	return (1);
}

/* Appends s[0..n) as a quoted JSON string (see json.h). */
static void
json_quote(struct json *j, const char *str, size_t n)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i = 0, k;

	json_add(j, "\"", 1);
	while (i < n) {
		if (s[i] < 0x80) {
			if (!json_escape_ascii(j, s[i]))
				json_add(j, str + i, 1);
			i++;
		} else if ((k = json_utf8_len(s + i, n - i)) == 0) {
			json_adds(j, "\\ufffd");
			i++;
		} else if (k == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
		    (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
			json_adds(j, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
			i += k;
		} else {
			json_add(j, str + i, k);
			i += k;
		}
	}
	json_add(j, "\"", 1);
}

void
json_key(struct json *j, const char *key)
{
	json_sep(j);
	json_quote(j, key, strlen(key));
	json_add(j, ":", 1);
	j->after_key = 1;
}

void
json_string_len(struct json *j, const char *s, size_t n)
{
	if (s == NULL) {
		json_null(j);
		return;
	}
	json_sep(j);
	json_quote(j, s, n);
}

void
json_string(struct json *j, const char *s)
{
	json_string_len(j, s, s != NULL ? strlen(s) : 0);
}

void
json_uint(struct json *j, uint64_t v)
{
	char	num[32];

	snprintf(num, sizeof num, "%" PRIu64, v);
	json_raw(j, num);
}

void
json_int(struct json *j, int64_t v)
{
	char	num[32];

	snprintf(num, sizeof num, "%" PRId64, v);
	json_raw(j, num);
}

void
json_bool(struct json *j, int v)
{
	json_raw(j, v ? "true" : "false");
}

void
json_null(struct json *j)
{
	json_raw(j, "null");
}

void
json_raw(struct json *j, const char *text)
{
	json_sep(j);
	json_adds(j, text);
}

/*
 * The validator: records a daemon of another user sent (status_cli.c).
 */

/* Keys one object may have (the status records have about 20): more is
 * refused, so the duplicate check stays small. */
#define JSON_KEYS_MAX	64

struct json_scan {
	const unsigned char	*s;
	size_t			 n;
	size_t			 i;
};

static int	json_scan_value(struct json_scan *, unsigned int);

static void
json_scan_ws(struct json_scan *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
	    c->s[c->i] == '\r' || c->s[c->i] == '\n'))
		c->i++;
}

/* The escape after a backslash at c->i. */
static int
json_scan_escape(struct json_scan *c)
{
	size_t	k;

	if (c->i >= c->n)
		return (-1);
	if (c->s[c->i] != 'u') {
		if (c->s[c->i] == '\0' || strchr("\"\\/bfnrt", c->s[c->i]) ==
		    NULL)
			return (-1);
		c->i++;
		return (0);
	}
	if (c->n - c->i < 5)
		return (-1);
	for (k = 1; k <= 4; k++) {
		if (!isxdigit(c->s[c->i + k]))
			return (-1);
	}
	c->i += 5;
	return (0);
}

/* A string; its raw bytes between the quotes at *start, *len. No control
 * byte, valid escapes, valid UTF-8. */
static int
json_scan_string(struct json_scan *c, size_t *start, size_t *len)
{
	size_t	k;

	if (c->i >= c->n || c->s[c->i] != '"')
		return (-1);
	*start = ++c->i;
	while (c->i < c->n && c->s[c->i] != '"') {
		if (c->s[c->i] < 0x20 || c->s[c->i] == 0x7f)
			return (-1);
		if (c->s[c->i] == '\\') {
			c->i++;
			if (json_scan_escape(c) != 0)
				return (-1);
		} else if (c->s[c->i] >= 0x80) {
			if ((k = json_utf8_len(c->s + c->i, c->n - c->i)) == 0)
				return (-1);
			c->i += k;
		} else
			c->i++;
	}
	if (c->i >= c->n)
		return (-1);
	*len = c->i++ - *start;
	return (0);
}

/* Digits; at least one. */
static int
json_scan_digits(struct json_scan *c)
{
	size_t	start = c->i;

	while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
		c->i++;
	return (c->i > start ? 0 : -1);
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
json_scan_number(struct json_scan *c)
{
	if (c->i < c->n && c->s[c->i] == '-')
		c->i++;
	if (c->i < c->n && c->s[c->i] == '0')
		c->i++;
	else if (json_scan_digits(c) != 0)
		return (-1);
	if (c->i < c->n && c->s[c->i] == '.') {
		c->i++;
		if (json_scan_digits(c) != 0)
			return (-1);
	}
	if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
		c->i++;
		if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
			c->i++;
		return (json_scan_digits(c));
	}
	return (0);
}

/* One key of an object: a string without escapes (so that two spellings
 * of one key cannot hide a duplicate), not seen before in it. */
static int
json_scan_key(struct json_scan *c, size_t *keys, size_t *nkeys)
{
	size_t	start, len, k;

	if (json_scan_string(c, &start, &len) != 0 ||
	    memchr(c->s + start, '\\', len) != NULL || *nkeys == JSON_KEYS_MAX)
		return (-1);
	for (k = 0; k < *nkeys; k++) {
		if (keys[2 * k + 1] == len &&
		    memcmp(c->s + keys[2 * k], c->s + start, len) == 0)
			return (-1);
	}
	keys[2 * *nkeys] = start;
	keys[2 * (*nkeys)++ + 1] = len;
	json_scan_ws(c);
	if (c->i >= c->n || c->s[c->i] != ':')
		return (-1);
	c->i++;
	return (0);
}

/* An object or an array, after its opening. */
static int
json_scan_container(struct json_scan *c, unsigned int depth, int object)
{
	size_t	keys[2 * JSON_KEYS_MAX], nkeys = 0;
	char	close = object ? '}' : ']';

	json_scan_ws(c);
	if (c->i < c->n && c->s[c->i] == close) {
		c->i++;
		return (0);
	}
	for (;;) {
		json_scan_ws(c);
		if (object && json_scan_key(c, keys, &nkeys) != 0)
			return (-1);
		if (json_scan_value(c, depth + 1) != 0)
			return (-1);
		json_scan_ws(c);
		if (c->i >= c->n)
			return (-1);
		if (c->s[c->i++] == close)
			return (0);
		if (c->s[c->i - 1] != ',')
			return (-1);
	}
}

static int
json_scan_value(struct json_scan *c, unsigned int depth)
{
	size_t		 start, len;
	const char	*lit[] = { "true", "false", "null" };
	size_t		 k;

	json_scan_ws(c);
	if (c->i >= c->n || depth > JSON_DEPTH_MAX)
		return (-1);
	switch (c->s[c->i]) {
	case '{':
	case '[':
		c->i++;
		return (json_scan_container(c, depth, c->s[c->i - 1] == '{'));
	case '"':
		return (json_scan_string(c, &start, &len));
	}
	for (k = 0; k < nitems(lit); k++) {
		if (c->n - c->i >= strlen(lit[k]) &&
		    memcmp(c->s + c->i, lit[k], strlen(lit[k])) == 0) {
			c->i += strlen(lit[k]);
			return (0);
		}
	}
	return (json_scan_number(c));
}

int
json_valid_object(const char *text)
{
	struct json_scan	c = { (const unsigned char *)text, 0, 0 };

	c.n = strlen(text);
	if (c.n == 0 || text[0] != '{' || json_scan_value(&c, 0) != 0)
		return (0);
	json_scan_ws(&c);
	return (c.i == c.n);
}
