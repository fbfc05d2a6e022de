/* One pass over a JSON text that checks it is a single valid JSON object and
 * reports where selected top-level members' values are, without building a
 * tree. The upstream backend relays a non-streamed answer this way: parsing
 * it with cJSON and deleting the tree cost ~21k instructions per 330-byte
 * answer (callgrind), the scan ~2k.
 *
 * Grammar: RFC 8259 (strings: no raw control bytes, escapes checked, \u
 * with four hex digits; numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?;
 * literals true/false/null), surrounding whitespace allowed, nothing after
 * the object. Nesting deeper than HR_JSON_SCAN_MAX_DEPTH is rejected. Bytes
 * >= 0x80 inside strings are not checked as UTF-8 (cJSON does not either).
 * Stricter than cJSON where RFC 8259 is: cJSON also takes raw control bytes
 * in strings and numbers such as 01, 1. or +1 (an upstream answer like that
 * gets 502 upstream_bad_json).
 * Keys are compared on their raw bytes: a key written with escapes never
 * matches. With duplicate keys the first one is reported (as cJSON does). */
#ifndef HR_BACKEND_JSON_SCAN_H
#define HR_BACKEND_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define HR_JSON_SCAN_MAX_DEPTH 1000

typedef struct hr_json_span {
    const char *key; /* in: member name */
    size_t start;    /* out: value span [start, end) in the text, when found */
    size_t end;
    bool found;
} hr_json_span;

/* True when s[0..n) is one valid JSON object; fills keys[0..nkeys). */
bool hr_json_scan_object(const char *s, size_t n, hr_json_span *keys, size_t nkeys);

/* Reads the number at s[0..n) (a span reported above) as a long; false if it
 * is not a number. Fractions are truncated toward zero, like (long)double. */
bool hr_json_span_long(const char *s, size_t n, long *out);

#endif
