/* Token-level grammar tests on real vocabularies:
 *   - masks equal a brute-force check of every token (step the automaton
 *     through the token's bytes, apply the budget rule) at many states;
 *   - the property test: random schemas (nested objects, arrays, enums,
 *     anyOf, $ref, type lists), a "model" that draws uniformly among the
 *     allowed tokens (harsher than any real model) under a random token
 *     budget, and a random-weight synthetic llama model sampling under the
 *     mask: the output is ALWAYS complete, strict JSON that validates;
 *   - the same for Hermes tool calls.
 * The JSON syntax check and the schema validator below are written for this
 * test, independently of src/engine/grammar*.c and src/hermes.
 * HR_GRAMMAR_PROPERTY_N scales the number of random schemas (default 40);
 * HR_GRAMMAR_BRUTE=1 runs the brute-force mask comparison on all of them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "engine/grammar.h"
#include "engine/grammar_int.h"

/* ---- rng -------------------------------------------------------------------- */

static uint64_t rng_s = 88172645463325252ull;
static uint64_t rnd(void) {
    rng_s ^= rng_s << 13;
    rng_s ^= rng_s >> 7;
    rng_s ^= rng_s << 17;
    return rng_s;
}
static int rndn(int n) { return (int)(rnd() % (uint64_t)n); }

/* ---- strict JSON syntax (RFC 8259, UTF-8) -------------------------------------- */

typedef struct { const unsigned char *p, *e; int depth; } jp;
static void jws(jp *j) { while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++; }
static bool jval(jp *j);
static bool jstr(jp *j) {
    if (j->p >= j->e || *j->p != '"') return false;
    j->p++;
    while (j->p < j->e) {
        unsigned c = *j->p++;
        if (c == '"') return true;
        if (c < 0x20) return false;
        if (c == '\\') {
            if (j->p >= j->e) return false;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (j->p >= j->e || !strchr("0123456789abcdefABCDEF", *j->p++)) return false;
            } else if (!strchr("\"\\/bfnrt", (int)c) || !c) return false;
            continue;
        }
        if (c < 0x80) continue;
        int more;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) more = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) more = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) more = 3, cp = c & 0x07;
        else return false;
        for (int i = 0; i < more; i++) {
            if (j->p >= j->e || (*j->p & 0xC0) != 0x80) return false;
            cp = cp << 6 | (*j->p++ & 0x3F);
        }
        if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
    }
    return false;
}
static bool jdigits(jp *j) {
    const unsigned char *s = j->p;
    while (j->p < j->e && *j->p >= '0' && *j->p <= '9') j->p++;
    return j->p > s;
}
static bool jnum(jp *j) {
    if (j->p < j->e && *j->p == '-') j->p++;
    if (j->p < j->e && *j->p == '0') j->p++;
    else if (!(j->p < j->e && *j->p >= '1' && *j->p <= '9') || !jdigits(j)) return false;
    if (j->p < j->e && *j->p == '.') {
        j->p++;
        if (!jdigits(j)) return false;
    }
    if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->e && (*j->p == '+' || *j->p == '-')) j->p++;
        if (!jdigits(j)) return false;
    }
    return true;
}
static bool jlit(jp *j, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, w, n)) return false;
    j->p += n;
    return true;
}
static bool jval(jp *j) {
    if (++j->depth > 200) return false;
    jws(j);
    if (j->p >= j->e) return false;
    bool ok;
    unsigned c = *j->p;
    if (c == '{' || c == '[') {
        unsigned close = c == '{' ? '}' : ']';
        j->p++;
        jws(j);
        if (j->p < j->e && *j->p == close) {
            j->p++;
            ok = true;
        } else {
            for (;;) {
                if (c == '{') {
                    jws(j);
                    if (!jstr(j)) return false;
                    jws(j);
                    if (j->p >= j->e || *j->p++ != ':') return false;
                }
                if (!jval(j)) return false;
                jws(j);
                if (j->p >= j->e) return false;
                if (*j->p == ',') { j->p++; continue; }
                if (*j->p++ != close) return false;
                break;
            }
            ok = true;
        }
    } else if (c == '"') ok = jstr(j);
    else if (c == 't') ok = jlit(j, "true");
    else if (c == 'f') ok = jlit(j, "false");
    else if (c == 'n') ok = jlit(j, "null");
    else ok = jnum(j);
    j->depth--;
    return ok;
}
static bool strict_json(const char *s, size_t n) {
    jp j = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    if (!jval(&j)) return false;
    jws(&j);
    return j.p == j.e;
}

/* ---- independent JSON Schema subset validator ------------------------------------ */

static bool is_type(const cJSON *v, const char *t) {
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    return false;
}

static bool validate(const cJSON *s, const cJSON *v, const cJSON *root, int depth, char *why) {
    if (depth > 200) return strcpy(why, "too deep"), false;
    if (cJSON_IsBool(s)) return cJSON_IsTrue(s) ? true : (strcpy(why, "false schema"), false);
    const cJSON *x;
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "$ref"))) {
        const char *r = x->valuestring;
        const char *name = !strncmp(r, "#/$defs/", 8) ? r + 8 : r + 14;
        const cJSON *defs = cJSON_GetObjectItemCaseSensitive(root, !strncmp(r, "#/$defs/", 8) ? "$defs" : "definitions");
        return validate(cJSON_GetObjectItemCaseSensitive(defs, name), v, root, depth + 1, why);
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "type"))) {
        bool ok = false;
        if (cJSON_IsString(x)) ok = is_type(v, x->valuestring);
        else {
            const cJSON *t;
            cJSON_ArrayForEach(t, x) ok |= is_type(v, t->valuestring);
        }
        if (!ok) return sprintf(why, "type mismatch"), false;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
        bool ok = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, x) ok |= cJSON_Compare(e, v, true);
        if (!ok) return strcpy(why, "not in enum"), false;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "const")) && !cJSON_Compare(x, v, true)) return strcpy(why, "const"), false;
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "anyOf"))) {
        bool ok = false;
        const cJSON *a;
        cJSON_ArrayForEach(a, x) ok = ok || validate(a, v, root, depth + 1, why);
        if (!ok) return strcpy(why, "no anyOf branch"), false;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required"), *r;
        cJSON_ArrayForEach(r, req) if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring))
            return sprintf(why, "missing required %.40s", r->valuestring), false;
        const cJSON *m;
        cJSON_ArrayForEach(m, v) {
            /* duplicate declared keys are not allowed */
            int cnt = 0;
            const cJSON *m2;
            cJSON_ArrayForEach(m2, v) cnt += !strcmp(m2->string, m->string);
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
            if (ps && cnt > 1) return sprintf(why, "duplicate key %.40s", m->string), false;
            const cJSON *use = ps ? ps : addl;
            if (use && !validate(use, m, root, depth + 1, why)) return false;
        }
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if ((x = cJSON_GetObjectItemCaseSensitive(s, "minItems")) && n < x->valueint) return strcpy(why, "minItems"), false;
        if ((x = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) && n > x->valueint) return strcpy(why, "maxItems"), false;
        if ((x = cJSON_GetObjectItemCaseSensitive(s, "items"))) {
            const cJSON *e;
            cJSON_ArrayForEach(e, v) if (!validate(x, e, root, depth + 1, why)) return false;
        }
    }
    return true;
}

/* ---- random schemas ------------------------------------------------------------------ */

static const char *const NAMES[] = {"a", "ab", "abc", "name", "names", "id", "x", "value", "type", "名前", "k_1", "é", "items", "b"};
#define NNAMES ((int)(sizeof NAMES / sizeof NAMES[0]))

static cJSON *rand_literal(int depth) {
    switch (rndn(depth > 1 ? 6 : 7)) {
    case 0: return cJSON_CreateNumber((double)(rndn(2001) - 1000));
    case 1: return cJSON_CreateNumber((double)(rndn(2001) - 1000) / 8.0);
    case 2: return cJSON_CreateNull();
    case 3: return cJSON_CreateBool(rndn(2));
    case 4: {
        static const char *const s[] = {"red", "re", "", "ünï \"q\" \\ /", "tab\there", "a\nb", "😀", "long value with spaces"};
        return cJSON_CreateString(s[rndn(8)]);
    }
    case 5: return cJSON_CreateString(NAMES[rndn(NNAMES)]);
    default: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, NAMES[rndn(NNAMES)], rand_literal(depth + 1));
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, rand_literal(depth + 1));
        cJSON_AddItemToObject(o, "arr", arr);
        return o;
    }
    }
}

static cJSON *rand_schema(int depth, int ndefs) {
    cJSON *s = cJSON_CreateObject();
    int k = depth >= 4 ? rndn(6) : rndn(13);
    static const char *const scalars[] = {"string", "number", "integer", "boolean", "null"};
    switch (k) {
    case 0: case 1: case 2: case 3: case 4:
        cJSON_AddStringToObject(s, "type", scalars[k]);
        break;
    case 5:
        if (ndefs && rndn(2)) {
            char ref[32];
            snprintf(ref, sizeof ref, "#/$defs/d%d", rndn(ndefs));
            cJSON_AddStringToObject(s, "$ref", ref);
        } else {
            cJSON *e = cJSON_AddArrayToObject(s, "enum");
            int n = 1 + rndn(4);
            for (int i = 0; i < n; i++) cJSON_AddItemToArray(e, rand_literal(0));
        }
        break;
    case 6: cJSON_AddItemToObject(s, "const", rand_literal(0)); break;
    case 7: case 8: case 9: {
        if (rndn(4)) cJSON_AddStringToObject(s, "type", "object");
        cJSON *props = cJSON_AddObjectToObject(s, "properties");
        cJSON *req = cJSON_CreateArray();
        int n = rndn(5);
        for (int i = 0; i < n; i++) {
            const char *nm = NAMES[rndn(NNAMES)];
            if (cJSON_GetObjectItemCaseSensitive(props, nm)) continue;
            cJSON_AddItemToObject(props, nm, rand_schema(depth + 1, ndefs));
            if (rndn(2)) cJSON_AddItemToArray(req, cJSON_CreateString(nm));
        }
        if (cJSON_GetArraySize(req)) cJSON_AddItemToObject(s, "required", req);
        else cJSON_Delete(req);
        int a = rndn(4);
        if (a == 1) cJSON_AddFalseToObject(s, "additionalProperties");
        else if (a == 2) cJSON_AddItemToObject(s, "additionalProperties", rand_schema(depth + 2, ndefs));
        else if (a == 3) cJSON_AddTrueToObject(s, "additionalProperties");
        break;
    }
    case 10: case 11: {
        cJSON_AddStringToObject(s, "type", "array");
        if (rndn(4)) cJSON_AddItemToObject(s, "items", rand_schema(depth + 1, ndefs));
        int mn = rndn(3);
        if (mn) cJSON_AddNumberToObject(s, "minItems", mn);
        if (rndn(2)) cJSON_AddNumberToObject(s, "maxItems", mn + rndn(3));
        break;
    }
    default: {
        if (rndn(3) == 0) {
            cJSON *t = cJSON_AddArrayToObject(s, "type");
            cJSON_AddItemToArray(t, cJSON_CreateString(scalars[rndn(5)]));
            cJSON_AddItemToArray(t, cJSON_CreateString(scalars[rndn(5)]));
        } else {
            cJSON *a = cJSON_AddArrayToObject(s, "anyOf");
            int n = 2 + rndn(2);
            for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, rand_schema(depth + 1, ndefs));
        }
    }
    }
    if (rndn(5) == 0) cJSON_AddStringToObject(s, "description", "annotation");
    return s;
}

/* A root schema, sometimes with $defs (one of them recursive). */
static cJSON *rand_root(void) {
    int ndefs = rndn(3) ? 0 : 2;
    cJSON *root = rand_schema(0, ndefs);
    if (ndefs) {
        cJSON *defs = cJSON_AddObjectToObject(root, "$defs");
        cJSON_AddItemToObject(defs, "d0", rand_schema(2, 0));
        cJSON *tree = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                                  "\"kids\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"$ref\":\"#/$defs/d1\"}}},"
                                  "\"required\":[\"v\"],\"additionalProperties\":false}");
        cJSON_AddItemToObject(defs, "d1", tree);
    }
    return root;
}

/* ---- vocabularies -------------------------------------------------------------------- */

static hr_tokenizer *load_vocab(const char *rel) {
    char path[1024], err[256];
    const char *sh = getenv("HR_SHARED");
    snprintf(path, sizeof path, "%s/%s", sh ? sh : "../shared", rel);
    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    if (!g) fail_msg("%s: %s", path, err);
    hr_tokenizer *t = hr_tokenizer_from_gguf(g, err, sizeof err);
    if (!t) fail_msg("%s: %s", path, err);
    hr_gguf_close(g);
    return t;
}

/* ---- brute force mask ------------------------------------------------------------------ */

static void check_mask_bruteforce(hr_grammar_state *st, const hr_tokenizer *t) {
    int n = hr_tokenizer_n_vocab(t);
    size_t nw = ((size_t)n + 63) / 64;
    uint64_t *bits = calloc(nw, sizeof *bits);
    hr_grammar_allowed(st, bits, nw);
    const hr_grammar *g = g_state_grammar(st);
    const g_set *cur = g_state_cur(st);
    int budget = hr_grammar_budget(st);
    int limit = budget == 0x7fffffff ? 0x7fffffff : budget - 1;
    g_set a, b;
    g_set_init(&a);
    g_set_init(&b);
    char tb[HR_TOK_MAX_TOKEN_BYTES];
    bool complete = g_set_complete(g, cur);
    for (int id = 0; id < n; id++) {
        bool want;
        if (hr_tokenizer_is_eog(t, id)) want = complete;
        else {
            hr_tok_type ty = hr_tokenizer_token_type(t, id);
            size_t len = hr_tokenizer_token_bytes(t, id, tb, sizeof tb);
            want = !(ty == HR_TOK_TYPE_CONTROL || ty == HR_TOK_TYPE_UNKNOWN || ty == HR_TOK_TYPE_UNUSED) && len > 0 &&
                   limit >= 0;
            if (want) {
                g_set_copy(&a, cur);
                for (size_t i = 0; i < len && want; i++) {
                    want = g_set_step(g, &a, (uint8_t)tb[i], &b) > 0;
                    g_set x = a;
                    a = b, b = x;
                }
                if (want && limit != 0x7fffffff) want = g_set_cost(g, &a) <= limit;
            }
        }
        bool got = bits[id >> 6] >> (id & 63) & 1;
        if (want != got) {
            size_t len = hr_tokenizer_token_bytes(t, id, tb, sizeof tb);
            fail_msg("mask differs from brute force at token %d '%.*s': mask %d, brute force %d (budget %d, cost %d)", id,
                     (int)len, tb, got, want, budget, g_set_cost(g, cur));
        }
    }
    g_set_free(&a);
    g_set_free(&b);
    free(bits);
}

/* ---- generation with a uniform "model" ------------------------------------------------------ */

/* Draws a token among the allowed ones: uniformly, or the shortest of a few
 * draws (so structures close sometimes), or end-of-generation when allowed. */
static int32_t draw(const uint64_t *bits, size_t nw, int count, const hr_tokenizer *t) {
    int tries = rndn(3) == 0 ? 6 : 1;
    int32_t best = -1;
    size_t best_len = (size_t)-1;
    char tb[HR_TOK_MAX_TOKEN_BYTES];
    for (int k = 0; k < tries; k++) {
        int target = rndn(count), seen = 0;
        for (size_t w = 0; w < nw; w++) {
            int pc = __builtin_popcountll(bits[w]);
            if (seen + pc <= target) {
                seen += pc;
                continue;
            }
            uint64_t m = bits[w];
            for (int skip = target - seen; skip > 0; skip--) m &= m - 1;
            int32_t id = (int32_t)(w * 64 + (size_t)__builtin_ctzll(m));
            size_t len = hr_tokenizer_is_eog(t, id) ? 0 : hr_tokenizer_token_bytes(t, id, tb, sizeof tb);
            if (len < best_len) best = id, best_len = len;
            break;
        }
    }
    return best;
}

/* Generates under g; returns the text (caller frees). check_every > 0 runs the
 * brute-force comparison every that many steps. */
static char *generate(const hr_grammar *g, const hr_grammar_vocab *v, const hr_tokenizer *t, int budget, int check_every,
                      size_t *out_len) {
    char err[256];
    hr_grammar_state *st = hr_grammar_state_create(g, v, budget, err, sizeof err);
    if (!st) fail_msg("state: %s", err);
    int n = hr_tokenizer_n_vocab(t);
    size_t nw = ((size_t)n + 63) / 64;
    uint64_t *bits = calloc(nw, sizeof *bits);
    hr_buf out;
    hr_buf_init(&out, 0);
    char tb[HR_TOK_MAX_TOKEN_BYTES];
    float *logits = malloc((size_t)n * sizeof *logits);
    for (int step = 0;; step++) {
        if (check_every > 0 && step % check_every == 0) check_mask_bruteforce(st, t);
        int cnt = hr_grammar_allowed(st, bits, nw);
        if (cnt <= 0) fail_msg("nothing allowed at step %d after '%s'", step, out.data ? out.data : "");
        /* the float mask agrees with the bitset */
        if (step % 7 == 0) {
            for (int i = 0; i < n; i++) logits[i] = 0;
            assert_int_equal(hr_grammar_mask(st, logits, n), 0);
            for (int i = 0; i < n; i++) assert_int_equal(isinf(logits[i]) != 0, !(bits[i >> 6] >> (i & 63) & 1));
        }
        int32_t id = -1;
        if (hr_grammar_done(st) && rndn(4) == 0) {
            for (int i = 0; i < n && id < 0; i++)
                if (hr_tokenizer_is_eog(t, i) && (bits[i >> 6] >> (i & 63) & 1)) id = i;
        }
        if (id < 0) id = draw(bits, nw, cnt, t);
        assert_true(id >= 0);
        if (hr_grammar_accept(st, id) != 0) fail_msg("allowed token %d refused after '%s'", id, out.data ? out.data : "");
        if (hr_tokenizer_is_eog(t, id)) break;
        size_t len = hr_tokenizer_token_bytes(t, id, tb, sizeof tb);
        hr_buf_append(&out, tb, len);
        if (budget > 0 && step + 1 >= budget) break;
        if (step > 20000) fail_msg("runaway generation");
    }
    if (!hr_grammar_done(st)) fail_msg("generation ended incomplete: '%s'", out.data ? out.data : "");
    free(bits);
    free(logits);
    hr_grammar_state_free(st);
    *out_len = out.len;
    if (!out.data) return hr_xstrdup("");
    return hr_buf_steal(&out);
}

static void check_json_output(const cJSON *schema, const char *text, size_t len, const char *schema_txt) {
    if (!strict_json(text, len)) fail_msg("not strict JSON: '%.*s'\nschema %s", (int)len, text, schema_txt);
    cJSON *v = cJSON_ParseWithLength(text, len);
    if (!v) fail_msg("cJSON cannot parse: '%.*s'", (int)len, text);
    char why[256] = "";
    if (!validate(schema, v, schema, 0, why))
        fail_msg("invalid (%s): '%.*s'\nschema %s", why, (int)len, text, schema_txt);
    cJSON_Delete(v);
}

static int n_schemas(void) {
    const char *e = getenv("HR_GRAMMAR_PROPERTY_N");
    return e && atoi(e) > 0 ? atoi(e) : 40;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void property_on_vocab(const char *vocab_rel, uint64_t seed, int nsch) {
    rng_s = seed;
    hr_tokenizer *t = load_vocab(vocab_rel);
    hr_grammar_vocab *v = hr_grammar_vocab_create(t);
    int compiled = 0, outputs = 0;
    for (int i = 0; i < nsch; i++) {
        cJSON *schema = rand_root();
        char *txt = cJSON_PrintUnformatted(schema);
        char err[256];
        hr_grammar *g = hr_grammar_from_cjson(schema, err, sizeof err);
        if (!g) { /* random schemas can be unsatisfiable (e.g. an empty enum after type filtering) */
            if (!strstr(err, "cannot be satisfied")) fail_msg("schema %s: %s", txt, err);
            cJSON_free(txt);
            cJSON_Delete(schema);
            continue;
        }
        compiled++;
        int minb = hr_grammar_min_bytes(g);
        for (int r = 0; r < 3; r++) {
            int budget = r == 0 ? minb : minb + rndn(r == 1 ? 30 : 300);
            size_t len;
            char *out = generate(g, v, t, budget, (i < 3 || getenv("HR_GRAMMAR_BRUTE")) ? 5 : 0, &len);
            check_json_output(schema, out, len, txt);
            outputs++;
            free(out);
        }
        hr_grammar_free(g);
        cJSON_free(txt);
        cJSON_Delete(schema);
    }
    assert_true(compiled >= nsch / 2);
    print_message("%s: %d schemas compiled, %d outputs valid\n", vocab_rel, compiled, outputs);
    hr_grammar_vocab_free(v);
    hr_tokenizer_free(t);
}

static void test_property_gpt2(void **state) {
    (void)state;
    property_on_vocab("tokenizers/llama-vocab/ggml-vocab-gpt-2.gguf", 12345, n_schemas());
}

static void test_property_llama_spm(void **state) {
    (void)state;
    property_on_vocab("tokenizers/llama-vocab/ggml-vocab-llama-spm.gguf", 777, n_schemas() / 2);
}

static void test_json_object_masks(void **state) {
    (void)state;
    rng_s = 99;
    hr_tokenizer *t = load_vocab("tokenizers/llama-vocab/ggml-vocab-gpt-2.gguf");
    hr_grammar_vocab *v = hr_grammar_vocab_create(t);
    hr_grammar *g = hr_grammar_json_object();
    cJSON *obj = cJSON_Parse("{\"type\":\"object\"}");
    for (int r = 0; r < 6; r++) {
        size_t len;
        char *out = generate(g, v, t, 10 + rndn(200), r < 2 ? 4 : 0, &len);
        check_json_output(obj, out, len, "json_object");
        free(out);
    }
    /* a tight budget: exactly "{}" */
    size_t len;
    char *out = generate(g, v, t, 2, 1, &len);
    assert_string_equal(out, "{}");
    free(out);
    cJSON_Delete(obj);
    hr_grammar_free(g);
    hr_grammar_vocab_free(v);
    hr_tokenizer_free(t);
}

/* Parses Hermes tool-call output independently and validates every call. */
static void check_tools_output(const cJSON *tools, const char *text, hr_grammar_tool_choice ch, bool parallel) {
    const char *p = text, *first = strstr(text, "<tool_call>");
    if (ch == HR_GRAMMAR_TOOLS_REQUIRED && first != text) fail_msg("required: text before the call: '%s'", text);
    int calls = 0;
    p = first;
    while (p) {
        const char *body = p + strlen("<tool_call>");
        const char *end = strstr(body, "</tool_call>");
        if (!end) fail_msg("unterminated call: '%s'", text);
        if (!strict_json(body, (size_t)(end - body))) fail_msg("call body not JSON: '%s'", text);
        cJSON *call = cJSON_ParseWithLength(body, (size_t)(end - body));
        assert_non_null(call);
        assert_int_equal(cJSON_GetArraySize(call), 2);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(call, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(call, "arguments");
        assert_true(cJSON_IsString(name));
        assert_non_null(args);
        const cJSON *tool, *params = NULL;
        bool found = false;
        cJSON_ArrayForEach(tool, tools) {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring, name->valuestring))
                found = true, params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        }
        if (!found) fail_msg("unknown tool in '%s'", text);
        char why[256] = "";
        if (params && !validate(params, args, params, 0, why)) fail_msg("arguments invalid (%s): '%s'", why, text);
        cJSON_Delete(call);
        calls++;
        const char *after = end + strlen("</tool_call>");
        while (*after == ' ' || *after == '\n' || *after == '\t' || *after == '\r') after++;
        if (!*after) break;
        if (strncmp(after, "<tool_call>", 11)) fail_msg("text after calls: '%s'", text);
        p = after;
    }
    if (ch == HR_GRAMMAR_TOOLS_REQUIRED && calls == 0) fail_msg("required: no call in '%s'", text);
    if (!parallel && calls > 1) fail_msg("not parallel but %d calls: '%s'", calls, text);
}

static void test_property_tools(void **state) {
    (void)state;
    rng_s = 4242;
    hr_tokenizer *t = load_vocab("tokenizers/llama-vocab/ggml-vocab-gpt-2.gguf");
    hr_grammar_vocab *v = hr_grammar_vocab_create(t);
    static const char *const tnames[] = {"get_weather", "get_time", "get", "search_web", "send_email"};
    int ok = 0;
    for (int i = 0; i < n_schemas() / 2; i++) {
        cJSON *tools = cJSON_CreateArray();
        int nt = 1 + rndn(4);
        for (int k = 0; k < nt; k++) {
            cJSON *tool = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            cJSON_AddStringToObject(tool, "type", "function");
            cJSON_AddStringToObject(fn, "name", tnames[k]);
            cJSON *params = cJSON_CreateObject(), *props = cJSON_CreateObject(), *req = cJSON_CreateArray();
            cJSON_AddStringToObject(params, "type", "object");
            for (int q = rndn(4); q > 0; q--) {
                const char *nm = NAMES[rndn(NNAMES)];
                if (cJSON_GetObjectItemCaseSensitive(props, nm)) continue;
                cJSON_AddItemToObject(props, nm, rand_schema(1, 0));
                if (rndn(2)) cJSON_AddItemToArray(req, cJSON_CreateString(nm));
            }
            cJSON_AddItemToObject(params, "properties", props);
            cJSON_AddItemToObject(params, "required", req);
            if (rndn(2)) cJSON_AddFalseToObject(params, "additionalProperties");
            cJSON_AddItemToObject(fn, "parameters", params);
            cJSON_AddItemToObject(tool, "function", fn);
            cJSON_AddItemToArray(tools, tool);
        }
        hr_grammar_tool_choice ch = rndn(2) ? HR_GRAMMAR_TOOLS_AUTO : HR_GRAMMAR_TOOLS_REQUIRED;
        bool parallel = rndn(2);
        char err[256];
        hr_grammar *g = hr_grammar_from_tools(tools, ch, NULL, parallel, err, sizeof err);
        if (!g) {
            if (!strstr(err, "cannot be satisfied")) fail_msg("tools: %s", err);
            cJSON_Delete(tools);
            continue;
        }
        int minb = hr_grammar_min_bytes(g);
        size_t len;
        char *out = generate(g, v, t, minb + 20 + rndn(300), (i < 2 || getenv("HR_GRAMMAR_BRUTE")) ? 6 : 0, &len);
        check_tools_output(tools, out, ch, parallel);
        free(out);
        ok++;
        hr_grammar_free(g);
        cJSON_Delete(tools);
    }
    assert_true(ok > 0);
    hr_grammar_vocab_free(v);
    hr_tokenizer_free(t);
}

/* Masks equal brute force in the states the fast paths special-case, under
 * no budget, a loose one and a tight one. */
static void test_mask_special_states(void **state) {
    (void)state;
    hr_tokenizer *t = load_vocab("tokenizers/llama-vocab/ggml-vocab-gpt-2.gguf");
    hr_grammar_vocab *v = hr_grammar_vocab_create(t);
    char err[256];
    cJSON *tools = cJSON_Parse("[{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":"
                               "{\"type\":\"object\",\"properties\":{\"tz\":{\"type\":\"string\"}}}}}]");
    hr_grammar *gt = hr_grammar_from_tools(tools, HR_GRAMMAR_TOOLS_AUTO, NULL, true, err, sizeof err);
    hr_grammar *gs = hr_grammar_from_schema(
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"names\":{\"type\":\"array\"},"
        "\"n\":{\"type\":\"number\"}},\"required\":[\"n\"]}", err, sizeof err);
    hr_grammar *gc = hr_grammar_from_schema(
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"id\":{\"type\":\"integer\"}},"
        "\"additionalProperties\":false}", err, sizeof err);
    assert_non_null(gt);
    assert_non_null(gs);
    assert_non_null(gc);
    static const struct { int g; const char *prefix; } cases[] = {
        {0, ""}, {0, "Hi <"}, {0, "Hi <tool"}, {0, "<tool_call"}, {0, "<<"}, {0, "a <tool_call>\n{\"name\": \"get_time\", "},
        {0, "<tool_call>{\"name\":\"get_time\",\"arguments\":{\"tz\":\"\\u00"}, {0, "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call>"},
        {1, "{\""}, {1, "{\"na"}, {1, "{\"name"}, {1, "{\"zz"}, {1, "{\"zz\xc3"}, {1, "{\"n\": 1, \""},
        {1, "{\"name\": \"\xe2\x82"}, {1, "{\"name\": \"\\"}, {1, "{\"name\": \"x\\u"}, {1, "{\"n\": 12"}, {1, "{\"n\": 1.5e"},
        {1, "{\"n\": 1, \"names\": [\"a\", {\"b"}, {2, "{\""}, {2, "{\"na"}, {2, "{\"name\":\"x\","}, {2, "{\"id\": -"},
    };
    const hr_grammar *gg[3] = {gt, gs, gc};
    static const int budgets[] = {0, 12, 3};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
            const hr_grammar *g = gg[cases[i].g];
            int bud = budgets[b] && budgets[b] < hr_grammar_min_bytes(g) ? hr_grammar_min_bytes(g) : budgets[b];
            hr_grammar_state *st = hr_grammar_state_create(g, v, bud, err, sizeof err);
            assert_non_null(st);
            if (hr_grammar_accept_bytes(st, cases[i].prefix, strlen(cases[i].prefix)) != 0) fail_msg("prefix %s", cases[i].prefix);
            check_mask_bruteforce(st, t);
            if (b == 0) check_mask_bruteforce(st, t); /* again: from the cache */
            hr_grammar_state_free(st);
        }
    hr_grammar_free(gt);
    hr_grammar_free(gs);
    hr_grammar_free(gc);
    cJSON_Delete(tools);
    hr_grammar_vocab_free(v);
    hr_tokenizer_free(t);
}

/* A random-weight synthetic llama (tiny shape, its SentencePiece-style vocab
 * with byte tokens) sampling through hr_sampler with the grammar mask hook. */
static void test_synthetic_model(void **state) {
    (void)state;
    char path[] = "/tmp/hr_grammar_synth_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    hr_synth_params sp = hr_synth_default_params();
    sp.shape = "tiny";
    sp.type = "f32";
    sp.seed = 7;
    char err[256];
    if (hr_synth_write(&sp, path, err, sizeof err) != 0) fail_msg("synth: %s", err);
    hr_model *m = hr_model_load(path, err, sizeof err);
    if (!m) fail_msg("load: %s", err);
    hr_tokenizer *t = hr_tokenizer_from_gguf(hr_model_gguf(m), err, sizeof err);
    assert_non_null(t);
    hr_grammar_vocab *v = hr_grammar_vocab_create(t);
    hr_ctx_params cp = hr_ctx_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 1;
    hr_ctx *ctx = hr_ctx_create(m, &cp, err, sizeof err);
    assert_non_null(ctx);
    int nv = hr_model_get_info(m)->n_vocab;
    rng_s = 31337;
    int valid = 0;
    for (int i = 0; i < n_schemas() / 2; i++) {
        cJSON *schema = rand_root();
        hr_grammar *g = hr_grammar_from_cjson(schema, err, sizeof err);
        if (!g) {
            cJSON_Delete(schema);
            continue;
        }
        int budget = hr_grammar_min_bytes(g) + rndn(120);
        if (budget > 400) budget = 400;
        if (budget < hr_grammar_min_bytes(g)) {
            hr_grammar_free(g);
            cJSON_Delete(schema);
            continue;
        }
        hr_grammar_state *st = hr_grammar_state_create(g, v, budget, err, sizeof err);
        assert_non_null(st);
        hr_sampler_params pp = hr_sampler_default_params();
        pp.temperature = 1.0f;
        pp.seed = (uint64_t)i;
        hr_sampler *s = hr_sampler_create(&pp, nv);
        hr_sampler_set_mask(s, hr_grammar_mask_fn, st);
        hr_ctx_seq_truncate(ctx, 0, 0);
        hr_batch_entry e = {.token = hr_tokenizer_bos(t) >= 0 ? hr_tokenizer_bos(t) : 0, .pos = 0, .seq = 0, .logits = true};
        hr_buf out;
        hr_buf_init(&out, 0);
        char tb[HR_TOK_MAX_TOKEN_BYTES];
        for (int step = 0; step < budget; step++) {
            assert_int_equal(hr_ctx_decode(ctx, &e, 1, err, sizeof err), 1);
            int32_t tok = hr_sampler_sample(s, hr_ctx_logits(ctx, 0), NULL);
            assert_true(tok >= 0);
            assert_int_equal(hr_grammar_accept(st, tok), 0);
            if (hr_grammar_ended(st)) break;
            size_t len = hr_tokenizer_token_bytes(t, tok, tb, sizeof tb);
            hr_buf_append(&out, tb, len);
            e.token = tok;
            e.pos++;
        }
        assert_true(hr_grammar_done(st));
        char *txt = cJSON_PrintUnformatted(schema);
        check_json_output(schema, out.data ? out.data : "", out.len, txt);
        valid++;
        cJSON_free(txt);
        hr_buf_free(&out);
        hr_sampler_free(s);
        hr_grammar_state_free(st);
        hr_grammar_free(g);
        cJSON_Delete(schema);
    }
    assert_true(valid > 0);
    hr_ctx_free(ctx);
    hr_grammar_vocab_free(v);
    hr_tokenizer_free(t);
    hr_model_free(m);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_special_states),
        cmocka_unit_test(test_json_object_masks), cmocka_unit_test(test_property_gpt2),
        cmocka_unit_test(test_property_llama_spm), cmocka_unit_test(test_property_tools),
        cmocka_unit_test(test_synthetic_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
