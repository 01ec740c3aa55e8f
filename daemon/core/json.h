/*
 * json.h: a small streaming JSON writer, into a caller's buffer or a FILE.
 *
 * The writer places commas and colons itself: call json_key() before each
 * member's value inside an object, and the value functions everywhere else.
 * It never allocates. Output is always valid JSON text and valid UTF-8:
 * strings are escaped (", \, control characters) and byte sequences that are
 * not UTF-8 become U+FFFD. Doubles print as the first of %.15g, %.16g and
 * %.17g that reads back to the same double; for 1e-4 <= |v| < 1e15 the same
 * text is produced in exact integer arithmetic (no snprintf/strtod, about
 * 10x faster). NaN and infinities, which JSON cannot express, print as
 * null; -0.0 prints as -0.
 *
 *   struct json j;
 *   json_init_file(&j, stdout);
 *   json_object_begin(&j);
 *   json_key(&j, "id");  json_uint(&j, 291);
 *   json_key(&j, "sig"); json_object_begin(&j);
 *   json_key(&j, "VehSpd"); json_double(&j, 12.5);
 *   json_object_end(&j);
 *   json_object_end(&j);
 *   json_newline(&j);            -> {"id":291,"sig":{"VehSpd":12.5}}\n
 *   if (json_finish(&j) < 0) ... write error
 *
 * Buffer mode (json_init_buf) keeps the text NUL-terminated; when it does
 * not fit, the output is cut short and json_finish() returns -1.
 * FILE mode stages output in the struct and writes it in large chunks;
 * json_finish() (or json_flush()) writes what is left.
 */
#ifndef CANGATE_JSON_H
#define CANGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest text json_format_double() writes, with its NUL. */
#define JSON_DOUBLE_MAX 32
/* Containers nest at most this deep; deeper output is marked as an error. */
#define JSON_DEPTH_MAX 64

struct json {
	FILE *fp;             /* NULL in buffer mode */
	char *buf;
	size_t size, len;
	bool failed;          /* truncated (buffer) or write error (FILE) */
	bool after_key;       /* next value follows a key: no comma */
	bool pretty;          /* newlines and two-space indents */
	unsigned depth;
	uint64_t has_items;   /* bit d: container at depth d has an element */
	char stage[8192];     /* FILE mode staging area */
};

void json_init_buf(struct json *j, char *buf, size_t size);
void json_init_file(struct json *j, FILE *fp);
/* Indent nested containers by two spaces per level (for humans); off by
 * default. */
void json_set_pretty(struct json *j, bool pretty);

/* FILE mode: write staged output to the FILE (not fflush). Returns 0 or -1. */
int json_flush(struct json *j);
/* Flush and report: 0 when all output was written whole, else -1. */
int json_finish(struct json *j);
/* Bytes written so far in buffer mode (excluding the NUL). */
static inline size_t json_len(const struct json *j)
{
	return j->len;
}

void json_object_begin(struct json *j);
void json_object_end(struct json *j);
/* Object members without the braces ("a":1,"b":2): the fields of an event
 * line that another writer wraps. */
void json_members_begin(struct json *j);
void json_members_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
/* Member name; NUL-terminated, or n bytes with json_key_len(). */
void json_key(struct json *j, const char *key);
void json_key_len(struct json *j, const char *key, size_t n);
/* Member name given as ready JSON string text, quotes included (e.g. made
 * once with json_escape() for a name written millions of times). */
void json_key_raw(struct json *j, const char *quoted, size_t n);

void json_string(struct json *j, const char *s); /* NULL prints null */
void json_string_len(struct json *j, const char *s, size_t n);
void json_double(struct json *j, double v);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* A value given as ready JSON text (e.g. a number formatted elsewhere). The
 * caller vouches that it is valid JSON. */
void json_raw(struct json *j, const char *text, size_t n);
/* '\n' between top-level values (JSON lines); resets the comma state. */
void json_newline(struct json *j);

/*
 * Stand-alone helpers for other writers.
 * json_format_double: shortest round-trip text of v ("null" for NaN/inf)
 * into buf (JSON_DOUBLE_MAX bytes); returns its length.
 * json_format_uint/int: decimal text; returns its length (buf >= 21 bytes).
 * json_escape: s (n bytes) as a quoted JSON string into out (size bytes,
 * NUL-terminated); returns the length the whole string needs, excluding
 * the NUL, like snprintf; when >= size the output was cut short.
 */
size_t json_format_double(double v, char *buf);
size_t json_format_uint(uint64_t v, char *buf);
size_t json_format_int(int64_t v, char *buf);
size_t json_escape(const char *s, size_t n, char *out, size_t size);

#endif
