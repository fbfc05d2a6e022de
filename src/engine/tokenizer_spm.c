/* SentencePiece-style encoding (GGUF tokenizer model "llama").
 *
 * As llama.cpp does for llama-spm vocabularies: spaces become U+2581 (and one
 * is prepended at the start of the text and after each special token when the
 * vocab asks for a space prefix); the text is split into UTF-8 characters;
 * adjacent pieces whose concatenation is a vocab token are merged, best score
 * first (ties: leftmost), with a heap and a linked list of symbols so a long
 * input costs O(n log n); a final piece that is not a token falls back to
 * "<0xNN>" byte tokens (or <unk>). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/tokenizer_internal.h"

typedef struct sym {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the escaped text; n == 0: merged away */
    int32_t id;      /* token of this piece, -1 if none */
} sym;

static void try_bigram(const hr_tokenizer *t, const char *s, sym *sy, int32_t l, int32_t r, hr_tok_heap *h) {
    if (l < 0 || r < 0) return;
    uint32_t size = sy[l].n + sy[r].n;
    int32_t id = hr_tok_lookup(t, s + sy[l].off, size);
    if (id < 0) return;
    hr_tok_heap_push(h, (hr_tok_bigram){l, r, t->scores[id], size, id});
}

void hr_tok_spm_encode(const hr_tokenizer *t, const char *s, size_t n, int space_prefix, hr_tok_vec *out) {
    /* escape: optional leading U+2581, every ' ' -> U+2581 */
    if (n == 0) return; /* empty text gives no tokens, not a lone prefix */
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    size_t en = n + spaces * 2 + (space_prefix ? 3 : 0);
    char *e = hr_xmalloc(en);
    size_t w = 0;
    if (space_prefix) {
        memcpy(e, "\xE2\x96\x81", 3);
        w = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(e + w, "\xE2\x96\x81", 3);
            w += 3;
        } else
            e[w++] = s[i];
    }

    /* one symbol per UTF-8 character (length from the lead byte, clamped) */
    sym *sy = hr_xmalloc(en * sizeof *sy);
    int32_t ns = 0;
    for (size_t i = 0; i < en;) {
        unsigned char c = (unsigned char)e[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
        if (k > en - i) k = en - i;
        /* an invalid sequence is one symbol per byte (llama.cpp would swallow
         * the next bytes, possibly an escaped space, into a broken character) */
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)e[i + j] & 0xC0) != 0x80) k = 1;
        sy[ns] = (sym){ns - 1, ns + 1, (uint32_t)i, (uint32_t)k, hr_tok_lookup(t, e + i, k)};
        ns++;
        i += k;
    }
    sy[ns - 1].next = -1;

    hr_tok_heap h = {0};
    for (int32_t i = 1; i < ns; i++) try_bigram(t, e, sy, i - 1, i, &h);
    while (h.n) {
        hr_tok_bigram b = hr_tok_heap_pop(&h);
        sym *l = &sy[b.left], *r = &sy[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        l->id = b.id;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = b.left;
        try_bigram(t, e, sy, l->prev, b.left, &h);
        try_bigram(t, e, sy, b.left, l->next, &h);
    }

    for (int32_t i = 0; i >= 0; i = sy[i].next) {
        if (sy[i].id >= 0) {
            hr_tok_vec_push(out, sy[i].id);
            continue;
        }
        for (uint32_t j = 0; j < sy[i].n; j++) {
            int32_t id = t->byte_tok[(unsigned char)e[sy[i].off + j]];
            if (id < 0) id = t->unk;
            if (id >= 0) hr_tok_vec_push(out, id);
        }
    }
    free(h.a);
    free(sy);
    free(e);
}
