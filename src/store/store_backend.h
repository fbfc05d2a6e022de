/* Internal: the table a request-log backend implements (store_sqlite.c,
 * store_pg.c). Queueing, batching, threads, row copying and JSON live in
 * store.c and are shared; a backend only opens a connection, inserts a batch
 * in one transaction, reads rows and aggregates, and closes.
 *
 * A connection is used by one thread at a time (store.c guarantees it). */
#ifndef HR_STORE_BACKEND_H
#define HR_STORE_BACKEND_H

#include "store/store.h"

typedef enum {
    HR_STORE_RW = 0, /* create/migrate the schema, then read and write */
    HR_STORE_RO = 1, /* existing log only, no schema change */
} hr_store_mode;

typedef struct hr_store_backend {
    const char *name;
    /* Returns a connection, or NULL with err. *version gets the schema version. */
    void *(*open)(const hr_log_config *cfg, hr_store_mode mode, int *version, char *err, size_t errlen);
    /* Inserts rows[0..n) in one transaction: all or none. 0 or -1 with err. */
    int (*insert_batch)(void *conn, const hr_log_row *rows, size_t n, char *err, size_t errlen);
    /* Streams matching rows (q->search already length-checked). Rows passed or -1. */
    long (*query)(void *conn, const hr_store_query *q, hr_store_row_fn fn, void *ud, char *err, size_t errlen);
    /* Fills out (already zeroed). 0 or -1 with err. */
    int (*stats)(void *conn, int64_t since_ms, int64_t until_ms, hr_store_stats *out, char *err, size_t errlen);
    void (*close)(void *conn);
    /* Sets labels (already checked) in one transaction on a read-write
     * connection. Rows changed, or -1 with err (nothing changed). */
    long (*labels_set)(void *conn, const hr_store_label *labels, size_t n, char *err, size_t errlen);
} hr_store_backend;

extern const hr_store_backend hr_store_sqlite_backend;
extern const hr_store_backend hr_store_pg_backend;

/* Column list shared by both backends, in hr_log_row order (id excluded). */
#define HR_STORE_COLUMNS                                                                          \
    "ts_ms, request_id, tier, model, strategy, reason, forced, stream, route_us, latency_ms, "    \
    "ttft_ms, prompt_tokens, completion_tokens, status, error, prompt, attempts_json, label"
#define HR_STORE_NCOLUMNS 18

/* Adds one (tier, status) group row to out, keeping totals right when the
 * group cap is reached. Shared by the backends' stats(). */
void hr_store_stats_add(hr_store_stats *out, const char *tier, int status, uint64_t requests, uint64_t forced,
                        uint64_t prompt_tokens, uint64_t completion_tokens, double latency_ms_sum,
                        int64_t min_ts, int64_t max_ts);

#endif
