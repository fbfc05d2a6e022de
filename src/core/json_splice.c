#include "core/json_splice.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* Index just past the string starting at s[i] == '"'. */
static size_t skip_string(const char *s, size_t i, size_t n) {
    for (i++; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return n;
}

/* Index just past the value starting at s[i]. */
static size_t skip_value(const char *s, size_t i, size_t n) {
    if (i >= n) return n;
    if (s[i] == '"') return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') { i = skip_string(s, i, n); continue; }
            if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' &&
           s[i] != '\t')
        i++;
    return i;
}

/* Compares the JSON string at s[i] (including quotes) with key; escapes never match. */
static bool key_equals(const char *s, size_t i, size_t end, const char *key) {
    size_t kl = strlen(key);
    return end - i == kl + 2 && !memcmp(s + i + 1, key, kl);
}

bool hr_json_find_member(const char *s, size_t n, const char *key, size_t *vstart, size_t *vend, size_t *mstart,
                         size_t *mend) {
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return false;
    i++;
    size_t prev_end = i; /* end of the previous member (after its value) */
    bool first = true;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] == '}') return false;
        if (s[i] == ',') { i++; continue; }
        if (s[i] != '"') return false;
        size_t kstart = i, kend = skip_string(s, i, n);
        i = skip_ws(s, kend, n);
        if (i >= n || s[i] != ':') return false;
        i = skip_ws(s, i + 1, n);
        size_t vs = i, ve = skip_value(s, i, n);
        if (key_equals(s, kstart, kend, key)) {
            *vstart = vs;
            *vend = ve;
            if (first) {
                /* remove "key": value and the comma after it, if any */
                size_t j = skip_ws(s, ve, n);
                *mstart = kstart;
                *mend = j < n && s[j] == ',' ? j + 1 : ve;
            } else {
                *mstart = prev_end; /* includes the comma before */
                *mend = ve;
            }
            return true;
        }
        first = false;
        prev_end = ve;
        i = ve;
    }
}

int hr_json_set_member(const char *s, size_t n, const char *key, const char *value, hr_buf *out) {
    size_t vs, ve, ms, me;
    if (hr_json_find_member(s, n, key, &vs, &ve, &ms, &me)) {
        if (value) {
            hr_buf_append(out, s, vs);
            hr_buf_puts(out, value);
            hr_buf_append(out, s + ve, n - ve);
        } else {
            hr_buf_append(out, s, ms);
            hr_buf_append(out, s + me, n - me);
        }
        return 0;
    }
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return -1;
    if (!value) return hr_buf_append(out, s, n);
    /* append before the closing brace */
    size_t close = n;
    while (close > 0 && s[close - 1] != '}') close--;
    if (close == 0) return -1;
    close--;
    size_t j = close;
    while (j > i + 1 && (s[j - 1] == ' ' || s[j - 1] == '\n' || s[j - 1] == '\r' || s[j - 1] == '\t')) j--;
    bool empty = j == i + 1;
    hr_buf_append(out, s, j);
    if (!empty) hr_buf_puts(out, ",");
    hr_buf_printf(out, "\"%s\":%s", key, value);
    hr_buf_append(out, s + close, n - close);
    return 0;
}

void hr_json_put_string(hr_buf *out, const char *s) {
    static const char hex[] = "0123456789abcdef";
    hr_buf_append(out, "\"", 1);
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        hr_buf_append(out, run, (size_t)((const char *)p - run));
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            n = 6;
        }
        hr_buf_append(out, esc, n);
        run = (const char *)p + 1;
    }
    hr_buf_puts(out, run);
    hr_buf_append(out, "\"", 1);
}

void hr_json_put_fixed2(hr_buf *out, double v) {
    if (!(v == v) || v > 9e15 || v < -9e15) { hr_buf_puts(out, "0"); return; }
    if (v < 0) { hr_buf_append(out, "-", 1); v = -v; }
    unsigned long long x = (unsigned long long)(v * 100.0 + 0.5);
    char tmp[32];
    int i = (int)sizeof tmp;
    tmp[--i] = (char)('0' + x % 10); x /= 10;
    tmp[--i] = (char)('0' + x % 10); x /= 10;
    tmp[--i] = '.';
    do { tmp[--i] = (char)('0' + x % 10); x /= 10; } while (x);
    hr_buf_append(out, tmp + i, sizeof tmp - (size_t)i);
}
