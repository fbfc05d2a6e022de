/* Token sampling (see engine.h): penalties -> mask -> logprobs -> greedy, or
 * temperature + top-k + top-p + min-p and a seeded draw.
 *
 * Without top-k, candidates are the tokens whose scaled logit is within 20 of
 * the best (a probability ratio below 2e-9 is dropped), so a 128k vocab is
 * not sorted on every step; the distribution changes by less than n*2e-9. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/engine.h"

#define MAX_PENALTY_N 4096
#define CAND_WINDOW 20.0f

typedef struct cand {
    int32_t id;
    float v; /* logit, then probability */
} cand;

struct hr_sampler {
    hr_sampler_params p;
    int n_vocab;
    float *work;    /* [n_vocab] */
    cand *cands;    /* [n_vocab] */
    int32_t *hist;  /* ring of the last penalty_last_n tokens */
    int hist_n, hist_pos;
    uint16_t *count; /* [n_vocab] occurrences within the window (scratch) */
    uint64_t rng;
    hr_token_mask_fn mask;
    void *mask_ud;
    hr_logit_bias *bias; /* own copy of p.logit_bias, ids checked */
    int n_bias;
};

hr_sampler_params hr_sampler_default_params(void) {
    hr_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = 64;
    p.seed = 0x5eed;
    return p;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

hr_sampler *hr_sampler_create(const hr_sampler_params *pp, int n_vocab) {
    hr_sampler *s = hr_xcalloc(1, sizeof *s);
    s->p = pp ? *pp : hr_sampler_default_params();
    if (s->p.penalty_last_n < 0) s->p.penalty_last_n = 0;
    if (s->p.penalty_last_n > MAX_PENALTY_N) s->p.penalty_last_n = MAX_PENALTY_N;
    if (s->p.n_logprobs < 0) s->p.n_logprobs = 0;
    if (s->p.n_logprobs > 20) s->p.n_logprobs = 20;
    if (n_vocab < 1) n_vocab = 1;
    s->n_vocab = n_vocab;
    s->work = hr_xmalloc((size_t)n_vocab * sizeof(float));
    s->cands = hr_xmalloc((size_t)n_vocab * sizeof(cand));
    s->count = hr_xcalloc((size_t)n_vocab, sizeof(uint16_t));
    s->hist = hr_xmalloc((size_t)(s->p.penalty_last_n ? s->p.penalty_last_n : 1) * sizeof(int32_t));
    s->rng = s->p.seed;
    int nb = s->p.n_logit_bias < HR_MAX_LOGIT_BIAS ? s->p.n_logit_bias : HR_MAX_LOGIT_BIAS;
    if (s->p.logit_bias && nb > 0) {
        s->bias = hr_xmalloc((size_t)nb * sizeof *s->bias);
        for (int i = 0; i < nb; i++)
            if (s->p.logit_bias[i].token >= 0 && s->p.logit_bias[i].token < n_vocab)
                s->bias[s->n_bias++] = s->p.logit_bias[i];
    }
    s->p.logit_bias = NULL; /* the caller's array need not outlive create */
    s->p.n_logit_bias = 0;
    return s;
}

void hr_sampler_free(hr_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cands);
    free(s->count);
    free(s->hist);
    free(s->bias);
    free(s);
}

void hr_sampler_set_mask(hr_sampler *s, hr_token_mask_fn fn, void *ud) {
    s->mask = fn;
    s->mask_ud = ud;
}

void hr_sampler_reset(hr_sampler *s) {
    s->hist_n = s->hist_pos = 0;
    s->rng = s->p.seed;
}

void hr_sampler_accept(hr_sampler *s, int32_t token) {
    if (!s->p.penalty_last_n || token < 0 || token >= s->n_vocab) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.penalty_last_n;
    if (s->hist_n < s->p.penalty_last_n) s->hist_n++;
}

static bool penalties_active(const hr_sampler *s) {
    const hr_sampler_params *p = &s->p;
    return s->hist_n && (p->repeat_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0);
}

/* First index of the largest finite-or-+inf logit (NaN and -inf never win);
 * -1 when there is none. Eight independent running maxima, then one scan
 * for the first index holding the maximum: no loop-carried index compare. */
static int32_t argmax(const float *l, int n) {
    float m[8];
    for (int k = 0; k < 8; k++) m[k] = -INFINITY;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) m[k] = l[i + k] > m[k] ? l[i + k] : m[k];
    for (; i < n; i++) m[0] = l[i] > m[0] ? l[i] : m[0];
    float mx = m[0];
    for (int k = 1; k < 8; k++) mx = m[k] > mx ? m[k] : mx;
    if (mx == -INFINITY) return -1;
    for (i = 0; i < n; i++)
        if (l[i] == mx) return i;
    return -1;
}

static void apply_penalties(hr_sampler *s, float *l) {
    if (!penalties_active(s)) return;
    const hr_sampler_params *p = &s->p;
    for (int i = 0; i < s->hist_n; i++) s->count[s->hist[i]]++;
    for (int i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        int c = s->count[t];
        if (!c) continue; /* already applied */
        if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0)
            l[t] = l[t] > 0 ? l[t] / p->repeat_penalty : l[t] * p->repeat_penalty;
        l[t] -= (float)c * p->frequency_penalty + p->presence_penalty;
        s->count[t] = 0;
    }
}

static int cmp_desc(const void *a, const void *b) {
    float x = ((const cand *)a)->v, y = ((const cand *)b)->v;
    return (x < y) - (x > y);
}

/* Moves the k best candidates to the front (unordered) with a min-heap of
 * size k: O(n log k), so top-k over a 128k vocab does not sort it all. */
static void heap_down(cand *h, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && h[l].v < h[m].v) m = l;
        if (r < k && h[r].v < h[m].v) m = r;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int select_top(cand *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
    for (int i = k; i < n; i++)
        if (c[i].v > c[0].v) {
            c[0] = c[i];
            heap_down(c, k, 0);
        }
    return k;
}

static void fill_logprobs(hr_sampler *s, const float *l, int32_t chosen, hr_sample_result *res) {
    int n = s->n_vocab;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (l[i] > mx) mx = l[i];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += expf(l[i] - mx); /* expf(-inf) = 0 */
    float lse = mx + (float)log(sum);
    res->logprob = l[chosen] - lse;
    res->n_top = 0;
    int k = s->p.n_logprobs;
    for (int i = 0; i < n && k > 0; i++) {
        if (l[i] == -INFINITY) continue;
        /* insertion into a small sorted array */
        int at = res->n_top;
        while (at > 0 && res->top[at - 1].logprob < l[i] - lse) at--;
        if (at >= k) continue;
        int last = res->n_top < k ? res->n_top : k - 1;
        memmove(&res->top[at + 1], &res->top[at], (size_t)(last - at) * sizeof(hr_token_logprob));
        res->top[at] = (hr_token_logprob){i, l[i] - lse};
        if (res->n_top < k) res->n_top++;
    }
}

int32_t hr_sampler_sample(hr_sampler *s, const float *logits, hr_sample_result *res) {
    const hr_sampler_params *p = &s->p;
    int n = s->n_vocab;
    /* the logits are copied only when something rewrites them: a greedy
     * step is then one read of them (49K-256K floats per token per stream) */
    const float *l = logits;
    if (s->n_bias || s->mask || penalties_active(s)) {
        float *w = s->work;
        memcpy(w, logits, (size_t)n * sizeof(float));
        for (int i = 0; i < s->n_bias; i++) {
            float b = s->bias[i].bias;
            w[s->bias[i].token] = b <= -100.0f ? -INFINITY : w[s->bias[i].token] + b;
        }
        apply_penalties(s, w);
        if (s->mask && s->mask(s->mask_ud, w, n) != 0) return -1;
        l = w;
    }
    int32_t best = argmax(l, n);
    if (best < 0) return -1;
    int32_t chosen = best;
    if (p->temperature > 0) {
        float invt = 1.0f / p->temperature, top = l[best] * invt;
        int nc = 0;
        for (int i = 0; i < n; i++) {
            float v = l[i] * invt;
            if (v >= top - CAND_WINDOW) s->cands[nc++] = (cand){i, v};
        }
        if (p->top_k > 0 && p->top_k < nc) nc = select_top(s->cands, nc, p->top_k);
        qsort(s->cands, (size_t)nc, sizeof(cand), cmp_desc);
        double sum = 0;
        for (int i = 0; i < nc; i++) {
            s->cands[i].v = expf(s->cands[i].v - top);
            sum += s->cands[i].v;
        }
        for (int i = 0; i < nc; i++) s->cands[i].v = (float)(s->cands[i].v / sum);
        if (p->top_p < 1.0f) {
            double cum = 0;
            int keep = nc;
            for (int i = 0; i < nc; i++) {
                cum += s->cands[i].v;
                if (cum >= p->top_p) {
                    keep = i + 1;
                    break;
                }
            }
            nc = keep;
        }
        if (p->min_p > 0) {
            float floor_p = p->min_p * s->cands[0].v;
            int keep = 1;
            while (keep < nc && s->cands[keep].v >= floor_p) keep++;
            nc = keep;
        }
        sum = 0;
        for (int i = 0; i < nc; i++) sum += s->cands[i].v;
        double r = (double)(splitmix(&s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
        chosen = s->cands[nc - 1].id;
        for (int i = 0; i < nc; i++) {
            r -= s->cands[i].v;
            if (r < 0) {
                chosen = s->cands[i].id;
                break;
            }
        }
    }
    if (res) {
        res->token = chosen;
        fill_logprobs(s, l, chosen, res);
    }
    hr_sampler_accept(s, chosen);
    return chosen;
}

/* ------------------------------ stop strings ------------------------------ */

void hr_stop_init(hr_stop *st, const char *const *stops, int n) {
    memset(st, 0, sizeof *st);
    for (int i = 0; i < n && st->n_stops < 8; i++) {
        size_t len = strlen(stops[i]);
        if (!len || len > 256) continue;
        memcpy(st->stops[st->n_stops++], stops[i], len + 1);
    }
}

void hr_stop_free(hr_stop *st) {
    free(st->held);
    st->held = NULL;
    st->held_len = st->held_cap = 0;
}

bool hr_stop_push(hr_stop *st, const char *text, size_t len, const char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (st->hit) return true;
    if (st->held_len + len + 1 > st->held_cap) {
        st->held_cap = (st->held_len + len + 1) * 2;
        st->held = hr_xrealloc(st->held, st->held_cap);
    }
    memcpy(st->held + st->held_len, text, len);
    st->held_len += len;
    /* earliest complete match */
    size_t first = SIZE_MAX;
    for (int i = 0; i < st->n_stops; i++) {
        size_t sl = strlen(st->stops[i]);
        for (size_t at = 0; at + sl <= st->held_len && at < first; at++)
            if (!memcmp(st->held + at, st->stops[i], sl)) {
                first = at;
                break;
            }
    }
    if (first != SIZE_MAX) {
        st->hit = true;
        *out = st->held;
        *out_len = first;
        st->held_len = 0; /* the caller consumes out before the next call */
        return true;
    }
    /* keep the longest suffix that is a prefix of some stop */
    size_t keep = 0;
    for (int i = 0; i < st->n_stops; i++) {
        size_t sl = strlen(st->stops[i]);
        for (size_t k = sl - 1 < st->held_len ? sl - 1 : st->held_len; k > keep; k--)
            if (!memcmp(st->held + st->held_len - k, st->stops[i], k)) {
                keep = k;
                break;
            }
    }
    size_t rel = st->held_len - keep;
    if (rel) {
        /* release rel bytes: hand them out from a scratch copy at the end of the buffer */
        size_t need = st->held_len + rel + 1;
        if (need > st->held_cap) {
            st->held_cap = need * 2;
            st->held = hr_xrealloc(st->held, st->held_cap);
        }
        memcpy(st->held + st->held_len, st->held, rel);
        memmove(st->held, st->held + rel, keep);
        memmove(st->held + keep, st->held + st->held_len, rel);
        st->held_len = keep;
        *out = st->held + keep;
        *out_len = rel;
    }
    return false;
}

void hr_stop_flush(hr_stop *st, const char **out, size_t *out_len) {
    *out = st->held;
    *out_len = st->hit ? 0 : st->held_len;
    st->held_len = 0;
}
