/* UTF-8 helpers. Invalid bytes are counted as one character each and never
 * read past the end of the input. */
#ifndef HR_CORE_UTF8_H
#define HR_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point at s[0..n); stores it in *cp (U+FFFD for invalid
 * input) and returns the bytes consumed (>= 1 when n > 0, 0 when n == 0). */
size_t hr_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Number of Unicode code points in s[0..n). */
size_t hr_utf8_count(const char *s, size_t n);
/* Writes cp as UTF-8 into out (at least 4 bytes); returns bytes written. */
size_t hr_utf8_encode(uint32_t cp, char *out);
/* Length of the longest prefix of s[0..n) that ends on a whole code point
 * (for streaming: hold back an incomplete trailing sequence). */
size_t hr_utf8_complete_prefix(const char *s, size_t n);
/* 1 if cp is a CJK ideograph / kana / hangul / CJK punctuation. */
int hr_utf8_is_cjk(uint32_t cp);

#endif
