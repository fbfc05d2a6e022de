#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n) {
    fprintf(stderr, "hermes-router: out of memory allocating %zu bytes\n", n);
    abort();
}

void *hr_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}
void *hr_xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) oom(n * sz);
    return p;
}
void *hr_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}
char *hr_xstrdup(const char *s) { return hr_xstrndup(s, strlen(s)); }
char *hr_xstrndup(const char *s, size_t n) {
    char *p = hr_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void hr_errf(char *err, size_t errsz, const char *fmt, ...) {
    if (!err || !errsz) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

void hr_buf_init(hr_buf *b, size_t limit) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->limit = limit;
}
void hr_buf_free(hr_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
void hr_buf_reset(hr_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

static int reserve(hr_buf *b, size_t extra) {
    if (b->limit && (extra > b->limit || b->len > b->limit - extra)) return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    b->data = hr_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int hr_buf_append(hr_buf *b, const void *data, size_t n) {
    if (reserve(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}
int hr_buf_puts(hr_buf *b, const char *s) { return hr_buf_append(b, s, strlen(s)); }

int hr_buf_vprintf(hr_buf *b, const char *fmt, va_list ap) {
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return -1;
    if (reserve(b, (size_t)n) < 0) return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}
int hr_buf_printf(hr_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = hr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}
char *hr_buf_steal(hr_buf *b) {
    char *p = b->data;
    if (!p) p = hr_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
