/* hr_buf: a growable byte buffer with a hard cap.
 *
 * Every buffer filled from the network or a file has a cap; appending past it
 * fails with -1 and leaves the buffer unchanged (the caller answers "too big").
 * The data is always NUL-terminated (not counted in len). Out of memory aborts
 * (one policy for the whole project: see hr_xmalloc). */
#ifndef HR_CORE_BUF_H
#define HR_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct hr_buf {
    char *data;   /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t limit; /* hard cap on len; 0 = unlimited */
} hr_buf;

void hr_buf_init(hr_buf *b, size_t limit);
void hr_buf_free(hr_buf *b);
void hr_buf_reset(hr_buf *b);
int hr_buf_append(hr_buf *b, const void *data, size_t n);
int hr_buf_puts(hr_buf *b, const char *s);
int hr_buf_printf(hr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hr_buf_vprintf(hr_buf *b, const char *fmt, va_list ap);
/* Takes the data out (caller frees with free()); the buffer is left empty. */
char *hr_buf_steal(hr_buf *b);

/* Allocation wrappers: abort with a message on out-of-memory. */
void *hr_xmalloc(size_t n);
void *hr_xcalloc(size_t n, size_t sz);
void *hr_xrealloc(void *p, size_t n);
char *hr_xstrdup(const char *s);
char *hr_xstrndup(const char *s, size_t n);
/* Formats an error message into err[errsz] (nothing when err is NULL or errsz 0). */
void hr_errf(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
