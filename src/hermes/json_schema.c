/* JSON Schema subset: keyword check (what the gateway accepts) and a
 * validator with JSONPath-like error locations ("$.items[2].name").
 * Both recurse with a depth cap (schemas and instances come from clients). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hermes/hermes_int.h"

#define SCHEMA_MAX_DEPTH 64
#define PATH_MAX_LEN 512

static const char *const SUPPORTED[] = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
    "anyOf", "$ref", "$defs", "definitions",
    /* annotations, ignored */
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
    "writeOnly", "strict", NULL};

static const char *const TYPES[] = {"object", "array", "string", "number", "integer", "boolean", "null", NULL};

static bool in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return true;
    return false;
}

/* Appends .key or ["key"] to a path (truncating quietly at the cap). */
static void path_key(char *path, size_t cap, const char *base, const char *key) {
    bool ident = (key[0] && !(key[0] >= '0' && key[0] <= '9'));
    for (const char *k = key; *k && ident; k++)
        ident = (*k == '_' || *k == '$' || (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
                 (*k >= '0' && *k <= '9'));
    if (ident) snprintf(path, cap, "%.400s.%.100s", base, key);
    else snprintf(path, cap, "%.400s[\"%.64s\"]", base, key);
}

static void path_index(char *path, size_t cap, const char *base, int i) { snprintf(path, cap, "%.400s[%d]", base, i); }

/* Resolves "#/$defs/x" or "#/definitions/x" against root; NULL when it does not. */
static const cJSON *resolve_ref(const cJSON *root, const char *ref) {
    const char *name = NULL;
    const cJSON *defs = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) name = ref + 8, defs = cJSON_GetObjectItemCaseSensitive(root, "$defs");
    else if (!strncmp(ref, "#/definitions/", 14))
        name = ref + 14, defs = cJSON_GetObjectItemCaseSensitive(root, "definitions");
    if (!name || !*name || strchr(name, '/') || !cJSON_IsObject(defs)) return NULL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(defs, name);
    return cJSON_IsObject(s) ? s : NULL;
}

/* ---- check ---- */

typedef struct {
    const cJSON *root;
    int count;
    char *err;
    size_t errsz;
} check_ctx;

static void report(check_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(check_ctx *c, const char *fmt, ...) {
    if (c->count++ == 0 && c->err && c->errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errsz, fmt, ap);
        va_end(ap);
    }
}

static void check_schema(check_ctx *c, const cJSON *s, const char *path, int depth);

static void check_map(check_ctx *c, const cJSON *m, const char *path, int depth) {
    const cJSON *e;
    char sub[PATH_MAX_LEN];
    if (!cJSON_IsObject(m)) {
        report(c, "malformed JSON Schema at %s: expected an object", path);
        return;
    }
    cJSON_ArrayForEach(e, m) {
        path_key(sub, sizeof sub, path, e->string);
        check_schema(c, e, sub, depth + 1);
    }
}

static void check_schema(check_ctx *c, const cJSON *s, const char *path, int depth) {
    char sub[PATH_MAX_LEN];
    if (depth > SCHEMA_MAX_DEPTH) {
        report(c, "JSON Schema nested deeper than %d levels at %s", SCHEMA_MAX_DEPTH, path);
        return;
    }
    if (cJSON_IsBool(s)) return; /* true / false schemas */
    if (!cJSON_IsObject(s)) {
        report(c, "malformed JSON Schema at %s: a schema must be an object", path);
        return;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, s) {
        const char *kw = k->string;
        if (!in_list(kw, SUPPORTED)) {
            report(c, "unsupported JSON Schema keyword '%.64s' at %s", kw, path);
            continue;
        }
        path_key(sub, sizeof sub, path, kw);
        if (!strcmp(kw, "type")) {
            if (cJSON_IsString(k)) {
                if (!in_list(k->valuestring, TYPES)) report(c, "malformed JSON Schema at %s: unknown type '%.32s'", sub, k->valuestring);
            } else if (cJSON_IsArray(k)) {
                const cJSON *t;
                cJSON_ArrayForEach(t, k) if (!cJSON_IsString(t) || !in_list(t->valuestring, TYPES))
                    report(c, "malformed JSON Schema at %s: bad type list", sub);
            } else {
                report(c, "malformed JSON Schema at %s: 'type' must be a string or an array", sub);
            }
        } else if (!strcmp(kw, "properties") || !strcmp(kw, "$defs") || !strcmp(kw, "definitions")) {
            check_map(c, k, sub, depth);
        } else if (!strcmp(kw, "items") || !strcmp(kw, "additionalProperties")) {
            check_schema(c, k, sub, depth + 1);
        } else if (!strcmp(kw, "anyOf")) {
            if (!cJSON_IsArray(k) || cJSON_GetArraySize(k) == 0) {
                report(c, "malformed JSON Schema at %s: 'anyOf' must be a non-empty array", sub);
                continue;
            }
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, k) {
                char p2[PATH_MAX_LEN];
                path_index(p2, sizeof p2, sub, i++);
                check_schema(c, e, p2, depth + 1);
            }
        } else if (!strcmp(kw, "required") || !strcmp(kw, "enum")) {
            if (!cJSON_IsArray(k)) report(c, "malformed JSON Schema at %s: '%s' must be an array", sub, kw);
            else if (!strcmp(kw, "required")) {
                const cJSON *e;
                cJSON_ArrayForEach(e, k) if (!cJSON_IsString(e))
                    report(c, "malformed JSON Schema at %s: 'required' entries must be strings", sub);
            }
        } else if (!strcmp(kw, "minItems") || !strcmp(kw, "maxItems")) {
            if (!cJSON_IsNumber(k) || k->valuedouble < 0 || k->valuedouble != floor(k->valuedouble))
                report(c, "malformed JSON Schema at %s: '%s' must be a non-negative integer", sub, kw);
        } else if (!strcmp(kw, "$ref")) {
            if (!cJSON_IsString(k) || !resolve_ref(c->root, k->valuestring))
                report(c, "malformed JSON Schema at %s: $ref '%.64s' does not resolve (only #/$defs/<name> and "
                          "#/definitions/<name>)", sub, cJSON_IsString(k) ? k->valuestring : "");
        }
    }
}

int hr_hermes_schema_check(const cJSON *schema, char *err, size_t errsz) {
    check_ctx c = {schema, 0, err, errsz};
    if (err && errsz) err[0] = 0;
    check_schema(&c, schema, "$", 0);
    return c.count;
}

/* ---- validate ---- */

typedef struct {
    const cJSON *root;
    char *err;
    size_t errsz;
    bool quiet; /* inside anyOf alternatives: no messages */
    long *steps; /* shared work budget: $ref DAGs under anyOf can blow up */
} val_ctx;

#define VALIDATE_MAX_STEPS 1000000L

static int vfail(val_ctx *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int vfail(val_ctx *c, const char *path, const char *fmt, ...) {
    if (!c->quiet && c->err && c->errsz) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(c->err, c->errsz, "%s: %s", path, msg);
    }
    return -1;
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsNumber(v)) return (isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble)) ? "integer" : "number";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNull(v)) return "null";
    return "invalid";
}

static bool type_matches(const char *t, const cJSON *v) {
    const char *have = json_type_name(v);
    if (!strcmp(t, have)) return true;
    return !strcmp(t, "number") && !strcmp(have, "integer");
}

static int validate(val_ctx *c, const cJSON *s, const cJSON *v, const char *path, int depth) {
    char sub[PATH_MAX_LEN];
    if (depth > SCHEMA_MAX_DEPTH) return vfail(c, path, "nesting deeper than %d levels", SCHEMA_MAX_DEPTH);
    if (++*c->steps > VALIDATE_MAX_STEPS) return vfail(c, path, "schema too complex to validate");
    if (cJSON_IsTrue(s) || !s) return 0;
    if (cJSON_IsFalse(s)) return vfail(c, path, "no value is allowed here");
    if (!cJSON_IsObject(s)) return 0;

    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (cJSON_IsString(ref)) {
        const cJSON *target = resolve_ref(c->root, ref->valuestring);
        if (!target) return vfail(c, path, "schema $ref '%.64s' does not resolve", ref->valuestring);
        if (validate(c, target, v, path, depth + 1) < 0) return -1;
    }

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(type)) {
        if (!type_matches(type->valuestring, v))
            return vfail(c, path, "expected %s, got %s", type->valuestring, json_type_name(v));
    } else if (cJSON_IsArray(type)) {
        const cJSON *t;
        bool ok = false;
        cJSON_ArrayForEach(t, type) if (cJSON_IsString(t) && type_matches(t->valuestring, v)) ok = true;
        if (!ok) {
            char want[128] = "";
            cJSON_ArrayForEach(t, type) if (cJSON_IsString(t)) {
                size_t l = strlen(want);
                snprintf(want + l, sizeof want - l, "%s%s", l ? " or " : "", t->valuestring);
            }
            return vfail(c, path, "expected %s, got %s", want, json_type_name(v));
        }
    }

    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (cst && !cJSON_Compare(cst, v, true)) return vfail(c, path, "value does not match const");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (cJSON_IsArray(en)) {
        const cJSON *e;
        bool ok = false;
        cJSON_ArrayForEach(e, en) if (cJSON_Compare(e, v, true)) { ok = true; break; }
        if (!ok) return vfail(c, path, "value is not one of the enum values");
    }

    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
        const cJSON *ap = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        const cJSON *r;
        cJSON_ArrayForEach(r, req) if (cJSON_IsString(r) && !cJSON_GetObjectItemCaseSensitive(v, r->valuestring))
            return vfail(c, path, "missing required property '%.64s'", r->valuestring);
        const cJSON *m;
        cJSON_ArrayForEach(m, v) {
            path_key(sub, sizeof sub, path, m->string);
            const cJSON *ps = cJSON_IsObject(props) ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
            if (ps) {
                if (validate(c, ps, m, sub, depth + 1) < 0) return -1;
            } else if (cJSON_IsFalse(ap)) {
                return vfail(c, path, "unexpected property '%.64s'", m->string);
            } else if (cJSON_IsObject(ap)) {
                if (validate(c, ap, m, sub, depth + 1) < 0) return -1;
            }
        }
    }

    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(s, "minItems");
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(s, "maxItems");
        if (cJSON_IsNumber(mn) && n < mn->valuedouble)
            return vfail(c, path, "expected at least %.0f items, got %d", mn->valuedouble, n);
        if (cJSON_IsNumber(mx) && n > mx->valuedouble)
            return vfail(c, path, "expected at most %.0f items, got %d", mx->valuedouble, n);
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        if (items) {
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, v) {
                path_index(sub, sizeof sub, path, i++);
                if (validate(c, items, e, sub, depth + 1) < 0) return -1;
            }
        }
    }

    const cJSON *any = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
    if (cJSON_IsArray(any)) {
        bool was_quiet = c->quiet, ok = false;
        const cJSON *alt;
        c->quiet = true;
        cJSON_ArrayForEach(alt, any) if (validate(c, alt, v, path, depth + 1) == 0) { ok = true; break; }
        c->quiet = was_quiet;
        if (!ok) {
            /* Name the first alternative's complaint: usually the helpful one. */
            if (!c->quiet && c->err && c->errsz) {
                char first[256] = "";
                val_ctx c2 = {c->root, first, sizeof first, false, c->steps};
                validate(&c2, cJSON_GetArrayItem(any, 0), v, path, depth + 1);
                return vfail(c, path, "matches none of the anyOf alternatives (first: %.200s)", first);
            }
            return -1;
        }
    }
    return 0;
}

int hr_hermes_schema_validate(const cJSON *schema, const cJSON *instance, char *err, size_t errsz) {
    long steps = 0;
    val_ctx c = {schema, err, errsz, false, &steps};
    if (err && errsz) err[0] = 0;
    return validate(&c, schema, instance, "$", 0);
}
