/* Python json.dumps-compatible serializer: the bytes the chat template's
 * tojson filter (json.dumps, default separators) and jsonmode.py produce.
 * Numbers: cJSON keeps only a double, so integral values below 1e16 print as
 * Python ints; others as Python's float repr (shortest round-trip digits,
 * exponent form when the decimal exponent is < -4 or >= 16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "hermes/hermes.h"

static void dump_string(const char *s, bool ascii, hr_buf *out) {
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    hr_buf_puts(out, "\"");
    size_t i = 0, run = 0; /* run: start of bytes copied verbatim */
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char ubuf[16];
        size_t adv = 1;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
                esc = ubuf;
            } else if (c >= 0x80 && ascii) {
                uint32_t cp;
                adv = hr_utf8_decode(s + i, n - i, &cp);
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000, hi = 0xD800 + (v >> 10), lo = 0xDC00 + (v & 0x3FF);
                    snprintf(ubuf, sizeof ubuf, "\\u%04x\\u%04x", (unsigned)hi, (unsigned)lo);
                } else {
                    ubuf[0] = '\\', ubuf[1] = 'u';
                    for (int k = 0; k < 4; k++) ubuf[2 + k] = hex[(cp >> (12 - 4 * k)) & 15];
                    ubuf[6] = 0;
                }
                esc = ubuf;
            }
        }
        if (esc) {
            if (i > run) hr_buf_append(out, s + run, i - run);
            hr_buf_puts(out, esc);
            i += adv;
            run = i;
        } else {
            i++;
        }
    }
    if (i > run) hr_buf_append(out, s + run, i - run);
    hr_buf_puts(out, "\"");
}

static void dump_number(double v, hr_buf *out) {
    if (isnan(v)) { hr_buf_puts(out, "NaN"); return; }
    if (isinf(v)) { hr_buf_puts(out, v < 0 ? "-Infinity" : "Infinity"); return; }
    if (v == floor(v) && fabs(v) < 1e16) {
        hr_buf_printf(out, "%.0f", v == 0 ? 0.0 : v);
        return;
    }
    /* Shortest round-trip digits. */
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX */
    char digits[32];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = false;
    if (*p == '-') neg = true, p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int decpt = exp10 + 1; /* value = 0.digits * 10^decpt */
    if (neg) hr_buf_puts(out, "-");
    if (decpt > 16 || decpt < -3) {
        hr_buf_append(out, digits, 1);
        if (nd > 1) {
            hr_buf_puts(out, ".");
            hr_buf_append(out, digits + 1, nd - 1);
        }
        hr_buf_printf(out, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        hr_buf_puts(out, "0.");
        for (int k = 0; k < -decpt; k++) hr_buf_puts(out, "0");
        hr_buf_append(out, digits, nd);
    } else if ((size_t)decpt >= nd) {
        hr_buf_append(out, digits, nd);
        for (size_t k = nd; k < (size_t)decpt; k++) hr_buf_puts(out, "0");
        hr_buf_puts(out, ".0");
    } else {
        hr_buf_append(out, digits, (size_t)decpt);
        hr_buf_puts(out, ".");
        hr_buf_append(out, digits + decpt, nd - (size_t)decpt);
    }
}

static void dump(const cJSON *v, bool ascii, hr_buf *out, int depth) {
    if (depth > 512) { hr_buf_puts(out, "null"); return; } /* cJSON's own nesting limit is lower */
    if (cJSON_IsNull(v) || !v) hr_buf_puts(out, "null");
    else if (cJSON_IsTrue(v)) hr_buf_puts(out, "true");
    else if (cJSON_IsFalse(v)) hr_buf_puts(out, "false");
    else if (cJSON_IsNumber(v)) dump_number(v->valuedouble, out);
    else if (cJSON_IsString(v)) dump_string(v->valuestring ? v->valuestring : "", ascii, out);
    else if (cJSON_IsRaw(v)) hr_buf_puts(out, v->valuestring ? v->valuestring : "null");
    else if (cJSON_IsArray(v)) {
        hr_buf_puts(out, "[");
        const cJSON *e;
        bool first = true;
        cJSON_ArrayForEach(e, v) {
            if (!first) hr_buf_puts(out, ", ");
            first = false;
            dump(e, ascii, out, depth + 1);
        }
        hr_buf_puts(out, "]");
    } else if (cJSON_IsObject(v)) {
        hr_buf_puts(out, "{");
        const cJSON *e;
        bool first = true;
        cJSON_ArrayForEach(e, v) {
            if (!first) hr_buf_puts(out, ", ");
            first = false;
            dump_string(e->string ? e->string : "", ascii, out);
            hr_buf_puts(out, ": ");
            dump(e, ascii, out, depth + 1);
        }
        hr_buf_puts(out, "}");
    } else {
        hr_buf_puts(out, "null");
    }
}

void hr_hermes_json_dumps(const cJSON *v, bool ensure_ascii, hr_buf *out) { dump(v, ensure_ascii, out, 0); }
