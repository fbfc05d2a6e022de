/* JSON Schema -> byte-level pushdown automaton (see grammar.h for the
 * contract and grammar_int.h for the state layout), and the automaton's
 * byte step, completion test and "fewest bytes to finish" cost. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/grammar_int.h"

#define G_LIT_MAX_LEN 1024
#define G_MAX_TOOLS 256
#define G_MAX_ITEMS_CAP 0x7fffffff

/* ---- string content automaton ------------------------------------------------ */

enum { S_BASE = 0, S_ESC, S_U0, S_U1, S_U1D, S_U2, S_U3, S_C1, S_C2, S_C2E0, S_C2ED, S_C3, S_C3F0, S_C3F4 };

static bool is_hex(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int g_str_step(int s, uint8_t c, bool allow_escape) {
    switch (s) {
    case S_BASE:
        if (c == '"') return STR_CLOSE;
        if (c == '\\') return allow_escape ? S_ESC : -1;
        if (c < 0x20) return -1;
        if (c < 0x80) return S_BASE;
        if (c >= 0xC2 && c <= 0xDF) return S_C1;
        if (c == 0xE0) return S_C2E0;
        if (c == 0xED) return S_C2ED;
        if (c >= 0xE1 && c <= 0xEF) return S_C2;
        if (c == 0xF0) return S_C3F0;
        if (c >= 0xF1 && c <= 0xF3) return S_C3;
        if (c == 0xF4) return S_C3F4;
        return -1;
    case S_ESC:
        if (c == 'u') return S_U0;
        return strchr("\"\\/bfnrt", c) && c ? S_BASE : -1;
    case S_U0:
        if (c == 'd' || c == 'D') return S_U1D;
        return is_hex(c) ? S_U1 : -1;
    case S_U1: return is_hex(c) ? S_U2 : -1;
    case S_U1D: return (c >= '0' && c <= '7') ? S_U2 : -1; /* no surrogates */
    case S_U2: return is_hex(c) ? S_U3 : -1;
    case S_U3: return is_hex(c) ? S_BASE : -1;
    case S_C1: return (c >= 0x80 && c <= 0xBF) ? S_BASE : -1;
    case S_C2: return (c >= 0x80 && c <= 0xBF) ? S_C1 : -1;
    case S_C2E0: return (c >= 0xA0 && c <= 0xBF) ? S_C1 : -1;
    case S_C2ED: return (c >= 0x80 && c <= 0x9F) ? S_C1 : -1;
    case S_C3: return (c >= 0x80 && c <= 0xBF) ? S_C2 : -1;
    case S_C3F0: return (c >= 0x90 && c <= 0xBF) ? S_C2 : -1;
    case S_C3F4: return (c >= 0x80 && c <= 0x8F) ? S_C2 : -1;
    }
    return -1;
}

int g_str_pending(int s) {
    switch (s) {
    case S_BASE: return 0;
    case S_ESC: return 1;
    case S_U0: return 4;
    case S_U1: case S_U1D: return 3;
    case S_U2: return 2;
    case S_U3: return 1;
    case S_C1: return 1;
    case S_C2: case S_C2E0: case S_C2ED: return 2;
    default: return 3;
    }
}

/* ---- saturating arithmetic for costs ------------------------------------------ */

static int32_t sadd(int64_t a, int64_t b) {
    int64_t r = a + b;
    return r >= G_INF ? G_INF : (int32_t)r;
}
static int32_t smul(int64_t a, int64_t b) {
    if (a >= G_INF || b >= G_INF) return (a == 0 || b == 0) ? 0 : G_INF;
    int64_t r = a * b;
    return r >= G_INF ? G_INF : (int32_t)r;
}

/* ---- grammar storage ------------------------------------------------------------ */

#define GROW(ptr, n, cap, want)                                                          \
    do {                                                                                 \
        if ((want) > (cap)) {                                                            \
            int nc_ = (cap) ? (cap) * 2 : 16;                                            \
            while (nc_ < (want)) nc_ *= 2;                                               \
            (ptr) = hr_xrealloc((ptr), (size_t)nc_ * sizeof *(ptr));                     \
            (cap) = nc_;                                                                 \
        }                                                                                \
    } while (0)

typedef struct cctx {
    hr_grammar *g;
    const cJSON *root;
    char *err;
    size_t errsz;
    bool failed;
    const cJSON **memo_k;
    int32_t *memo_v;
    int n_memo, cap_memo;
    int32_t any_node, obj_any, never;
} cctx;

static void fail(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(cctx *c, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = true;
    if (c->err && c->errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errsz, fmt, ap);
        va_end(ap);
    }
}

static int32_t node_new(cctx *c, int kind) {
    hr_grammar *g = c->g;
    if (g->n_nodes >= G_MAX_NODES) {
        fail(c, "JSON Schema too large: more than %d grammar nodes", G_MAX_NODES);
        return -1;
    }
    GROW(g->nodes, g->n_nodes, g->cap_nodes, g->n_nodes + 1);
    g_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->minlen = G_INF;
    n->addl = n->items = n->lit_trie = n->child = n->key_trie = -1;
    n->call_full = n->call_body = -1;
    return g->n_nodes++;
}

static uint32_t blob_add(hr_grammar *g, const void *p, size_t n) {
    if (g->blob_len + n + 1 > g->blob_cap) {
        size_t nc = g->blob_cap ? g->blob_cap * 2 : 256;
        while (nc < g->blob_len + n + 1) nc *= 2;
        g->blob = hr_xrealloc(g->blob, nc);
        g->blob_cap = nc;
    }
    memcpy(g->blob + g->blob_len, p, n);
    uint32_t off = (uint32_t)g->blob_len;
    g->blob_len += n;
    return off;
}

/* ---- literal tries ------------------------------------------------------------------ */

typedef struct lit_in {
    const uint8_t *p;
    uint32_t len;
    int32_t succ;
} lit_in;

static int lit_cmp(const void *a, const void *b) {
    const lit_in *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->p, y->p, n);
    if (r) return r;
    return (x->len > y->len) - (x->len < y->len);
}

static int32_t lnode_new(hr_grammar *g) {
    GROW(g->lnodes, g->n_lnodes, g->cap_lnodes, g->n_lnodes + 1);
    memset(&g->lnodes[g->n_lnodes], 0, sizeof g->lnodes[0]);
    g->lnodes[g->n_lnodes].succ = -1;
    return g->n_lnodes++;
}

/* Fills lnode `slot` from sorted, deduplicated v[lo, hi) at depth. */
static void lit_fill(hr_grammar *g, int32_t slot, const lit_in *v, int lo, int hi, int depth) {
    g->lnodes[slot].depth = (uint16_t)depth;
    g->lnodes[slot].lo = (uint16_t)(lo > 0xffff ? 0xffff : lo);
    g->lnodes[slot].hi = (uint16_t)(hi > 0xffff ? 0xffff : hi);
    int i = lo;
    if (i < hi && v[i].len == (uint32_t)depth) {
        g->lnodes[slot].terminal = 1;
        g->lnodes[slot].succ = v[i].succ;
        i++;
    }
    int nchild = 0;
    for (int j = i; j < hi;) {
        uint8_t b = v[j].p[depth];
        while (j < hi && v[j].p[depth] == b) j++;
        nchild++;
    }
    int32_t first = g->n_lnodes;
    for (int k = 0; k < nchild; k++) lnode_new(g);
    g->lnodes[slot].child = first;
    g->lnodes[slot].nchild = (uint16_t)nchild;
    int k = 0;
    for (int j = i; j < hi; k++) {
        uint8_t b = v[j].p[depth];
        int s = j;
        while (j < hi && v[j].p[depth] == b) j++;
        g->lnodes[first + k].byte = b;
        lit_fill(g, first + k, v, s, j, depth + 1);
    }
}

/* Builds a trie; sorts v in place; duplicates keep the first. Returns the root. */
static int32_t lit_build(hr_grammar *g, lit_in *v, int n) {
    qsort(v, (size_t)n, sizeof *v, lit_cmp);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || lit_cmp(&v[m - 1], &v[i]) != 0) v[m++] = v[i];
    int32_t root = lnode_new(g);
    lit_fill(g, root, v, 0, m, 0);
    return root;
}

static int32_t lit_minrem(hr_grammar *g, int32_t i) {
    g_lnode *n = &g->lnodes[i];
    int32_t best = G_INF;
    if (n->terminal) best = n->succ >= 0 ? g->nodes[n->succ].minlen : 0;
    int32_t child = n->child, nchild = n->nchild;
    for (int k = 0; k < nchild; k++) {
        int32_t r = sadd(1, lit_minrem(g, child + k));
        if (r < best) best = r;
    }
    g->lnodes[i].minrem = best;
    return best;
}

static int32_t lit_find(const hr_grammar *g, int32_t i, uint8_t c) {
    const g_lnode *n = &g->lnodes[i];
    int lo = 0, hi = n->nchild;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        uint8_t b = g->lnodes[n->child + mid].byte;
        if (b == c) return n->child + mid;
        if (b < c) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* A literal node for a set of JSON texts (each a complete value). */
static int32_t literal_node(cctx *c, const char *const *texts, int n) {
    hr_grammar *g = c->g;
    lit_in *v = hr_xcalloc((size_t)(n ? n : 1), sizeof *v);
    uint32_t *offs = hr_xcalloc((size_t)(n ? n : 1), sizeof *offs);
    for (int i = 0; i < n; i++) {
        v[i].len = (uint32_t)strlen(texts[i]);
        offs[i] = blob_add(g, texts[i], v[i].len);
        v[i].succ = -1;
    }
    for (int i = 0; i < n; i++) v[i].p = (const uint8_t *)g->blob + offs[i]; /* blob is stable now */
    int32_t id = node_new(c, NK_LITERAL);
    if (id >= 0) {
        g->nodes[id].lit_trie = lit_build(g, v, n);
        g->nodes[id].minlen = lit_minrem(g, g->nodes[id].lit_trie);
    }
    free(v);
    free(offs);
    return id;
}

/* ---- schema compiler ------------------------------------------------------------------ */

static const char *const SUPPORTED[] = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
    "anyOf", "$ref", "$defs", "definitions",
    /* annotations, ignored */
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
    "writeOnly", "strict", NULL};
static const char *const CONSTRAINING[] = {"type", "properties", "required", "additionalProperties", "items",
                                           "minItems", "maxItems", "enum", "const", "anyOf", "$ref", NULL};

static bool in_list(const char *s, const char *const *l) {
    for (; *l; l++)
        if (!strcmp(s, *l)) return true;
    return false;
}

static void path_key(char *out, size_t cap, const char *base, const char *key) {
    bool ident = key[0] && !(key[0] >= '0' && key[0] <= '9');
    for (const char *k = key; *k && ident; k++)
        ident = *k == '_' || *k == '$' || (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9');
    if (ident) snprintf(out, cap, "%.400s.%.64s", base, key);
    else snprintf(out, cap, "%.400s[\"%.64s\"]", base, key);
}

static int32_t memo_get(cctx *c, const cJSON *s) {
    for (int i = 0; i < c->n_memo; i++)
        if (c->memo_k[i] == s) return c->memo_v[i];
    return -1;
}
static void memo_put(cctx *c, const cJSON *s, int32_t id) {
    GROW(c->memo_k, c->n_memo, c->cap_memo, c->n_memo + 1);
    c->memo_v = hr_xrealloc(c->memo_v, (size_t)c->cap_memo * sizeof *c->memo_v);
    c->memo_k[c->n_memo] = s;
    c->memo_v[c->n_memo++] = id;
}

static int32_t alts_node(cctx *c, const int32_t *alts, int n) {
    hr_grammar *g = c->g;
    int32_t id = node_new(c, NK_ANYOF);
    if (id < 0) return -1;
    GROW(g->alts, g->n_alts, g->cap_alts, g->n_alts + n);
    if (n) memcpy(g->alts + g->n_alts, alts, (size_t)n * sizeof *alts);
    g->nodes[id].alt0 = g->n_alts;
    g->nodes[id].nalts = n;
    g->n_alts += n;
    return id;
}

/* The "any JSON value" node and its parts, created once. */
static int32_t any_node(cctx *c) {
    if (c->any_node >= 0) return c->any_node;
    hr_grammar *g = c->g;
    int32_t any = node_new(c, NK_ANYOF);
    int32_t obj = node_new(c, NK_OBJECT), arr = node_new(c, NK_ARRAY);
    int32_t str = node_new(c, NK_STRING), num = node_new(c, NK_NUMBER);
    static const char *const kw[] = {"true", "false", "null"};
    int32_t lit = literal_node(c, kw, 3);
    if (any < 0 || obj < 0 || arr < 0 || str < 0 || num < 0 || lit < 0) return -1;
    g->nodes[obj].addl = any;
    g->nodes[obj].key_trie = -1;
    g->nodes[arr].items = any;
    g->nodes[arr].max_items = G_MAX_ITEMS_CAP;
    int32_t alts[5] = {obj, arr, str, num, lit};
    GROW(g->alts, g->n_alts, g->cap_alts, g->n_alts + 5);
    memcpy(g->alts + g->n_alts, alts, sizeof alts);
    g->nodes[any].alt0 = g->n_alts;
    g->nodes[any].nalts = 5;
    g->n_alts += 5;
    c->any_node = any;
    c->obj_any = obj;
    return any;
}

static int32_t never_node(cctx *c) {
    if (c->never < 0) c->never = alts_node(c, NULL, 0);
    return c->never;
}

static const cJSON *resolve_ref(const cJSON *root, const char *ref) {
    const char *name = NULL;
    const cJSON *defs = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) name = ref + 8, defs = cJSON_GetObjectItemCaseSensitive(root, "$defs");
    else if (!strncmp(ref, "#/definitions/", 14))
        name = ref + 14, defs = cJSON_GetObjectItemCaseSensitive(root, "definitions");
    if (!name || !*name || strchr(name, '/') || !cJSON_IsObject(defs)) return NULL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(defs, name);
    return (cJSON_IsObject(s) || cJSON_IsBool(s)) ? s : NULL;
}

static int32_t compile(cctx *c, const cJSON *s, const char *path, int depth);

static bool type_matches(const cJSON *v, const char *t) {
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
    return false;
}

/* Collects type names (NULL entries skipped); returns count or -1 (error reported). */
static int type_list(cctx *c, const cJSON *type, const char *path, const char **out) {
    static const char *const TYPES[] = {"object", "array", "string", "number", "integer", "boolean", "null", NULL};
    int n = 0;
    if (cJSON_IsString(type)) {
        if (!in_list(type->valuestring, TYPES)) {
            fail(c, "malformed JSON Schema at %s.type: unknown type '%.32s'", path, type->valuestring);
            return -1;
        }
        out[n++] = type->valuestring;
        return n;
    }
    if (!cJSON_IsArray(type)) {
        fail(c, "malformed JSON Schema at %s.type: 'type' must be a string or an array", path);
        return -1;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, type) {
        if (!cJSON_IsString(t) || !in_list(t->valuestring, TYPES)) {
            fail(c, "malformed JSON Schema at %s.type: bad type list", path);
            return -1;
        }
        bool dup = false;
        for (int i = 0; i < n; i++) dup |= !strcmp(out[i], t->valuestring);
        if (!dup && n < 7) out[n++] = t->valuestring;
    }
    if (n == 0) {
        fail(c, "malformed JSON Schema at %s.type: empty type list", path);
        return -1;
    }
    return n;
}

static int32_t compile_enum(cctx *c, const cJSON *s, const char *path, const char **types, int ntypes) {
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (en && !cJSON_IsArray(en)) {
        fail(c, "malformed JSON Schema at %s.enum: 'enum' must be an array", path);
        return -1;
    }
    int n = en ? cJSON_GetArraySize(en) : 1;
    if (n > G_MAX_ENUM) {
        fail(c, "JSON Schema at %s.enum: more than %d values", path, G_MAX_ENUM);
        return -1;
    }
    char **texts = hr_xcalloc((size_t)(n ? n : 1), sizeof *texts);
    char *ctext = cn ? cJSON_PrintUnformatted(cn) : NULL;
    int m = 0;
    size_t total = 0;
    const cJSON *v = en ? en->child : cn;
    for (; v; v = en ? v->next : NULL) {
        bool ok = ntypes == 0;
        for (int i = 0; i < ntypes; i++) ok |= type_matches(v, types[i]);
        if (!ok) continue;
        char *t = cJSON_PrintUnformatted(v);
        if (!t) continue;
        if ((ctext && strcmp(t, ctext)) || strlen(t) > G_LIT_MAX_LEN) {
            if (strlen(t) > G_LIT_MAX_LEN) fail(c, "JSON Schema at %s: enum/const value longer than %d bytes", path, G_LIT_MAX_LEN);
            cJSON_free(t);
            continue;
        }
        total += strlen(t);
        texts[m++] = t;
    }
    int32_t id = -1;
    if (total > G_MAX_LIT_BYTES) fail(c, "JSON Schema at %s: enum values too large", path);
    else if (!c->failed) id = m ? literal_node(c, (const char *const *)texts, m) : never_node(c);
    for (int i = 0; i < m; i++) cJSON_free(texts[i]);
    if (ctext) cJSON_free(ctext);
    free(texts);
    return id;
}

static bool name_needs_escape(const char *s) {
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) return true;
    return false;
}

static int32_t compile_object(cctx *c, int32_t id, const cJSON *s, const char *path, int depth) {
    hr_grammar *g = c->g;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    char sub[512], sub2[512];
    if (props && !cJSON_IsObject(props)) {
        fail(c, "malformed JSON Schema at %s.properties: expected an object", path);
        return -1;
    }
    if (req && !cJSON_IsArray(req)) {
        fail(c, "malformed JSON Schema at %s.required: 'required' must be an array", path);
        return -1;
    }
    int32_t addl_node;
    if (!addl || cJSON_IsTrue(addl)) addl_node = any_node(c);
    else if (cJSON_IsFalse(addl)) addl_node = -1;
    else {
        path_key(sub, sizeof sub, path, "additionalProperties");
        addl_node = compile(c, addl, sub, depth + 1);
        if (addl_node < 0) return -1;
    }
    /* names and values, then appended contiguously */
    const char *names[G_MAX_PROPS + 1];
    int32_t values[G_MAX_PROPS + 1];
    int n = 0;
    const cJSON *p;
    path_key(sub, sizeof sub, path, "properties");
    if (props) cJSON_ArrayForEach(p, props) {
        if (n >= G_MAX_PROPS) {
            fail(c, "JSON Schema at %s: more than %d properties", path, G_MAX_PROPS);
            return -1;
        }
        if (name_needs_escape(p->string)) {
            fail(c, "JSON Schema at %s: property name needing JSON escapes is not supported", sub);
            return -1;
        }
        bool dup = false;
        for (int i = 0; i < n; i++) dup |= !strcmp(names[i], p->string);
        if (dup) continue;
        path_key(sub2, sizeof sub2, sub, p->string);
        int32_t v = compile(c, p, sub2, depth + 1);
        if (v < 0) return -1;
        names[n] = p->string;
        values[n++] = v;
    }
    bool reqf[G_MAX_PROPS] = {0};
    if (req) cJSON_ArrayForEach(p, req) {
        if (!cJSON_IsString(p)) {
            fail(c, "malformed JSON Schema at %s.required: 'required' entries must be strings", path);
            return -1;
        }
        int k = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], p->valuestring)) k = i;
        if (k < 0) { /* required but not listed: governed by additionalProperties */
            if (n >= G_MAX_PROPS) {
                fail(c, "JSON Schema at %s: more than %d properties", path, G_MAX_PROPS);
                return -1;
            }
            if (name_needs_escape(p->valuestring)) {
                fail(c, "JSON Schema at %s.required: property name needing JSON escapes is not supported", path);
                return -1;
            }
            k = n;
            names[n] = p->valuestring;
            values[n++] = addl_node >= 0 ? addl_node : never_node(c);
        }
        reqf[k] = true;
    }
    /* sort by name bytes (the key trie's order) */
    int order[G_MAX_PROPS];
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[order[j - 1]], names[order[j]]) > 0; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    GROW(g->props, g->n_props, g->cap_props, g->n_props + n);
    int32_t prop0 = g->n_props;
    lit_in v[G_MAX_PROPS];
    uint64_t reqm = 0;
    for (int i = 0; i < n; i++) {
        int k = order[i];
        g_prop *gp = &g->props[prop0 + i];
        gp->name_len = (uint32_t)strlen(names[k]);
        gp->name_off = blob_add(g, names[k], gp->name_len);
        gp->value = values[k];
        gp->entry = G_INF;
        if (reqf[k]) reqm |= 1ull << i;
    }
    g->n_props += n;
    for (int i = 0; i < n; i++) {
        v[i].p = (const uint8_t *)g->blob + g->props[prop0 + i].name_off;
        v[i].len = g->props[prop0 + i].name_len;
        v[i].succ = i;
    }
    g_node *nd = &g->nodes[id];
    nd->kind = NK_OBJECT;
    nd->prop0 = prop0;
    nd->nprops = n;
    nd->req = reqm;
    nd->addl = addl_node;
    nd->key_trie = lit_build(g, v, n); /* already sorted; succ = property index */
    return id;
}

static int32_t compile_typed(cctx *c, int32_t id, const char *type, const cJSON *s, const char *path, int depth) {
    hr_grammar *g = c->g;
    char sub[512];
    if (!strcmp(type, "object")) return compile_object(c, id, s, path, depth);
    if (!strcmp(type, "array")) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(s, "minItems");
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(s, "maxItems");
        int32_t it;
        if (items) {
            path_key(sub, sizeof sub, path, "items");
            it = compile(c, items, sub, depth + 1);
        } else it = any_node(c);
        if (it < 0) return -1;
        for (int k = 0; k < 2; k++) {
            const cJSON *x = k ? mx : mn;
            if (x && (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble != floor(x->valuedouble))) {
                fail(c, "malformed JSON Schema at %s.%s: expected a non-negative integer", path, k ? "maxItems" : "minItems");
                return -1;
            }
        }
        g_node *nd = &g->nodes[id];
        nd->kind = NK_ARRAY;
        nd->items = it;
        nd->min_items = mn ? (mn->valuedouble > 1e6 ? 1000000 : (int32_t)mn->valuedouble) : 0;
        nd->max_items = mx ? (mx->valuedouble > G_MAX_ITEMS_CAP ? G_MAX_ITEMS_CAP : (int32_t)mx->valuedouble) : G_MAX_ITEMS_CAP;
        return id;
    }
    if (!strcmp(type, "string")) return g->nodes[id].kind = NK_STRING, id;
    if (!strcmp(type, "number")) return g->nodes[id].kind = NK_NUMBER, id;
    if (!strcmp(type, "integer")) return g->nodes[id].kind = NK_INTEGER, id;
    static const char *const tf[] = {"true", "false"}, *const nl[] = {"null"};
    bool is_bool = !strcmp(type, "boolean");
    int32_t lit = literal_node(c, is_bool ? tf : nl, is_bool ? 2 : 1);
    if (lit < 0) return -1;
    /* turn the reserved node into an alias (one-alternative anyOf) */
    int32_t one[1] = {lit};
    GROW(g->alts, g->n_alts, g->cap_alts, g->n_alts + 1);
    g->alts[g->n_alts] = one[0];
    g->nodes[id].kind = NK_ANYOF;
    g->nodes[id].alt0 = g->n_alts++;
    g->nodes[id].nalts = 1;
    return id;
}

static int32_t compile(cctx *c, const cJSON *s, const char *path, int depth) {
    hr_grammar *g = c->g;
    char sub[512];
    if (c->failed) return -1;
    if (depth > 64) {
        fail(c, "JSON Schema nested deeper than 64 levels at %s", path);
        return -1;
    }
    if (cJSON_IsBool(s)) return cJSON_IsTrue(s) ? any_node(c) : never_node(c);
    if (!cJSON_IsObject(s)) {
        fail(c, "malformed JSON Schema at %s: a schema must be an object", path);
        return -1;
    }
    int32_t m = memo_get(c, s);
    if (m >= 0) return m;
    const cJSON *k;
    int nconstr = 0;
    cJSON_ArrayForEach(k, s) {
        if (!in_list(k->string, SUPPORTED)) {
            fail(c, "unsupported JSON Schema keyword '%.64s' at %s", k->string, path);
            return -1;
        }
        nconstr += in_list(k->string, CONSTRAINING);
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (ref) {
        if (nconstr > 1) {
            cJSON_ArrayForEach(k, s) if (strcmp(k->string, "$ref") && in_list(k->string, CONSTRAINING)) break;
            fail(c, "JSON Schema at %s: '$ref' with sibling keyword '%.64s' is not supported", path, k ? k->string : "?");
            return -1;
        }
        if (!cJSON_IsString(ref)) {
            fail(c, "malformed JSON Schema at %s.$ref: expected a string", path);
            return -1;
        }
        const cJSON *t = resolve_ref(c->root, ref->valuestring);
        if (!t) {
            fail(c, "malformed JSON Schema at %s: $ref '%.128s' does not resolve", path, ref->valuestring);
            return -1;
        }
        return compile(c, t, ref->valuestring, depth + 1);
    }
    if (nconstr == 0) {
        int32_t a = any_node(c);
        if (a >= 0) memo_put(c, s, a);
        return a;
    }
    const cJSON *any_of = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
    const char *types[8];
    int ntypes = 0;
    if (type && (ntypes = type_list(c, type, path, types)) < 0) return -1;
    if (cJSON_GetObjectItemCaseSensitive(s, "enum") || cJSON_GetObjectItemCaseSensitive(s, "const")) {
        cJSON_ArrayForEach(k, s) {
            if (in_list(k->string, CONSTRAINING) && strcmp(k->string, "enum") && strcmp(k->string, "const") &&
                strcmp(k->string, "type")) {
                fail(c, "JSON Schema at %s: 'enum'/'const' with sibling keyword '%.64s' is not supported", path, k->string);
                return -1;
            }
        }
        int32_t id = compile_enum(c, s, path, types, ntypes);
        if (id >= 0) memo_put(c, s, id);
        return id;
    }
    if (any_of) {
        if (nconstr > 1) {
            cJSON_ArrayForEach(k, s) if (strcmp(k->string, "anyOf") && in_list(k->string, CONSTRAINING)) break;
            fail(c, "JSON Schema at %s: 'anyOf' with sibling keyword '%.64s' is not supported", path, k ? k->string : "?");
            return -1;
        }
        int n = cJSON_IsArray(any_of) ? cJSON_GetArraySize(any_of) : 0;
        if (n == 0) {
            fail(c, "malformed JSON Schema at %s.anyOf: 'anyOf' must be a non-empty array", path);
            return -1;
        }
        if (n > 256) {
            fail(c, "JSON Schema at %s.anyOf: more than 256 alternatives", path);
            return -1;
        }
        int32_t id = node_new(c, NK_ANYOF);
        if (id < 0) return -1;
        memo_put(c, s, id);
        int32_t alts[256];
        int i = 0;
        const cJSON *a;
        cJSON_ArrayForEach(a, any_of) {
            snprintf(sub, sizeof sub, "%.400s.anyOf[%d]", path, i);
            alts[i] = compile(c, a, sub, depth + 1);
            if (alts[i++] < 0) return -1;
        }
        GROW(g->alts, g->n_alts, g->cap_alts, g->n_alts + n);
        memcpy(g->alts + g->n_alts, alts, (size_t)n * sizeof *alts);
        g->nodes[id].alt0 = g->n_alts;
        g->nodes[id].nalts = n;
        g->n_alts += n;
        return id;
    }
    if (ntypes == 0) { /* infer from the keywords present */
        if (cJSON_GetObjectItemCaseSensitive(s, "properties") || cJSON_GetObjectItemCaseSensitive(s, "required") ||
            cJSON_GetObjectItemCaseSensitive(s, "additionalProperties"))
            types[ntypes++] = "object";
        if (cJSON_GetObjectItemCaseSensitive(s, "items") || cJSON_GetObjectItemCaseSensitive(s, "minItems") ||
            cJSON_GetObjectItemCaseSensitive(s, "maxItems"))
            types[ntypes++] = "array";
        if (ntypes == 0) return any_node(c);
        if (ntypes == 1) { /* untyped: other JSON types are valid too */
            int32_t id = node_new(c, NK_ANYOF);
            if (id < 0) return -1;
            memo_put(c, s, id);
            int32_t t = node_new(c, 0);
            if (t < 0 || compile_typed(c, t, types[0], s, path, depth) < 0) return -1;
            int32_t any = any_node(c);
            if (any < 0) return -1;
            const g_node *an = &g->nodes[any];
            int32_t alts[5];
            int na = 0;
            alts[na++] = t;
            for (int i = 0; i < an->nalts; i++) {
                int kd = g->nodes[g->alts[an->alt0 + i]].kind;
                if ((kd == NK_OBJECT && !strcmp(types[0], "object")) || (kd == NK_ARRAY && !strcmp(types[0], "array"))) continue;
                alts[na++] = g->alts[an->alt0 + i];
            }
            GROW(g->alts, g->n_alts, g->cap_alts, g->n_alts + na);
            memcpy(g->alts + g->n_alts, alts, (size_t)na * sizeof *alts);
            g->nodes[id].alt0 = g->n_alts;
            g->nodes[id].nalts = na;
            g->n_alts += na;
            return id;
        }
        /* both object and array keywords, no type: fall through as a type list */
    }
    /* "number" already covers "integer" */
    bool has_number = false;
    for (int i = 0; i < ntypes; i++) has_number |= !strcmp(types[i], "number");
    int32_t id = node_new(c, 0);
    if (id < 0) return -1;
    memo_put(c, s, id);
    if (ntypes == 1) return compile_typed(c, id, types[0], s, path, depth);
    int32_t alts[8];
    int na = 0;
    for (int i = 0; i < ntypes; i++) {
        if (has_number && !strcmp(types[i], "integer")) continue;
        int32_t t = node_new(c, 0);
        if (t < 0 || compile_typed(c, t, types[i], s, path, depth) < 0) return -1;
        alts[na++] = t;
    }
    GROW(g->alts, g->n_alts, g->cap_alts, g->n_alts + na);
    memcpy(g->alts + g->n_alts, alts, (size_t)na * sizeof *alts);
    g->nodes[id].kind = NK_ANYOF;
    g->nodes[id].alt0 = g->n_alts;
    g->nodes[id].nalts = na;
    g->n_alts += na;
    return id;
}

/* ---- post passes: fewest bytes, pruning unsatisfiable parts ------------------------ */

static int32_t node_minlen_calc(hr_grammar *g, int32_t id) {
    g_node *n = &g->nodes[id];
    switch (n->kind) {
    case NK_ROOT: return g->nodes[n->child].minlen;
    case NK_STRING: return 2;
    case NK_NUMBER: case NK_INTEGER: return 1;
    case NK_LITERAL: return lit_minrem(g, n->lit_trie);
    case NK_ANYOF: {
        int32_t best = G_INF;
        for (int i = 0; i < n->nalts; i++) {
            int32_t m = g->nodes[g->alts[n->alt0 + i]].minlen;
            if (m < best) best = m;
        }
        return best;
    }
    case NK_OBJECT: {
        int64_t sum = 2;
        int nreq = 0;
        for (int i = 0; i < n->nprops; i++) {
            g_prop *p = &g->props[n->prop0 + i];
            p->entry = sadd(p->name_len + 3, g->nodes[p->value].minlen);
            if (n->req >> i & 1) sum = sadd(sum, p->entry), nreq++;
        }
        if (nreq > 1) sum = sadd(sum, nreq - 1);
        return (int32_t)sum;
    }
    case NK_ARRAY: {
        if (n->max_items < n->min_items) return G_INF;
        if (n->min_items == 0) return 2;
        int32_t ml = g->nodes[n->items].minlen;
        return sadd(sadd(2, smul(n->min_items, ml)), n->min_items - 1);
    }
    case NK_SEQ: {
        int64_t sum = 0;
        for (int i = 0; i < n->nitems; i++) {
            const g_seqitem *it = &g->items[n->item0 + i];
            if (it->kind == SI_LIT) sum = sadd(sum, it->len);
            else if (it->kind == SI_NODE) sum = sadd(sum, g->nodes[it->node].minlen);
        }
        return (int32_t)sum;
    }
    case NK_TOOLS: return n->text ? 0 : g->nodes[n->call_full].minlen;
    }
    return G_INF;
}

/* Flattens anyOf chains into lists of satisfiable non-anyOf nodes. */
static void flatten_alts(hr_grammar *g, int32_t id, int32_t *out, int *n, int cap, uint8_t *seen) {
    if (seen[id]) return;
    seen[id] = 1;
    const g_node *nd = &g->nodes[id];
    if (nd->minlen >= G_INF) return;
    if (nd->kind != NK_ANYOF) {
        if (*n < cap) out[(*n)++] = id;
        return;
    }
    for (int i = 0; i < nd->nalts; i++) flatten_alts(g, g->alts[nd->alt0 + i], out, n, cap, seen);
}

static int finish(cctx *c) {
    hr_grammar *g = c->g;
    bool changed = true;
    while (changed) {
        changed = false;
        for (int i = 0; i < g->n_nodes; i++) {
            int32_t m = node_minlen_calc(g, i);
            if (m < g->nodes[i].minlen) g->nodes[i].minlen = m, changed = true;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) node_minlen_calc(g, i); /* final entries / trie minrem */
    if (g->nodes[g->root].minlen >= G_INF) {
        fail(c, "JSON Schema cannot be satisfied by any value");
        return -1;
    }
    uint8_t *seen = hr_xcalloc((size_t)g->n_nodes, 1);
    int32_t *buf = hr_xmalloc((size_t)G_MAX_THREADS * 8 * sizeof *buf);
    for (int i = 0; i < g->n_nodes; i++) {
        g_node *n = &g->nodes[i];
        if (n->kind == NK_ANYOF) {
            memset(seen, 0, (size_t)g->n_nodes);
            int cnt = 0;
            flatten_alts(g, i, buf, &cnt, G_MAX_THREADS * 8, seen);
            GROW(g->alts, g->n_alts, g->cap_alts, g->n_alts + cnt);
            if (cnt) memcpy(g->alts + g->n_alts, buf, (size_t)cnt * sizeof *buf);
            g->nodes[i].alt0 = g->n_alts;
            g->nodes[i].nalts = cnt;
            g->n_alts += cnt;
        } else if (n->kind == NK_OBJECT) {
            if (n->addl >= 0 && g->nodes[n->addl].minlen >= G_INF) n->addl = -1;
            for (int k = 0; k < n->nprops; k++)
                if (!(n->req >> k & 1) && g->nodes[g->props[n->prop0 + k].value].minlen >= G_INF) n->banned |= 1ull << k;
        } else if (n->kind == NK_ARRAY) {
            if (g->nodes[n->items].minlen >= G_INF) n->max_items = 0;
        }
    }
    free(seen);
    free(buf);
    g->seq_suffix = hr_xcalloc((size_t)g->n_items + 1, sizeof *g->seq_suffix);
    for (int i = 0; i < g->n_nodes; i++) {
        const g_node *n = &g->nodes[i];
        if (n->kind != NK_SEQ) continue;
        int64_t sum = 0;
        for (int k = n->nitems - 1; k >= 0; k--) {
            const g_seqitem *it = &g->items[n->item0 + k];
            if (it->kind == SI_LIT) sum = sadd(sum, it->len);
            else if (it->kind == SI_NODE) sum = sadd(sum, g->nodes[it->node].minlen);
            g->seq_suffix[n->item0 + k] = (int32_t)sum;
        }
    }
    return 0;
}

static hr_grammar *grammar_new(void) { return hr_xcalloc(1, sizeof(hr_grammar)); }

void hr_grammar_free(hr_grammar *g) {
    if (!g) return;
    free(g->nodes);
    free(g->props);
    free(g->lnodes);
    free(g->alts);
    free(g->items);
    free(g->seq_suffix);
    free(g->blob);
    free(g);
}

static void cctx_init(cctx *c, hr_grammar *g, char *err, size_t errsz) {
    memset(c, 0, sizeof *c);
    c->g = g;
    c->err = err;
    c->errsz = errsz;
    c->any_node = c->obj_any = c->never = -1;
    if (err && errsz) err[0] = 0;
}
static void cctx_free(cctx *c) {
    free(c->memo_k);
    free(c->memo_v);
}

static bool is_json_object_schema(const cJSON *s) {
    if (!s) return true;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    return cJSON_IsObject(s) && cJSON_GetArraySize(s) == 1 && cJSON_IsString(t) && !strcmp(t->valuestring, "json_object");
}

hr_grammar *hr_grammar_from_cjson(const cJSON *schema, char *err, size_t errsz) {
    hr_grammar *g = grammar_new();
    cctx c;
    cctx_init(&c, g, err, errsz);
    c.root = schema;
    int32_t child;
    if (is_json_object_schema(schema)) child = any_node(&c) >= 0 ? c.obj_any : -1;
    else child = compile(&c, schema, "$", 0);
    if (child >= 0) {
        g->root = node_new(&c, NK_ROOT);
        if (g->root >= 0) g->nodes[g->root].child = child;
    }
    if (c.failed || finish(&c) < 0) {
        cctx_free(&c);
        hr_grammar_free(g);
        return NULL;
    }
    cctx_free(&c);
    return g;
}

hr_grammar *hr_grammar_from_schema(const char *schema_json, char *err, size_t errsz) {
    if (!schema_json || !*schema_json) return hr_grammar_from_cjson(NULL, err, errsz);
    if (strlen(schema_json) > HR_GRAMMAR_MAX_SCHEMA_BYTES) {
        if (err && errsz) snprintf(err, errsz, "JSON Schema larger than %u bytes", HR_GRAMMAR_MAX_SCHEMA_BYTES);
        return NULL;
    }
    cJSON *s = cJSON_Parse(schema_json);
    if (!s) {
        if (err && errsz) snprintf(err, errsz, "JSON Schema is not valid JSON");
        return NULL;
    }
    hr_grammar *g = hr_grammar_from_cjson(s, err, errsz);
    cJSON_Delete(s);
    return g;
}

hr_grammar *hr_grammar_json_object(void) { return hr_grammar_from_cjson(NULL, NULL, 0); }

int hr_grammar_min_bytes(const hr_grammar *g) { return g->nodes[g->root].minlen; }

/* ---- tools ---------------------------------------------------------------------------- */

static void seq_lit(hr_grammar *g, const char *s) {
    GROW(g->items, g->n_items, g->cap_items, g->n_items + 1);
    g_seqitem *it = &g->items[g->n_items++];
    it->kind = SI_LIT;
    it->len = (uint32_t)strlen(s);
    it->off = blob_add(g, s, it->len);
    it->node = -1;
}
static void seq_ws(hr_grammar *g) {
    GROW(g->items, g->n_items, g->cap_items, g->n_items + 1);
    g_seqitem *it = &g->items[g->n_items++];
    memset(it, 0, sizeof *it);
    it->kind = SI_WS;
    it->node = -1;
}
static void seq_node(hr_grammar *g, int32_t node) {
    GROW(g->items, g->n_items, g->cap_items, g->n_items + 1);
    g_seqitem *it = &g->items[g->n_items++];
    memset(it, 0, sizeof *it);
    it->kind = SI_NODE;
    it->node = node;
}

hr_grammar *hr_grammar_from_tools(const cJSON *tools, hr_grammar_tool_choice choice, const char *only_name,
                                  bool parallel, char *err, size_t errsz) {
    hr_grammar *g = grammar_new();
    cctx c;
    cctx_init(&c, g, err, errsz);
    int nt = cJSON_IsArray(tools) ? cJSON_GetArraySize(tools) : 0;
    if (nt == 0 || nt > G_MAX_TOOLS) fail(&c, "tools must be a non-empty array of at most %d tools", G_MAX_TOOLS);
    const char *names[G_MAX_TOOLS];
    int32_t seqs[G_MAX_TOOLS];
    int n = 0, i = 0;
    const cJSON *t;
    if (!c.failed) cJSON_ArrayForEach(t, tools) {
        char path[64];
        snprintf(path, sizeof path, "tools[%d]", i++);
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!cJSON_IsObject(fn)) fn = t;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 256 ||
            name_needs_escape(name->valuestring)) {
            fail(&c, "%s: function name missing, too long, or needing JSON escapes", path);
            break;
        }
        if (only_name && strcmp(only_name, name->valuestring)) continue;
        for (int k = 0; k < n; k++)
            if (!strcmp(names[k], name->valuestring)) fail(&c, "%s: duplicate function name '%.64s'", path, name->valuestring);
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        int32_t args;
        c.root = params;
        char ppath[96];
        snprintf(ppath, sizeof ppath, "%s.function.parameters", path);
        if (!params) args = any_node(&c) >= 0 ? c.obj_any : -1;
        else args = compile(&c, params, ppath, 0);
        if (args < 0 || c.failed) break;
        int32_t seq = node_new(&c, NK_SEQ);
        if (seq < 0) break;
        g->nodes[seq].item0 = g->n_items;
        seq_ws(g), seq_lit(g, ","), seq_ws(g), seq_lit(g, "\"arguments\""), seq_ws(g), seq_lit(g, ":"), seq_ws(g);
        seq_node(g, args);
        seq_ws(g), seq_lit(g, "}"), seq_ws(g), seq_lit(g, "</tool_call>");
        g->nodes[seq].nitems = g->n_items - g->nodes[seq].item0;
        names[n] = name->valuestring;
        seqs[n++] = seq;
    }
    if (!c.failed && n == 0) fail(&c, "tool_choice names unknown function '%.64s'", only_name ? only_name : "");
    if (!c.failed) {
        lit_in v[G_MAX_TOOLS];
        uint32_t offs[G_MAX_TOOLS];
        for (int k = 0; k < n; k++) {
            char q[300];
            snprintf(q, sizeof q, "\"%s\"", names[k]);
            v[k].len = (uint32_t)strlen(q);
            offs[k] = blob_add(g, q, v[k].len);
            v[k].succ = seqs[k];
        }
        for (int k = 0; k < n; k++) v[k].p = (const uint8_t *)g->blob + offs[k];
        int32_t sw = node_new(&c, NK_LITERAL);
        int32_t full = node_new(&c, NK_SEQ), body = node_new(&c, NK_SEQ), root = node_new(&c, NK_TOOLS);
        if (sw >= 0 && full >= 0 && body >= 0 && root >= 0) {
            g->nodes[sw].lit_trie = lit_build(g, v, n);
            for (int k = 0; k < 2; k++) {
                int32_t s = k ? body : full;
                g->nodes[s].item0 = g->n_items;
                if (!k) seq_lit(g, "<tool_call>");
                seq_ws(g), seq_lit(g, "{"), seq_ws(g), seq_lit(g, "\"name\""), seq_ws(g), seq_lit(g, ":"), seq_ws(g);
                seq_node(g, sw);
                g->nodes[s].nitems = g->n_items - g->nodes[s].item0;
            }
            g->nodes[root].call_full = full;
            g->nodes[root].call_body = body;
            g->nodes[root].text = choice == HR_GRAMMAR_TOOLS_AUTO && !only_name;
            g->nodes[root].parallel = parallel;
            g->root = root;
        }
    }
    if (c.failed || finish(&c) < 0) {
        cctx_free(&c);
        hr_grammar_free(g);
        return NULL;
    }
    cctx_free(&c);
    return g;
}

/* ---- automaton ---------------------------------------------------------------------------- */

enum { N_START = 0, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
/* object phases */
enum { O_OPEN = 0, O_FIRST, O_KEY, O_COLON, O_VALUE, O_NEXT, O_COMMA, O_DONE };
/* array phases */
enum { A_OPEN = 0, A_FIRST, A_NEXT, A_COMMA, A_DONE };
/* tools phases */
enum { T_TEXT = 0, T_EXPECT = 1, T_AFTER = 3 };

static const char TOOL_OPEN[] = "<tool_call>";
#define TOOL_OPEN_LEN 11

typedef struct g_thread {
    int n;
    g_frame f[G_MAX_DEPTH];
} g_thread;

static bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static g_frame frame_init(const hr_grammar *g, int32_t node) {
    g_frame f = {.node = (uint16_t)node};
    const g_node *n = &g->nodes[node];
    if (n->kind == NK_LITERAL) f.a = (uint32_t)n->lit_trie;
    if (n->kind == NK_OBJECT) f.seen = n->banned;
    if (n->kind == NK_TOOLS) f.phase = n->text ? T_TEXT : T_EXPECT;
    return f;
}

void g_set_init(g_set *s) { memset(s, 0, sizeof *s); }
void g_set_free(g_set *s) {
    free(s->pool);
    memset(s, 0, sizeof *s);
}
static void set_reserve(g_set *s, int want) {
    if (want <= s->cap) return;
    int nc = s->cap ? s->cap * 2 : 64;
    while (nc < want) nc *= 2;
    s->pool = hr_xrealloc(s->pool, (size_t)nc * sizeof *s->pool);
    s->cap = nc;
}
void g_set_copy(g_set *dst, const g_set *src) {
    set_reserve(dst, src->used);
    dst->n = src->n;
    dst->used = src->used;
    memcpy(dst->off, src->off, sizeof src->off);
    memcpy(dst->len, src->len, sizeof src->len);
    if (src->used) memcpy(dst->pool, src->pool, (size_t)src->used * sizeof *src->pool);
}

static void emit(g_set *dst, const g_thread *t) {
    for (int i = 0; i < dst->n; i++)
        if (dst->len[i] == t->n && !memcmp(dst->pool + dst->off[i], t->f, (size_t)t->n * sizeof(g_frame))) return;
    if (dst->n >= G_MAX_THREADS) return; /* dropping an alternative narrows, never breaks */
    set_reserve(dst, dst->used + t->n);
    dst->off[dst->n] = (uint16_t)dst->used;
    dst->len[dst->n] = (uint16_t)t->n;
    memcpy(dst->pool + dst->used, t->f, (size_t)t->n * sizeof(g_frame));
    dst->used += t->n;
    dst->n++;
}

static bool frame_finished(const hr_grammar *g, const g_frame *f) {
    const g_node *n = &g->nodes[f->node];
    switch (n->kind) {
    case NK_STRING: return f->phase == 2;
    case NK_OBJECT: return f->phase == O_DONE;
    case NK_ARRAY: return f->phase == A_DONE;
    case NK_LITERAL: {
        const g_lnode *l = &g->lnodes[f->a];
        return l->terminal && l->nchild == 0 && l->succ < 0;
    }
    case NK_SEQ: return f->a == (uint32_t)n->nitems;
    }
    return false;
}

static bool frame_can_end(const hr_grammar *g, const g_frame *f) {
    const g_node *n = &g->nodes[f->node];
    switch (n->kind) {
    case NK_NUMBER: case NK_INTEGER:
        return f->a == N_ZERO || f->a == N_INT || f->a == N_FRAC || f->a == N_EXP;
    case NK_LITERAL: {
        const g_lnode *l = &g->lnodes[f->a];
        return l->terminal && l->succ < 0;
    }
    case NK_SEQ:
        if (f->b) return false;
        for (int i = (int)f->a; i < n->nitems; i++)
            if (g->items[n->item0 + i].kind != SI_WS) return false;
        return true;
    }
    return frame_finished(g, f);
}

static bool key_possible(const g_node *n, const g_frame *f) {
    if (n->addl >= 0) return true;
    uint64_t all = n->nprops >= 64 ? ~0ull : ((1ull << n->nprops) - 1);
    return (f->seen & all) != all;
}
static bool req_done(const g_node *n, const g_frame *f) { return (n->req & ~f->seen) == 0; }
static bool range_has_unseen(const g_lnode *l, uint64_t seen) {
    for (int i = l->lo; i < l->hi; i++)
        if (!(seen >> i & 1)) return true;
    return false;
}

enum { R_OK = 0, R_REJECT, R_POP, R_PUSH };

static void feed(const hr_grammar *g, g_thread *t, uint8_t c, g_set *dst);

static void push_feed(const hr_grammar *g, g_thread *t, int32_t node, uint8_t c, g_set *dst) {
    const g_node *n = &g->nodes[node];
    if (n->kind == NK_ANYOF) {
        if (n->nalts == 0) return;
        for (int i = 0; i < n->nalts - 1; i++) {
            g_thread t2;
            t2.n = t->n;
            memcpy(t2.f, t->f, (size_t)t->n * sizeof(g_frame));
            push_feed(g, &t2, g->alts[n->alt0 + i], c, dst);
        }
        push_feed(g, t, g->alts[n->alt0 + n->nalts - 1], c, dst);
        return;
    }
    if (t->n >= G_MAX_DEPTH) return;
    t->f[t->n++] = frame_init(g, node);
    feed(g, t, c, dst);
}

/* One frame takes byte c. */
static int frame_step(const hr_grammar *g, g_thread *t, uint8_t c, int32_t *push) {
    g_frame *f = &t->f[t->n - 1];
    const g_node *n = &g->nodes[f->node];
    bool ws = is_ws(c);
    if (!ws) f->ws = 0;
#define WS_OR_REJECT() \
    do { \
        if (ws && f->ws < HR_GRAMMAR_MAX_WS) { f->ws++; return R_OK; } \
    } while (0)
    switch (n->kind) {
    case NK_ROOT:
        if (f->phase == 0) {
            WS_OR_REJECT();
            if (ws) return R_REJECT;
            f->phase = 1;
            *push = n->child;
            return R_PUSH;
        }
        WS_OR_REJECT();
        return R_REJECT;
    case NK_STRING:
        if (f->phase == 0) {
            if (c != '"') return R_REJECT;
            f->phase = 1;
            f->a = S_BASE;
            return R_OK;
        } else {
            int r = g_str_step((int)f->a, c, true);
            if (r == -1) return R_REJECT;
            if (r == STR_CLOSE) f->phase = 2;
            else f->a = (uint32_t)r;
            return R_OK;
        }
    case NK_NUMBER: case NK_INTEGER: {
        bool dig = c >= '0' && c <= '9', integer = n->kind == NK_INTEGER;
        switch (f->a) {
        case N_START:
            if (c == '-') return f->a = N_MINUS, R_OK;
            /* fallthrough */
        case N_MINUS:
            if (c == '0') return f->a = N_ZERO, R_OK;
            if (dig) return f->a = N_INT, f->b = 1, R_OK;
            return R_REJECT;
        case N_ZERO: case N_INT:
            if (f->a == N_INT && dig && f->b < G_INT_DIGITS) return f->b++, R_OK;
            if (!integer && c == '.') return f->a = N_DOT, R_OK;
            if (!integer && (c == 'e' || c == 'E')) return f->a = N_E, R_OK;
            return R_POP;
        case N_DOT:
            if (dig) return f->a = N_FRAC, f->b = 1, R_OK;
            return R_REJECT;
        case N_FRAC:
            if (dig && f->b < G_FRAC_DIGITS) return f->b++, R_OK;
            if (c == 'e' || c == 'E') return f->a = N_E, R_OK;
            return R_POP;
        case N_E:
            if (c == '+' || c == '-') return f->a = N_ESIGN, R_OK;
            /* fallthrough */
        case N_ESIGN:
            if (dig) return f->a = N_EXP, f->b = 1, R_OK;
            return R_REJECT;
        case N_EXP:
            if (dig && f->b < G_EXP_DIGITS) return f->b++, R_OK;
            return R_POP;
        }
        return R_REJECT;
    }
    case NK_LITERAL: {
        int32_t ch = lit_find(g, (int32_t)f->a, c);
        if (ch >= 0 && g->lnodes[ch].minrem >= G_INF) ch = -1; /* e.g. a tool whose arguments cannot be satisfied */
        if (ch < 0) return (g->lnodes[f->a].terminal && g->lnodes[f->a].succ < 0) ? R_POP : R_REJECT;
        f->a = (uint32_t)ch;
        const g_lnode *l = &g->lnodes[ch];
        if (l->terminal && l->succ >= 0 && l->nchild == 0) *f = frame_init(g, l->succ); /* switch */
        return R_OK;
    }
    case NK_OBJECT:
        switch (f->phase) {
        case O_OPEN:
            if (c != '{') return R_REJECT;
            f->phase = O_FIRST;
            return R_OK;
        case O_FIRST: case O_COMMA:
            WS_OR_REJECT();
            if (c == '"' && key_possible(n, f)) {
                f->phase = O_KEY;
                f->a = n->nprops ? (uint32_t)n->key_trie : KEY_OFF;
                f->b = S_BASE;
                return R_OK;
            }
            if (c == '}' && f->phase == O_FIRST && req_done(n, f)) return f->phase = O_DONE, R_OK;
            return R_REJECT;
        case O_KEY: {
            if (c == '"' && f->b == S_BASE) {
                const g_lnode *l = f->a != KEY_OFF ? &g->lnodes[f->a] : NULL;
                if (l && l->terminal) {
                    if (f->seen >> l->succ & 1) return R_REJECT; /* duplicate key */
                    f->seen |= 1ull << l->succ;
                    f->a = (uint32_t)l->succ;
                } else if (n->addl >= 0) f->a = KEY_ADDL;
                else return R_REJECT;
                f->phase = O_COLON;
                return R_OK;
            }
            int r = g_str_step((int)f->b, c, false);
            if (r < 0) return R_REJECT;
            if (f->a != KEY_OFF) {
                int32_t ch = lit_find(g, (int32_t)f->a, c);
                if (ch >= 0 && (n->addl >= 0 || range_has_unseen(&g->lnodes[ch], f->seen))) f->a = (uint32_t)ch;
                else if (n->addl >= 0) f->a = KEY_OFF;
                else return R_REJECT;
            }
            f->b = (uint32_t)r;
            return R_OK;
        }
        case O_COLON:
            WS_OR_REJECT();
            if (c != ':') return R_REJECT;
            f->phase = O_VALUE;
            return R_OK;
        case O_VALUE:
            WS_OR_REJECT();
            if (ws) return R_REJECT;
            f->phase = O_NEXT;
            *push = f->a == KEY_ADDL ? n->addl : g->props[n->prop0 + f->a].value;
            return R_PUSH;
        case O_NEXT:
            WS_OR_REJECT();
            if (c == ',' && key_possible(n, f)) return f->phase = O_COMMA, R_OK;
            if (c == '}' && req_done(n, f)) return f->phase = O_DONE, R_OK;
            return R_REJECT;
        }
        return R_REJECT;
    case NK_ARRAY:
        switch (f->phase) {
        case A_OPEN:
            if (c != '[') return R_REJECT;
            f->phase = A_FIRST;
            return R_OK;
        case A_FIRST:
            WS_OR_REJECT();
            if (ws) return R_REJECT;
            if (c == ']' && n->min_items == 0) return f->phase = A_DONE, R_OK;
            if (n->max_items == 0) return R_REJECT;
            f->phase = A_NEXT;
            f->a = 1;
            *push = n->items;
            return R_PUSH;
        case A_NEXT:
            WS_OR_REJECT();
            if (c == ',' && f->a < (uint32_t)n->max_items) return f->phase = A_COMMA, R_OK;
            if (c == ']' && f->a >= (uint32_t)n->min_items) return f->phase = A_DONE, R_OK;
            return R_REJECT;
        case A_COMMA:
            WS_OR_REJECT();
            if (ws) return R_REJECT;
            f->phase = A_NEXT;
            f->a++;
            *push = n->items;
            return R_PUSH;
        }
        return R_REJECT;
    case NK_SEQ:
        while (f->a < (uint32_t)n->nitems) {
            const g_seqitem *it = &g->items[n->item0 + f->a];
            if (it->kind == SI_WS) {
                WS_OR_REJECT();
                f->a++;
                f->ws = 0;
                continue;
            }
            if (it->kind == SI_LIT) {
                if ((uint8_t)g->blob[it->off + f->b] != c) return R_REJECT;
                if (++f->b == it->len) f->a++, f->b = 0;
                return R_OK;
            }
            f->a++;
            *push = it->node;
            return R_PUSH;
        }
        return R_POP;
    case NK_TOOLS:
        switch (f->phase) {
        case T_TEXT:
            if (c == (uint8_t)TOOL_OPEN[f->b]) f->b++;
            else f->b = c == '<';
            if (f->b == TOOL_OPEN_LEN && g->nodes[n->call_body].minlen >= G_INF) f->b = 0; /* no usable tool */
            if (f->b == TOOL_OPEN_LEN) {
                f->phase = T_AFTER;
                f->b = 0;
                f->a = 1;
                if (t->n >= G_MAX_DEPTH) return R_REJECT;
                t->f[t->n++] = frame_init(g, n->call_body);
            }
            return R_OK;
        case T_EXPECT: case T_AFTER:
            if (f->phase == T_AFTER) WS_OR_REJECT(); /* a forced call starts right away */
            if (c != '<' || g->nodes[n->call_full].minlen >= G_INF) return R_REJECT;
            if (f->phase == T_AFTER && (!n->parallel || f->a >= HR_GRAMMAR_MAX_CALLS)) return R_REJECT;
            f->phase = T_AFTER;
            f->a++;
            *push = n->call_full;
            return R_PUSH;
        }
        return R_REJECT;
    }
#undef WS_OR_REJECT
    return R_REJECT;
}

static void feed(const hr_grammar *g, g_thread *t, uint8_t c, g_set *dst) {
    for (;;) {
        int32_t push = -1;
        int r = frame_step(g, t, c, &push);
        if (r == R_REJECT) return;
        if (r == R_POP) {
            if (--t->n == 0) return;
            continue;
        }
        if (r == R_PUSH) {
            push_feed(g, t, push, c, dst);
            return;
        }
        while (t->n > 1 && frame_finished(g, &t->f[t->n - 1])) t->n--;
        emit(dst, t);
        return;
    }
}

void g_set_start(const hr_grammar *g, g_set *s) {
    s->n = 0;
    s->used = 0;
    g_thread t;
    t.n = 1;
    t.f[0] = frame_init(g, g->root);
    emit(s, &t);
}

int g_thread_step(const hr_grammar *g, const g_set *src, int i, uint8_t c, g_set *dst) {
    g_thread t;
    t.n = src->len[i];
    memcpy(t.f, src->pool + src->off[i], (size_t)t.n * sizeof(g_frame));
    feed(g, &t, c, dst);
    return dst->n;
}

int g_set_step(const hr_grammar *g, const g_set *src, uint8_t c, g_set *dst) {
    dst->n = 0;
    dst->used = 0;
    for (int i = 0; i < src->n; i++) g_thread_step(g, src, i, c, dst);
    return dst->n;
}

static bool thread_complete(const hr_grammar *g, const g_frame *f, int n) {
    while (n > 1 && frame_can_end(g, &f[n - 1])) n--;
    if (n != 1) return false;
    const g_node *nd = &g->nodes[f[0].node];
    if (nd->kind == NK_ROOT) return f[0].phase == 1;
    if (nd->kind == NK_TOOLS) return f[0].phase == T_TEXT || f[0].phase == T_AFTER;
    return false;
}

bool g_set_complete(const hr_grammar *g, const g_set *s) {
    for (int i = 0; i < s->n; i++)
        if (thread_complete(g, s->pool + s->off[i], s->len[i])) return true;
    return false;
}

/* ---- cost: fewest bytes to finish --------------------------------------------------------- */

/* after-value cost of an object: "}" plus ",entry" for each required unseen */
static int32_t obj_after_value(const hr_grammar *g, const g_node *n, uint64_t seen) {
    int64_t s = 1;
    uint64_t r = n->req & ~seen;
    while (r) {
        int k = __builtin_ctzll(r);
        r &= r - 1;
        s = sadd(s, 1 + (int64_t)g->props[n->prop0 + k].entry);
    }
    return (int32_t)s;
}

static int32_t obj_key_cost(const hr_grammar *g, const g_node *n, const g_frame *f) {
    int32_t best = G_INF;
    if (n->addl >= 0) {
        int64_t extra = 0;
        if (f->a != KEY_OFF) {
            const g_lnode *l = &g->lnodes[f->a];
            if (l->terminal && (f->seen >> l->succ & 1)) extra = 1;
        }
        best = sadd(sadd(g_str_pending((int)f->b) + 2 + extra, g->nodes[n->addl].minlen), obj_after_value(g, n, f->seen));
    }
    if (f->a != KEY_OFF) {
        const g_lnode *l = &g->lnodes[f->a];
        for (int i = l->lo; i < l->hi; i++) {
            if (f->seen >> i & 1) continue;
            const g_prop *p = &g->props[n->prop0 + i];
            int32_t c = sadd(sadd((int64_t)p->name_len - l->depth + 2, g->nodes[p->value].minlen),
                             obj_after_value(g, n, f->seen | 1ull << i));
            if (c < best) best = c;
        }
    }
    return best;
}

static int32_t frame_cost(const hr_grammar *g, const g_frame *f) {
    const g_node *n = &g->nodes[f->node];
    switch (n->kind) {
    case NK_ROOT: return f->phase == 0 ? g->nodes[n->child].minlen : 0;
    case NK_STRING: return f->phase == 0 ? 2 : f->phase == 1 ? g_str_pending((int)f->a) + 1 : 0;
    case NK_NUMBER: case NK_INTEGER:
        return (f->a == N_START || f->a == N_MINUS || f->a == N_DOT || f->a == N_E || f->a == N_ESIGN) ? 1 : 0;
    case NK_LITERAL: return g->lnodes[f->a].minrem;
    case NK_SEQ: {
        if (f->a >= (uint32_t)n->nitems) return 0;
        const g_seqitem *it = &g->items[n->item0 + f->a];
        if (it->kind == SI_LIT) {
            int32_t rest = f->a + 1 < (uint32_t)n->nitems ? g->seq_suffix[n->item0 + f->a + 1] : 0;
            return sadd((int64_t)it->len - f->b, rest);
        }
        return g->seq_suffix[n->item0 + f->a];
    }
    case NK_TOOLS: return f->phase == T_EXPECT ? g->nodes[n->call_full].minlen : 0;
    case NK_ARRAY: {
        int32_t ml = g->nodes[n->items].minlen;
        int64_t mn = n->min_items, cnt = f->a;
        switch (f->phase) {
        case A_OPEN: return n->minlen;
        case A_FIRST: return mn == 0 ? 1 : sadd(sadd(smul(mn, ml), mn - 1), 1);
        case A_NEXT: return sadd(1, smul(mn > cnt ? mn - cnt : 0, sadd(1, ml)));
        case A_COMMA: return sadd(sadd(ml, 1), smul(mn > cnt + 1 ? mn - cnt - 1 : 0, sadd(1, ml)));
        }
        return 0;
    }
    case NK_OBJECT:
        switch (f->phase) {
        case O_OPEN: return n->minlen;
        case O_FIRST: {
            uint64_t r = n->req & ~f->seen;
            if (!r) return 1;
            return obj_after_value(g, n, f->seen) - 1; /* entries, commas between, "}" */
        }
        case O_KEY: return obj_key_cost(g, n, f);
        case O_COLON: case O_VALUE: {
            int32_t v = f->a == KEY_ADDL ? n->addl : g->props[n->prop0 + f->a].value;
            return sadd(sadd(f->phase == O_COLON ? 1 : 0, g->nodes[v].minlen), obj_after_value(g, n, f->seen));
        }
        case O_NEXT: return obj_after_value(g, n, f->seen);
        case O_COMMA: {
            uint64_t r = n->req & ~f->seen;
            if (r) return obj_after_value(g, n, f->seen) - 1; /* the comma is already typed */
            int32_t best = G_INF;
            if (n->addl >= 0) best = sadd(3 + (n->nprops && g->lnodes[n->key_trie].terminal ? 1 : 0), g->nodes[n->addl].minlen);
            for (int i = 0; i < n->nprops; i++)
                if (!(f->seen >> i & 1) && g->props[n->prop0 + i].entry < best) best = g->props[n->prop0 + i].entry;
            return sadd(best, 1);
        }
        }
        return 0;
    }
    return G_INF;
}

int g_thread_cost(const hr_grammar *g, const g_set *s, int i) {
    const g_frame *f = s->pool + s->off[i];
    int64_t sum = 0;
    for (int k = 0; k < s->len[i]; k++) sum = sadd(sum, frame_cost(g, &f[k]));
    return (int)sum;
}

int g_set_cost(const hr_grammar *g, const g_set *s) {
    int best = G_INF;
    for (int i = 0; i < s->n; i++) {
        int c = g_thread_cost(g, s, i);
        if (c < best) best = c;
    }
    return best;
}

int g_thread_fast_class(const hr_grammar *g, const g_set *s, int i, bool *path_free) {
    const g_frame *f = s->pool + s->off[i] + s->len[i] - 1;
    const g_node *n = &g->nodes[f->node];
    *path_free = true;
    if (n->kind == NK_STRING && f->phase == 1 && f->a == S_BASE) return FC_STR;
    if (n->kind == NK_OBJECT && f->phase == O_KEY && f->b == S_BASE && n->addl >= 0) {
        *path_free = f->a == KEY_OFF;
        return FC_KEY;
    }
    if (n->kind == NK_TOOLS && f->phase == T_TEXT && f->b == 0) return FC_TEXT;
    return FC_NONE;
}

int g_thread_fast_ub(const hr_grammar *g, const g_set *s, int i, int cls) {
    const g_frame *f = s->pool + s->off[i];
    int n = s->len[i];
    if (cls == FC_TEXT) return g_thread_cost(g, s, i);
    int64_t sum = 0;
    for (int k = 0; k < n - 1; k++) sum = sadd(sum, frame_cost(g, &f[k]));
    const g_frame *top = &f[n - 1];
    if (cls == FC_STR) return sadd(sum, frame_cost(g, top) + 4); /* \u pending: 4 more */
    const g_node *nd = &g->nodes[top->node];
    /* any content token: at worst off the names trie, 3 UTF-8 bytes pending, +1 for a seen name */
    return sadd(sum, sadd(sadd(3 + 2 + 1, g->nodes[nd->addl].minlen), obj_after_value(g, nd, top->seen)));
}

void g_set_add_thread(g_set *dst, const g_set *src, int i) {
    if (dst->n >= G_MAX_THREADS) return;
    set_reserve(dst, dst->used + src->len[i]);
    dst->off[dst->n] = (uint16_t)dst->used;
    dst->len[dst->n] = src->len[i];
    memcpy(dst->pool + dst->used, src->pool + src->off[i], (size_t)src->len[i] * sizeof(g_frame));
    dst->used += src->len[i];
    dst->n++;
}

/* ---- simple frames (cheap walks) ------------------------------------------------------ */

int g_thread_simple(const hr_grammar *g, const g_set *s, int i, int *sub) {
    const g_frame *f = s->pool + s->off[i] + s->len[i] - 1;
    const g_node *n = &g->nodes[f->node];
    if (n->kind == NK_STRING && f->phase == 1) return *sub = (int)f->a, SK_STR;
    if (n->kind == NK_OBJECT && f->phase == O_KEY && f->a == KEY_OFF) return *sub = (int)f->b, SK_KEY;
    if (n->kind == NK_TOOLS && f->phase == T_TEXT && f->b == 0) return *sub = 0, SK_TEXT;
    return -1;
}

int g_simple_step(int kind, int sub, uint8_t c) {
    if (kind == SK_TEXT) return c == '<' ? SIMPLE_EXIT : 0;
    int r = g_str_step(sub, c, kind == SK_STR);
    return r == STR_CLOSE ? SIMPLE_EXIT : r;
}

static g_frame frame_with_sub(const g_frame *f, int kind, int sub) {
    g_frame t = *f;
    if (kind == SK_STR) t.a = (uint32_t)sub;
    else t.b = (uint32_t)sub;
    return t;
}

void g_thread_set_sub(const hr_grammar *g, const g_set *src, int i, int kind, int sub, g_set *dst) {
    (void)g;
    dst->n = dst->used = 0;
    g_set_add_thread(dst, src, i);
    g_frame *top = dst->pool + dst->len[0] - 1;
    *top = frame_with_sub(top, kind, sub);
}

int g_thread_cost_sub(const hr_grammar *g, const g_set *s, int i, int kind, int sub) {
    const g_frame *f = s->pool + s->off[i];
    int n = s->len[i];
    int64_t sum = 0;
    for (int k = 0; k < n - 1; k++) sum = sadd(sum, frame_cost(g, &f[k]));
    g_frame top = frame_with_sub(&f[n - 1], kind, sub);
    return sadd(sum, frame_cost(g, &top));
}

int g_thread_text_match(const hr_grammar *g, const g_set *s, int i) {
    const g_frame *f = s->pool + s->off[i] + s->len[i] - 1;
    const g_node *n = &g->nodes[f->node];
    return (n->kind == NK_TOOLS && f->phase == T_TEXT) ? (int)f->b : -1;
}

int g_tool_open_byte(int m) { return m >= 0 && m < TOOL_OPEN_LEN ? (uint8_t)TOOL_OPEN[m] : -1; }
