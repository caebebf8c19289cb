/* json.h: a small JSON writer for the machine-readable outputs (the
 * status of `mailfetchd --status --json`, status.h), and a validator for
 * the records a daemon sends (json_valid_object); nothing here builds a
 * value from JSON (oauth2.c reads its own).
 *
 * Values are appended to a growing buffer; commas and colons are placed
 * by the writer, which tracks nesting (at most JSON_DEPTH_MAX levels: the
 * callers' documents are shallow, deeper is a programming error).
 * Strings are escaped so that any bytes give valid JSON text in UTF-8:
 * '"', '\\' and every control byte (below 0x20, and DEL) are escaped,
 * U+2028 and U+2029 as well (they end a line in JavaScript); valid UTF-8
 * passes through; each byte that is not part of a valid UTF-8 sequence
 * (a stray continuation byte, an overlong form, a surrogate, beyond
 * U+10FFFF, a truncated sequence) becomes U+FFFD, so a name in another
 * charset stays readable and never breaks a parser. The output has no
 * newline, so it fits in one line of the control protocol. */
#ifndef MAILFETCHD_JSON_H
#define MAILFETCHD_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_DEPTH_MAX	32

struct json;

struct json	*json_new(void);
/* NULL is a no-op. */
void		 json_free(struct json *);
/* The text so far (NUL-terminated) and its length (len may be NULL). */
const char	*json_text(const struct json *, size_t *len);
/* Takes the text and frees the writer; caller frees the text. */
char		*json_finish(struct json *);

void		 json_object_begin(struct json *);
void		 json_object_end(struct json *);
void		 json_array_begin(struct json *);
void		 json_array_end(struct json *);
/* The key of the next member, inside an object. */
void		 json_key(struct json *, const char *);
/* Values; json_string(NULL) and json_string_len(NULL, ...) write null. */
void		 json_string(struct json *, const char *);
void		 json_string_len(struct json *, const char *, size_t);
void		 json_uint(struct json *, uint64_t);
void		 json_int(struct json *, int64_t);
void		 json_bool(struct json *, int);
void		 json_null(struct json *);
/* A JSON text written elsewhere (by another json writer), as a value. */
void		 json_raw(struct json *, const char *);
/* Whether text is one JSON object (RFC 8259) and nothing else: strings
 * in valid UTF-8 without control bytes, at most JSON_DEPTH_MAX levels,
 * and in every object at most 64 keys, none twice and none written with
 * an escape (a parser keeps the last of two "name" members: a record
 * could name one account first and another last). Linear in the length
 * and never recursing deeper than JSON_DEPTH_MAX. */
int		 json_valid_object(const char *text);

#endif
