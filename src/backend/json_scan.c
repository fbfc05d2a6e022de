#include "backend/json_scan.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan {
    const char *s;
    size_t n, i;
    int depth;
} scan;

static void ws_slow(scan *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
        p->i++;
    }
}

/* Whitespace is rare in machine-written JSON: one compare in the common case. */
static inline void ws(scan *p) {
    if (p->i < p->n && (unsigned char)p->s[p->i] <= ' ') ws_slow(p);
}

static bool hex4(scan *p) {
    if (p->n - p->i < 4) return false;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i + (size_t)k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
    }
    p->i += 4;
    return true;
}

/* Bytes that end a run of plain string bytes: '"', '\\' and controls. */
static const unsigned char special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
};

/* Whether any of the 8 bytes at p may be '"', '\\' or a control byte (no
 * false negatives; a false positive only sends the caller to the byte loop). */
static inline bool word_special(const unsigned char *p) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t v, q, b;
    memcpy(&v, p, 8);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    return ((((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & high) != 0;
}

/* At '"': moves past the closing quote. */
static bool string(scan *p) {
    const unsigned char *s = (const unsigned char *)p->s;
    size_t i = p->i + 1, n = p->n;
    for (;;) {
        while (i + 8 <= n && !word_special(s + i)) i += 8; /* eight plain bytes at a time */
        while (i < n && !special[s[i]]) i++;
        if (i >= n) return false;
        unsigned char c = s[i++];
        if (c == '"') break;
        if (c != '\\' || i >= n) return false; /* a raw control byte, or a lone backslash at the end */
        unsigned char e = s[i++];
        if (e == 'u') {
            p->i = i;
            if (!hex4(p)) return false;
            i = p->i;
        } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
            return false;
        }
    }
    p->i = i;
    return true;
}

static bool digits(scan *p) {
    size_t from = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i > from;
}

static bool number(scan *p) {
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return false;
    if (p->s[p->i] == '0') p->i++;
    else if (!digits(p)) return false;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (!digits(p)) return false;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!digits(p)) return false;
    }
    return true;
}

static bool literal(scan *p, const char *word, size_t len) {
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len)) return false;
    p->i += len;
    return true;
}

static bool value(scan *p, hr_json_span *keys, size_t nkeys);

/* At '{'. keys: report top-level members (NULL below the top). */
static bool object(scan *p, hr_json_span *keys, size_t nkeys) {
    if (++p->depth > HR_JSON_SCAN_MAX_DEPTH) return false;
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        p->depth--;
        return true;
    }
    for (;;) {
        if (p->i >= p->n || p->s[p->i] != '"') return false;
        size_t ks = p->i + 1;
        if (!string(p)) return false;
        size_t kl = p->i - 1 - ks;
        ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') return false;
        p->i++;
        ws(p);
        size_t vs = p->i;
        if (!value(p, NULL, 0)) return false;
        for (size_t k = 0; k < nkeys; k++) {
            if (keys[k].found || keys[k].key[0] != p->s[ks] || strncmp(keys[k].key, p->s + ks, kl) || keys[k].key[kl])
                continue;
            keys[k].found = true;
            keys[k].start = vs;
            keys[k].end = p->i;
        }
        ws(p);
        if (p->i >= p->n) return false;
        if (p->s[p->i] == '}') {
            p->i++;
            p->depth--;
            return true;
        }
        if (p->s[p->i] != ',') return false;
        p->i++;
        ws(p);
    }
}

static bool array(scan *p) {
    if (++p->depth > HR_JSON_SCAN_MAX_DEPTH) return false;
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        p->depth--;
        return true;
    }
    for (;;) {
        if (!value(p, NULL, 0)) return false;
        ws(p);
        if (p->i >= p->n) return false;
        if (p->s[p->i] == ']') {
            p->i++;
            p->depth--;
            return true;
        }
        if (p->s[p->i] != ',') return false;
        p->i++;
        ws(p);
    }
}

static bool value(scan *p, hr_json_span *keys, size_t nkeys) {
    if (p->i >= p->n) return false;
    switch (p->s[p->i]) {
    case '{': return object(p, keys, nkeys);
    case '[': return array(p);
    case '"': return string(p);
    case 't': return literal(p, "true", 4);
    case 'f': return literal(p, "false", 5);
    case 'n': return literal(p, "null", 4);
    default:
        if (p->s[p->i] == '-' || (p->s[p->i] >= '0' && p->s[p->i] <= '9')) return number(p);
        return false;
    }
}

bool hr_json_scan_object(const char *s, size_t n, hr_json_span *keys, size_t nkeys) {
    for (size_t k = 0; k < nkeys; k++) keys[k].found = false;
    scan p = {s, n, 0, 0};
    ws(&p);
    if (p.i >= n || s[p.i] != '{' || !object(&p, keys, nkeys)) return false;
    ws(&p);
    return p.i == n;
}

bool hr_json_span_long(const char *s, size_t n, long *out) {
    if (n && n <= 18) { /* plain digits, the usual token count: no strtod */
        size_t i = 0;
        long v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        if (i == n && (n == 1 || s[0] != '0')) {
            *out = v;
            return true;
        }
    }
    char tmp[64];
    if (!n || n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    scan p = {tmp, n, 0, 0};
    if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')) || !number(&p) || p.i != n) return false;
    double v = strtod(tmp, NULL);
    if (!isfinite(v) || v > 9e18 || v < -9e18) return false;
    *out = (long)v;
    return true;
}
