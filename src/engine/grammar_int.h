/* Internals shared by grammar.c (schema compiler + byte automaton) and
 * grammar_mask.c (vocab trie, token masks). Not a public header.
 *
 * Automaton: a thread is a stack of frames (one per open JSON value or
 * sequence); a state is a set of up to G_MAX_THREADS threads (live anyOf
 * alternatives). A byte maps each thread to zero or more threads. Children
 * are pushed with the parent's phase already set to what follows them, so
 * popping is just removing the top frame; frames that finished (a closed
 * string, a closed object) pop eagerly, frames that may end or go on (a
 * number, a literal that is a prefix of another) pop when a byte they cannot
 * take arrives, and that byte is fed to the parent. */
#ifndef HR_ENGINE_GRAMMAR_INT_H
#define HR_ENGINE_GRAMMAR_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/grammar.h"

#define G_MAX_NODES 16384
#define G_MAX_PROPS 64
#define G_MAX_DEPTH 64 /* frames per thread */
#define G_MAX_THREADS 32
#define G_MAX_ENUM 1024
#define G_MAX_LIT_BYTES (1 << 20)
#define G_INF (1 << 29)
#define G_INT_DIGITS 15
#define G_FRAC_DIGITS 15
#define G_EXP_DIGITS 3

enum {
    NK_ROOT = 1, /* child: leading ws, value, trailing ws */
    NK_OBJECT,
    NK_ARRAY,
    NK_STRING,
    NK_NUMBER,
    NK_INTEGER,
    NK_LITERAL, /* a set of byte strings (trie); a terminal with succ >= 0 becomes that node */
    NK_ANYOF,
    NK_SEQ,   /* items: literal bytes, optional whitespace, a node */
    NK_TOOLS, /* root of tool mode */
};

enum { SI_LIT = 1, SI_WS, SI_NODE };

typedef struct g_seqitem {
    uint8_t kind;
    int32_t node;       /* SI_NODE */
    uint32_t off, len;  /* SI_LIT: bytes in g->blob */
} g_seqitem;

typedef struct g_prop {
    uint32_t name_off, name_len; /* in g->blob */
    int32_t value;               /* node */
    int32_t entry;               /* len + 3 + minlen(value): "name":value */
} g_prop;

/* Literal / key-name trie node; children contiguous, sorted by byte. */
typedef struct g_lnode {
    int32_t child;   /* first child index */
    uint16_t nchild;
    uint8_t byte;
    uint8_t terminal;
    int32_t succ;    /* LITERAL: successor node or -1; key trie: property index */
    int32_t minrem;  /* fewest bytes to a terminal (+ minlen(succ) for switches) */
    uint16_t lo, hi; /* key trie: property index range below (sorted names) */
    uint16_t depth;
} g_lnode;

typedef struct g_node {
    uint8_t kind;
    int32_t minlen; /* fewest bytes of a value of this node; G_INF = unsatisfiable */
    /* OBJECT */
    int32_t prop0, nprops, addl, key_trie;
    uint64_t req, banned; /* required props; unsatisfiable optional props (never allowed) */
    /* ARRAY */
    int32_t items, min_items, max_items;
    /* LITERAL */
    int32_t lit_trie;
    /* ANYOF */
    int32_t alt0, nalts;
    /* SEQ */
    int32_t item0, nitems;
    /* ROOT */
    int32_t child;
    /* TOOLS */
    int32_t call_full, call_body;
    bool text, parallel;
} g_node;

struct hr_grammar {
    g_node *nodes;
    int n_nodes, cap_nodes;
    g_prop *props;
    int n_props, cap_props;
    g_lnode *lnodes;
    int n_lnodes, cap_lnodes;
    int32_t *alts;
    int n_alts, cap_alts;
    g_seqitem *items;
    int n_items, cap_items;
    int32_t *seq_suffix; /* per item: minimal bytes from that item to the end of its seq */
    char *blob;
    size_t blob_len, blob_cap;
    int root;
};

typedef struct g_frame {
    uint16_t node;
    uint8_t phase;
    uint8_t ws;
    uint32_t a, b;
    uint32_t pad; /* always 0: frames are compared with memcmp */
    uint64_t seen;
} g_frame;
#define KEY_OFF 0xffffffffu  /* object key left the declared-names trie */
#define KEY_ADDL 0xfffffffeu /* key resolved to an additional property */

/* A set of threads; frames packed in pool. */
typedef struct g_set {
    int n;
    uint16_t off[G_MAX_THREADS], len[G_MAX_THREADS];
    int used, cap;
    g_frame *pool;
} g_set;

void g_set_init(g_set *s);
void g_set_free(g_set *s);
void g_set_copy(g_set *dst, const g_set *src);
/* The initial state of a grammar. */
void g_set_start(const hr_grammar *g, g_set *s);
/* dst = src after byte c (dst is overwritten; dst != src). Returns dst->n. */
int g_set_step(const hr_grammar *g, const g_set *src, uint8_t c, g_set *dst);
/* Steps one thread of src (index i) only. */
int g_thread_step(const hr_grammar *g, const g_set *src, int i, uint8_t c, g_set *dst);
bool g_set_complete(const hr_grammar *g, const g_set *s);
/* Fewest bytes to complete (min over threads); G_INF if none. */
int g_set_cost(const hr_grammar *g, const g_set *s);
int g_thread_cost(const hr_grammar *g, const g_set *s, int i);

/* The current state of a sequence (tests compare masks against it). */
const g_set *g_state_cur(const hr_grammar_state *st);
const hr_grammar *g_state_grammar(const hr_grammar_state *st);

/* Fast-path classes: a thread whose top frame is inside a string / key /
 * free text in its base state. */
enum { FC_NONE = -1, FC_STR = 0, FC_KEY = 1, FC_TEXT = 2, FC_N = 3 };
int g_thread_fast_class(const hr_grammar *g, const g_set *s, int i, bool *path_free);
/* Upper bound of the cost after any token of that class's precomputed set. */
int g_thread_fast_ub(const hr_grammar *g, const g_set *s, int i, int cls);
/* Simple top frames: string content (any substate), an object key off the
 * declared-names trie, free text outside a "<tool_call>" match. Inside one,
 * a byte only changes a small substate (*sub) until a byte leaves the frame
 * (SIMPLE_EXIT: step the full automaton for that byte). */
enum { SK_STR = 0, SK_KEY = 1, SK_TEXT = 2 };
#define SIMPLE_EXIT (-2)
int g_thread_simple(const hr_grammar *g, const g_set *s, int i, int *sub);
/* New substate, -1 (rejected) or SIMPLE_EXIT. */
int g_simple_step(int kind, int sub, uint8_t c);
/* dst = { thread i of src with its top frame's substate set to sub }. */
void g_thread_set_sub(const hr_grammar *g, const g_set *src, int i, int kind, int sub, g_set *dst);
/* Cost of thread i with its top frame's substate set to sub. */
int g_thread_cost_sub(const hr_grammar *g, const g_set *s, int i, int kind, int sub);
/* Free text (tool mode): the "<tool_call>" match position of thread i, or -1
 * when its top frame is not free text. */
int g_thread_text_match(const hr_grammar *g, const g_set *s, int i);
/* Byte m of "<tool_call>". */
int g_tool_open_byte(int m);
/* Appends thread i of src to dst (no dedupe). */
void g_set_add_thread(g_set *dst, const g_set *src, int i);

/* String content automaton shared with the vocab precompute.
 * Returns the next substate, STR_CLOSE on the closing quote, or -1. */
#define STR_BASE 0
#define STR_CLOSE (-2)
int g_str_step(int sub, uint8_t c, bool allow_escape);
/* Bytes still needed to get a substate back to base. */
int g_str_pending(int sub);

#endif
