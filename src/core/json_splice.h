/* Textual edits of a JSON object's top-level members, for relaying request
 * bodies without re-printing them (re-printing costs more than parsing and
 * changes number formatting). The text must already be valid JSON (checked by
 * cJSON); these functions only scan it. */
#ifndef HR_CORE_JSON_SPLICE_H
#define HR_CORE_JSON_SPLICE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Finds top-level member `key` of the object in text[0..len). On success
 * returns true with [*vstart, *vend) the value's span and [*mstart, *mend) the
 * whole member including the key and a separating comma (for removal). */
bool hr_json_find_member(const char *text, size_t len, const char *key, size_t *vstart, size_t *vend,
                         size_t *mstart, size_t *mend);

/* Appends to out a copy of the object text with member `key` set to the JSON
 * value text `value` (replaced in place when present, appended otherwise), or
 * removed when value is NULL. Returns 0, or -1 if text is not an object. */
int hr_json_set_member(const char *text, size_t len, const char *key, const char *value, hr_buf *out);

/* Appends s as a JSON string literal (quoted, escaped; bytes >= 0x80 are
 * copied as they are, so valid UTF-8 stays valid). */
void hr_json_put_string(hr_buf *out, const char *s);
/* Appends v with two decimals ("12.34") without printf's float formatting. */
void hr_json_put_fixed2(hr_buf *out, double v);

#endif
