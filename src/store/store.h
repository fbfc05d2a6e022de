/* Request log: one row per request, written by a background thread in
 * batched transactions so a slow disk never stalls a request.
 *
 * Backends: SQLite (WAL, default) and PostgreSQL (when several gateways share
 * one log). A row is inserted in one transaction: it is never half-written.
 * hr_store_write() copies the row and never blocks; if the queue is full
 * (the writer is far behind) the row is dropped and counted.
 * hr_store_close() flushes what is queued, then frees; NULL is a no-op. */
#ifndef HR_STORE_STORE_H
#define HR_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

typedef struct hr_log_row {
    int64_t ts_ms;              /* unix time of arrival, milliseconds */
    const char *request_id;     /* "chatcmpl-..." or the gateway's id */
    const char *tier;           /* tier that answered ("" when routing failed) */
    const char *model;          /* model that answered */
    const char *strategy;       /* "rules", "classifier", "override", ... */
    const char *reason;         /* routing reason */
    bool forced;                /* tier forced through `model` */
    bool stream;
    double route_us;            /* decision time */
    double latency_ms;          /* total time until the last byte */
    double ttft_ms;             /* time to first token (stream), else = latency */
    long prompt_tokens;         /* -1 unknown */
    long completion_tokens;     /* -1 unknown */
    int status;                 /* HTTP status sent to the client */
    const char *error;          /* error message, NULL when ok */
    const char *prompt;         /* last user message text, NULL when capture is off */
    const char *attempts_json;  /* cascade attempts as a JSON array, NULL if none */
    const char *label;          /* human/imported label tier, NULL if none */
} hr_log_row;

typedef struct hr_store hr_store;

/* Opens the log described by cfg (SQLite path or PostgreSQL URL), creating the
 * schema if needed, and starts the writer thread. NULL with err on failure. */
hr_store *hr_store_open(const hr_log_config *cfg, char *err, size_t errlen);
void hr_store_write(hr_store *s, const hr_log_row *row);
/* Blocks until everything queued so far is committed (tests, shutdown). */
void hr_store_flush(hr_store *s);
void hr_store_close(hr_store *s);
/* Rows dropped because the queue was full, and rows written, since open. */
uint64_t hr_store_dropped(const hr_store *s);
uint64_t hr_store_written(const hr_store *s);

/* Writes every row (oldest first) as one JSON object per line:
 * {"id","ts","tier","model","strategy","reason","forced","route_us",
 *  "latency_ms","prompt_tokens","completion_tokens","status","prompt",...}.
 * Only rows with status 200 and captured text when only_with_text.
 * Returns rows written, or -1 with err. Works on a store opened read-only by
 * path too (hr_store_export_path). */
long hr_store_export_jsonl(const hr_log_config *cfg, FILE *out, bool only_with_text, char *err, size_t errlen);

#endif
