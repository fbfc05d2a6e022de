/* Token masks: the vocab byte trie, the per-sequence state, and the walk of
 * the trie together with the automaton (grammar.h has the contract).
 *
 * Mask of a state S = union over its threads:
 *   - a thread inside a string / key / free text in its base state ("fast
 *     class"): the precomputed set of tokens that stay inside (bitset OR),
 *     plus walks of only the trie subtrees that leave it: the nodes right
 *     after the closing byte (" or <), precomputed per class;
 *   - any other thread: a walk of the whole trie, pruning a subtree as soon
 *     as its prefix kills the thread.
 * With a finite budget every token end is also checked against it (the
 * state after the token must be completable in the tokens left); for the
 * precomputed sets a per-thread upper bound is used, and the thread falls
 * back to the exact walk when the bound does not fit. Masks are cached per
 * exact state with the largest completion cost they lead to. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/grammar_int.h"

#define N_CACHE 16
#define NO_LIMIT 0x7fffffff

typedef struct v_node {
    int32_t child;  /* first child (contiguous, sorted by byte) */
    int32_t tok0;   /* tokens spelled exactly by this path: sorted[tok0 .. tok0+ntok) */
    int32_t ntok;
    int32_t rep;    /* a token id below (its first depth bytes are the path) */
    int32_t tok_end; /* tokens of the whole subtree: sorted[tok0 .. tok_end) */
    uint16_t nchild;
    uint16_t depth;
    uint8_t byte;
} v_node;

struct hr_grammar_vocab {
    const hr_tokenizer *tok;
    int32_t n;
    size_t nwords;
    uint8_t *blob;
    uint32_t *off;
    uint16_t *len;
    int32_t *sorted;
    int n_sorted;
    v_node *nodes;
    int n_nodes, cap_nodes;
    int max_len;
    int32_t *eog;
    int n_eog;
    uint64_t *fast_a[FC_N];          /* union of fast_p[cls][0..4] */
    uint64_t *fast_p[FC_N][5];       /* by bytes pending at the token's end (UTF-8 / escape) */
    int fast_maxp[FC_N];             /* largest pending with a token */
    int32_t *fast_u[FC_N];
    int n_u[FC_N], cap_u[FC_N];
};

typedef struct cache_entry {
    uint64_t hash, tick;
    uint8_t *key;
    size_t keylen;
    uint64_t *bits;
    int maxd; /* -1: unknown (computed without a budget) */
    bool valid;
} cache_entry;

struct hr_grammar_state {
    const hr_grammar *g;
    const hr_grammar_vocab *v;
    g_set cur, t1, t2, t3, gen;
    int budget;
    bool ended;
    g_set *walk;
    int n_walk;
    cache_entry cache[N_CACHE];
    uint64_t tick, hits, computed;
    uint8_t *keybuf;
    size_t keycap;
    /* walk parameters */
    uint64_t *bits;
    int limit, maxd;
    bool dropped;
};

/* ---- vocab ---------------------------------------------------------------------- */

static int tok_cmp(const void *a, const void *b, void *ud) {
    const hr_grammar_vocab *v = ud;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint16_t lx = v->len[x], ly = v->len[y];
    int r = memcmp(v->blob + v->off[x], v->blob + v->off[y], lx < ly ? lx : ly);
    if (r) return r;
    if (lx != ly) return lx < ly ? -1 : 1;
    return (x > y) - (x < y);
}

static int32_t vnode_new(hr_grammar_vocab *v) {
    if (v->n_nodes == v->cap_nodes) {
        v->cap_nodes = v->cap_nodes ? v->cap_nodes * 2 : 1024;
        v->nodes = hr_xrealloc(v->nodes, (size_t)v->cap_nodes * sizeof *v->nodes);
    }
    memset(&v->nodes[v->n_nodes], 0, sizeof v->nodes[0]);
    return v->n_nodes++;
}

static const uint8_t *tbytes(const hr_grammar_vocab *v, int32_t id) { return v->blob + v->off[id]; }

static void trie_fill(hr_grammar_vocab *v, int32_t slot, int lo, int hi, int depth) {
    v->nodes[slot].depth = (uint16_t)depth;
    v->nodes[slot].rep = v->sorted[lo];
    int i = lo;
    while (i < hi && v->len[v->sorted[i]] == depth) i++;
    v->nodes[slot].tok0 = lo;
    v->nodes[slot].ntok = i - lo;
    v->nodes[slot].tok_end = hi;
    int nchild = 0;
    for (int j = i; j < hi;) {
        uint8_t b = tbytes(v, v->sorted[j])[depth];
        while (j < hi && tbytes(v, v->sorted[j])[depth] == b) j++;
        nchild++;
    }
    int32_t first = v->n_nodes;
    for (int k = 0; k < nchild; k++) vnode_new(v);
    v->nodes[slot].child = first;
    v->nodes[slot].nchild = (uint16_t)nchild;
    int k = 0;
    for (int j = i; j < hi; k++) {
        uint8_t b = tbytes(v, v->sorted[j])[depth];
        int s = j;
        while (j < hi && tbytes(v, v->sorted[j])[depth] == b) j++;
        v->nodes[first + k].byte = b;
        trie_fill(v, first + k, s, j, depth + 1);
    }
}

static void set_bit(uint64_t *w, int32_t i) { w[i >> 6] |= 1ull << (i & 63); }

static void add_u(hr_grammar_vocab *v, int cls, int32_t node) {
    if (v->n_u[cls] == v->cap_u[cls]) {
        v->cap_u[cls] = v->cap_u[cls] ? v->cap_u[cls] * 2 : 256;
        v->fast_u[cls] = hr_xrealloc(v->fast_u[cls], (size_t)v->cap_u[cls] * sizeof(int32_t));
    }
    v->fast_u[cls][v->n_u[cls]++] = node;
}

/* Classifies the tokens below node for a fast class; sub = string substate. */
static void fast_scan(hr_grammar_vocab *v, int cls, int32_t node, int sub) {
    const v_node *nd = &v->nodes[node];
    if (node != 0 && nd->ntok) {
        int p = g_str_pending(sub);
        if (p > v->fast_maxp[cls]) v->fast_maxp[cls] = p;
        for (int k = 0; k < nd->ntok; k++) {
            set_bit(v->fast_a[cls], v->sorted[nd->tok0 + k]);
            set_bit(v->fast_p[cls][p], v->sorted[nd->tok0 + k]);
        }
    }
    int32_t child = nd->child;
    int nchild = nd->nchild;
    for (int k = 0; k < nchild; k++) {
        uint8_t c = v->nodes[child + k].byte;
        if (cls == FC_TEXT) {
            if (c == '<') add_u(v, cls, child + k);
            else fast_scan(v, cls, child + k, 0);
            continue;
        }
        int r = g_str_step(sub, c, cls == FC_STR);
        if (r == STR_CLOSE) add_u(v, cls, child + k);
        else if (r >= 0) fast_scan(v, cls, child + k, r);
    }
}

hr_grammar_vocab *hr_grammar_vocab_create(const hr_tokenizer *t) {
    if (!t) return NULL;
    hr_grammar_vocab *v = hr_xcalloc(1, sizeof *v);
    v->tok = t;
    v->n = hr_tokenizer_n_vocab(t);
    v->nwords = ((size_t)v->n + 63) / 64;
    v->off = hr_xcalloc((size_t)v->n + 1, sizeof *v->off);
    v->len = hr_xcalloc((size_t)v->n + 1, sizeof *v->len);
    v->sorted = hr_xcalloc((size_t)v->n + 1, sizeof *v->sorted);
    v->eog = hr_xcalloc((size_t)v->n + 1, sizeof *v->eog);
    hr_buf blob;
    hr_buf_init(&blob, 0);
    char tmp[HR_TOK_MAX_TOKEN_BYTES];
    for (int32_t id = 0; id < v->n; id++) {
        v->off[id] = (uint32_t)blob.len;
        if (hr_tokenizer_is_eog(t, id)) {
            v->eog[v->n_eog++] = id;
            continue;
        }
        hr_tok_type ty = hr_tokenizer_token_type(t, id);
        if (ty == HR_TOK_TYPE_CONTROL || ty == HR_TOK_TYPE_UNKNOWN || ty == HR_TOK_TYPE_UNUSED) continue;
        size_t n = hr_tokenizer_token_bytes(t, id, tmp, sizeof tmp);
        if (n == 0 || n > sizeof tmp) continue;
        hr_buf_append(&blob, tmp, n);
        v->len[id] = (uint16_t)n;
        v->sorted[v->n_sorted++] = id;
        if ((int)n > v->max_len) v->max_len = (int)n;
    }
    v->blob = (uint8_t *)hr_buf_steal(&blob);
    if (!v->blob) v->blob = hr_xcalloc(1, 1);
    qsort_r(v->sorted, (size_t)v->n_sorted, sizeof *v->sorted, tok_cmp, v);
    int32_t root = vnode_new(v);
    if (v->n_sorted) trie_fill(v, root, 0, v->n_sorted, 0);
    for (int c = 0; c < FC_N; c++) {
        v->fast_a[c] = hr_xcalloc(v->nwords ? v->nwords : 1, sizeof(uint64_t));
        for (int p = 0; p < 5; p++) v->fast_p[c][p] = hr_xcalloc(v->nwords ? v->nwords : 1, sizeof(uint64_t));
        if (v->n_sorted) fast_scan(v, c, 0, 0);
    }
    return v;
}

void hr_grammar_vocab_free(hr_grammar_vocab *v) {
    if (!v) return;
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->sorted);
    free(v->nodes);
    free(v->eog);
    for (int c = 0; c < FC_N; c++) {
        free(v->fast_a[c]);
        free(v->fast_u[c]);
        for (int p = 0; p < 5; p++) free(v->fast_p[c][p]);
    }
    free(v);
}

int32_t hr_grammar_vocab_n(const hr_grammar_vocab *v) { return v ? v->n : 0; }

/* ---- state ------------------------------------------------------------------------- */

hr_grammar_state *hr_grammar_state_create(const hr_grammar *g, const hr_grammar_vocab *v, int max_tokens,
                                          char *err, size_t errsz) {
    if (!g) return NULL;
    int need = hr_grammar_min_bytes(g);
    if (max_tokens > 0 && max_tokens < need) {
        if (err && errsz) snprintf(err, errsz, "max_tokens %d is too small for the schema (needs at least %d)", max_tokens, need);
        return NULL;
    }
    hr_grammar_state *st = hr_xcalloc(1, sizeof *st);
    st->g = g;
    st->v = v;
    st->budget = max_tokens > 0 ? max_tokens : NO_LIMIT;
    g_set_start(g, &st->cur);
    if (v) {
        st->n_walk = v->max_len + 3;
        st->walk = hr_xcalloc((size_t)st->n_walk, sizeof *st->walk);
        st->bits = hr_xcalloc(v->nwords ? v->nwords : 1, sizeof(uint64_t));
    }
    return st;
}

void hr_grammar_state_free(hr_grammar_state *st) {
    if (!st) return;
    g_set_free(&st->cur);
    g_set_free(&st->t1);
    g_set_free(&st->t2);
    g_set_free(&st->t3);
    g_set_free(&st->gen);
    for (int i = 0; i < st->n_walk; i++) g_set_free(&st->walk[i]);
    free(st->walk);
    for (int i = 0; i < N_CACHE; i++) {
        free(st->cache[i].key);
        free(st->cache[i].bits);
    }
    free(st->keybuf);
    free(st->bits);
    free(st);
}

const g_set *g_state_cur(const hr_grammar_state *st) { return &st->cur; }
const hr_grammar *g_state_grammar(const hr_grammar_state *st) { return st->g; }

bool hr_grammar_done(const hr_grammar_state *st) { return st->ended || g_set_complete(st->g, &st->cur); }
bool hr_grammar_ended(const hr_grammar_state *st) { return st->ended; }
int hr_grammar_remaining(const hr_grammar_state *st) { return st->ended ? 0 : g_set_cost(st->g, &st->cur); }
int hr_grammar_budget(const hr_grammar_state *st) { return st->budget; }
void hr_grammar_state_stats(const hr_grammar_state *st, uint64_t *hits, uint64_t *computed) {
    if (hits) *hits = st->hits;
    if (computed) *computed = st->computed;
}

/* ---- walking ---------------------------------------------------------------------------- */

static void walk_node(hr_grammar_state *st, int32_t node, const g_set *s);

static void allow_node(hr_grammar_state *st, const v_node *nd, int cost) {
    if (st->limit != NO_LIMIT) {
        if (cost > st->limit) {
            st->dropped = true;
            return;
        }
        if (cost > st->maxd) st->maxd = cost;
    }
    for (int k = 0; k < nd->ntok; k++) set_bit(st->bits, st->v->sorted[nd->tok0 + k]);
}

/* Walks below node while the single thread s[0] stays inside its simple top
 * frame, tracking only the frame's substate. */
static void walk_simple(hr_grammar_state *st, int32_t node, const g_set *s, int kind, int sub) {
    const hr_grammar_vocab *v = st->v;
    const v_node *nd = &v->nodes[node];
    if (nd->ntok && node != 0)
        allow_node(st, nd, st->limit == NO_LIMIT ? 0 : g_thread_cost_sub(st->g, s, 0, kind, sub));
    int32_t child = nd->child;
    int nchild = nd->nchild;
    for (int k = 0; k < nchild; k++) {
        uint8_t c = v->nodes[child + k].byte;
        int r = g_simple_step(kind, sub, c);
        if (r >= 0) walk_simple(st, child + k, s, kind, r);
        else if (r == SIMPLE_EXIT) {
            /* the child's state goes to walk[depth + 1] (walk_node's convention); the
             * scratch copy to walk[depth + 2], which the child's walk may reuse */
            g_set *tmp = &st->walk[nd->depth + 2], *nx = &st->walk[nd->depth + 1];
            g_thread_set_sub(st->g, s, 0, kind, sub, tmp);
            if (g_set_step(st->g, tmp, c, nx) > 0) walk_node(st, child + k, nx);
        }
    }
}

static void walk_node(hr_grammar_state *st, int32_t node, const g_set *s) {
    const hr_grammar_vocab *v = st->v;
    const v_node *nd = &v->nodes[node];
    int sub, kind;
    if (s->n == 1 && (kind = g_thread_simple(st->g, s, 0, &sub)) >= 0) {
        walk_simple(st, node, s, kind, sub);
        return;
    }
    if (nd->ntok) {
        bool allow = true;
        if (st->limit != NO_LIMIT) {
            int d = g_set_cost(st->g, s);
            if (d > st->limit) allow = false, st->dropped = true;
            else if (d > st->maxd) st->maxd = d;
        }
        if (allow)
            for (int k = 0; k < nd->ntok; k++) set_bit(st->bits, v->sorted[nd->tok0 + k]);
    }
    if (!nd->nchild) return;
    g_set *nx = &st->walk[nd->depth + 1];
    int32_t child = nd->child;
    int nchild = nd->nchild;
    for (int k = 0; k < nchild; k++)
        if (g_set_step(st->g, s, v->nodes[child + k].byte, nx) > 0) walk_node(st, child + k, nx);
}

/* Walks the U subtrees of a fast class for thread i (path-independent: the
 * state after the closing byte is the same for every path). Skips U nodes
 * under root child `skip` (-1: none). */
static void fast_u_walk(hr_grammar_state *st, int cls, int i, int skip) {
    const hr_grammar_vocab *v = st->v;
    uint8_t close = cls == FC_TEXT ? '<' : '"';
    st->t1.n = st->t1.used = 0;
    g_thread_set_sub(st->g, &st->cur, i, cls, 0, &st->t3);
    if (g_thread_step(st->g, &st->t3, 0, close, &st->t1) == 0) return;
    for (int k = 0; k < v->n_u[cls]; k++) {
        int32_t u = v->fast_u[cls][k];
        if (skip >= 0 && tbytes(v, v->nodes[u].rep)[0] == skip) continue;
        walk_node(st, u, &st->t1);
    }
}

/* ORs the fast class's precomputed tokens whose end state fits the budget. */
static void fast_or(hr_grammar_state *st, int cls, int i, int limit) {
    const hr_grammar_vocab *v = st->v;
    if (limit == NO_LIMIT) {
        for (size_t w = 0; w < v->nwords; w++) st->bits[w] |= v->fast_a[cls][w];
        return;
    }
    int base = g_thread_cost_sub(st->g, &st->cur, i, cls, 0); /* cost grows by the pending bytes */
    for (int p = 0; p <= v->fast_maxp[cls]; p++) {
        if (base + p > limit) {
            st->dropped = true;
            continue;
        }
        if (base + p > st->maxd) st->maxd = base + p;
        const uint64_t *a = v->fast_p[cls][p];
        for (size_t w = 0; w < v->nwords; w++) st->bits[w] |= a[w];
    }
}

static void compute_mask(hr_grammar_state *st, int limit) {
    const hr_grammar *g = st->g;
    const hr_grammar_vocab *v = st->v;
    memset(st->bits, 0, v->nwords * sizeof(uint64_t));
    st->limit = limit;
    st->maxd = 0;
    st->dropped = false;
    g_set *gen = &st->gen;
    gen->n = gen->used = 0;
    for (int i = 0; i < st->cur.n; i++) {
        bool path_free;
        int cls = g_thread_fast_class(g, &st->cur, i, &path_free);
        int text_m = cls == FC_NONE && st->cur.n == 1 ? g_thread_text_match(g, &st->cur, 0) : -1;
        if (text_m > 0) {
            /* free text after a partial "<tool_call>": every token that does not
             * start with the tag's next byte acts as from the base state */
            uint8_t nextb = (uint8_t)g_tool_open_byte(text_m);
            fast_or(st, FC_TEXT, i, limit);
            fast_u_walk(st, FC_TEXT, i, nextb);
            const v_node *root = &v->nodes[0];
            for (int k = 0; k < root->nchild; k++) {
                const v_node *ch = &v->nodes[root->child + k];
                if (ch->byte != nextb) continue;
                for (int32_t j = ch->tok0; j < ch->tok_end; j++) {
                    int32_t id = v->sorted[j];
                    st->bits[id >> 6] &= ~(1ull << (id & 63));
                }
                if (g_set_step(g, &st->cur, nextb, &st->walk[1]) > 0) walk_node(st, root->child + k, &st->walk[1]);
            }
            continue;
        }
        if (cls == FC_KEY && !path_free) {
            /* key still on the declared-names trie: content tokens are fine within
             * the bound; closing ones are stepped path by path */
            if (limit != NO_LIMIT) {
                int ub = g_thread_fast_ub(g, &st->cur, i, cls);
                if (ub > limit) {
                    g_set_add_thread(gen, &st->cur, i);
                    continue;
                }
                if (ub > st->maxd) st->maxd = ub;
            }
            for (size_t w = 0; w < v->nwords; w++) st->bits[w] |= v->fast_a[cls][w];
            for (int k = 0; k < v->n_u[cls]; k++) {
                int32_t u = v->fast_u[cls][k];
                const uint8_t *p = tbytes(v, v->nodes[u].rep);
                int depth = v->nodes[u].depth;
                st->t1.n = st->t1.used = 0;
                if (g_thread_step(g, &st->cur, i, p[0], &st->t1) == 0) continue;
                g_set *a1 = &st->t1, *b1 = &st->t2;
                int j = 1;
                for (; j < depth; j++) {
                    if (g_set_step(g, a1, p[j], b1) == 0) break;
                    g_set *x = a1;
                    a1 = b1, b1 = x;
                }
                if (j == depth) walk_node(st, u, a1);
            }
            continue;
        }
        if (cls == FC_NONE) {
            g_set_add_thread(gen, &st->cur, i);
            continue;
        }
        fast_or(st, cls, i, limit);
        fast_u_walk(st, cls, i, -1);
    }
    if (gen->n) walk_node(st, 0, gen);
    if (g_set_complete(g, &st->cur))
        for (int k = 0; k < v->n_eog; k++) set_bit(st->bits, v->eog[k]);
}

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Serializes the current state (the cache key). */
static size_t state_key(hr_grammar_state *st) {
    const g_set *s = &st->cur;
    size_t need = sizeof(int) + (size_t)s->n * sizeof(uint16_t) + (size_t)s->used * sizeof(g_frame);
    if (need > st->keycap) {
        st->keycap = need * 2;
        st->keybuf = hr_xrealloc(st->keybuf, st->keycap);
    }
    uint8_t *p = st->keybuf;
    memcpy(p, &s->n, sizeof(int));
    p += sizeof(int);
    for (int i = 0; i < s->n; i++) {
        memcpy(p, &s->len[i], sizeof(uint16_t));
        p += sizeof(uint16_t);
    }
    for (int i = 0; i < s->n; i++) {
        memcpy(p, s->pool + s->off[i], (size_t)s->len[i] * sizeof(g_frame));
        p += (size_t)s->len[i] * sizeof(g_frame);
    }
    return (size_t)(p - st->keybuf);
}

/* Leaves the allowed set in st->bits (or a cache entry's bits, returned). */
static const uint64_t *mask_bits(hr_grammar_state *st) {
    const hr_grammar_vocab *v = st->v;
    if (st->ended) {
        memset(st->bits, 0, v->nwords * sizeof(uint64_t));
        return st->bits;
    }
    int limit = st->budget == NO_LIMIT ? NO_LIMIT : st->budget - 1;
    if (limit < 0) { /* nothing but the end, if complete */
        memset(st->bits, 0, v->nwords * sizeof(uint64_t));
        if (g_set_complete(st->g, &st->cur))
            for (int k = 0; k < v->n_eog; k++) set_bit(st->bits, v->eog[k]);
        return st->bits;
    }
    size_t klen = state_key(st);
    uint64_t h = fnv(st->keybuf, klen);
    cache_entry *hit = NULL, *victim = &st->cache[0];
    for (int i = 0; i < N_CACHE; i++) {
        cache_entry *e = &st->cache[i];
        if (e->valid && e->hash == h && e->keylen == klen && !memcmp(e->key, st->keybuf, klen)) hit = e;
        if (!e->valid) {
            if (victim->valid) victim = e;
        } else if (victim->valid && e->tick < victim->tick) victim = e;
    }
    if (hit && (limit == NO_LIMIT || (hit->maxd >= 0 && hit->maxd <= limit))) {
        hit->tick = ++st->tick;
        st->hits++;
        return hit->bits;
    }
    compute_mask(st, limit);
    st->computed++;
    if (st->dropped) return st->bits; /* budget-specific: not reusable */
    cache_entry *e = hit ? hit : victim;
    if (!e->bits) e->bits = hr_xmalloc(v->nwords * sizeof(uint64_t));
    if (e->keylen < klen || !e->key) e->key = hr_xrealloc(e->key, klen);
    memcpy(e->key, st->keybuf, klen);
    memcpy(e->bits, st->bits, v->nwords * sizeof(uint64_t));
    e->keylen = klen;
    e->hash = h;
    e->maxd = limit == NO_LIMIT ? -1 : st->maxd;
    e->valid = true;
    e->tick = ++st->tick;
    return e->bits;
}

int hr_grammar_allowed(hr_grammar_state *st, uint64_t *words, size_t nwords) {
    if (!st->v) return -1;
    const uint64_t *b = mask_bits(st);
    int cnt = 0;
    for (size_t w = 0; w < nwords; w++) {
        words[w] = w < st->v->nwords ? b[w] : 0;
        cnt += __builtin_popcountll(words[w]);
    }
    return cnt;
}

int hr_grammar_mask(hr_grammar_state *st, float *logits, int n_vocab) {
    if (!st->v) return -1;
    const uint64_t *b = mask_bits(st);
    const hr_grammar_vocab *v = st->v;
    int any = 0;
    for (int w = 0; (size_t)w * 64 < (size_t)n_vocab; w++) {
        uint64_t m = (size_t)w < v->nwords ? b[w] : 0;
        int base = w * 64, end = base + 64 < n_vocab ? base + 64 : n_vocab;
        if (m == ~0ull && end - base == 64) {
            any = 1;
            continue;
        }
        if (m) any = 1;
        for (int i = base; i < end; i++)
            if (!(m >> (i - base) & 1)) logits[i] = -INFINITY;
    }
    return any ? 0 : -1;
}

int hr_grammar_mask_fn(void *ud, float *logits, int n_vocab) { return hr_grammar_mask(ud, logits, n_vocab); }

static int step_bytes(hr_grammar_state *st, const uint8_t *p, size_t n) {
    g_set *a = &st->t1, *b = &st->t2;
    g_set_copy(a, &st->cur);
    for (size_t i = 0; i < n; i++) {
        if (g_set_step(st->g, a, p[i], b) == 0) return -1;
        g_set *x = a;
        a = b, b = x;
    }
    g_set_copy(&st->cur, a);
    return 0;
}

int hr_grammar_accept(hr_grammar_state *st, int32_t token) {
    const hr_grammar_vocab *v = st->v;
    if (!v || st->ended || token < 0 || token >= v->n) return -1;
    for (int k = 0; k < v->n_eog; k++)
        if (v->eog[k] == token) {
            if (!g_set_complete(st->g, &st->cur)) return -1;
            st->ended = true;
            return 0;
        }
    if (v->len[token] == 0) return -1;
    if (step_bytes(st, tbytes(v, token), v->len[token]) < 0) return -1;
    if (st->budget != NO_LIMIT) st->budget--;
    return 0;
}

int hr_grammar_accept_bytes(hr_grammar_state *st, const char *bytes, size_t len) {
    if (st->ended) return -1;
    return step_bytes(st, (const uint8_t *)bytes, len);
}
