/* Request log: one row per request, written by a background thread in
 * batched transactions so a slow disk never stalls a request.
 *
 * Backends: SQLite (WAL, default) and PostgreSQL (when several gateways share
 * one log; chosen when cfg->postgres_url is set). Both hold the same table,
 * `requests`, one column per hr_log_row field plus an autoincrement `id`,
 * indexed on ts_ms and tier; the schema carries a version (SQLite: PRAGMA
 * user_version, PostgreSQL: table hr_schema_version) so later columns are
 * added by migration on open.
 *
 * Writing: hr_store_write() copies the row (strings too) into a bounded queue
 * and never blocks on I/O; when the queue is full (the writer is far behind)
 * the row is dropped and counted. The writer thread commits rows in batches,
 * one transaction per batch: a batch is committed whole or not at all (a
 * crash mid-batch loses that batch, never corrupts the log). It commits when
 * opts.batch_rows rows are queued, when the oldest queued row is
 * opts.batch_ms old, or at once on hr_store_flush()/hr_store_close().
 *
 * SQLite: sqlite_path must name a file (the read calls open a second
 * connection to it), not ":memory:". PostgreSQL: postgres_url is a libpq URL
 * or conninfo string; connect_timeout defaults to 5 s unless it names one.
 *
 * Text: strings are stored as valid UTF-8 (invalid bytes become U+FFFD) and
 * each is capped at HR_STORE_MAX_TEXT bytes (cut on a code point boundary).
 *
 * Threads: hr_store_write/flush/dropped/written are safe from any thread.
 * The read calls (query, stats, export) are safe from any thread too; they use
 * their own connection, serialized by a mutex. */
#ifndef HR_STORE_STORE_H
#define HR_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

typedef struct hr_log_row {
    int64_t ts_ms;              /* unix time of arrival, milliseconds */
    const char *request_id;     /* "chatcmpl-..." or the gateway's id */
    const char *tier;           /* tier that answered ("" when routing failed; NULL is stored as "") */
    const char *model;          /* model that answered */
    const char *strategy;       /* "rules", "classifier", "override", ... */
    const char *reason;         /* routing reason */
    bool forced;                /* tier forced through `model` */
    bool stream;
    double route_us;            /* decision time (non-finite values are stored as NULL, read back as NAN) */
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

/* Current schema version written by this build. */
#define HR_STORE_SCHEMA_VERSION 1
/* Cap on each stored string (prompt included), in bytes. */
#define HR_STORE_MAX_TEXT (4u << 20)
/* Cap on the search text of a query, in bytes. */
#define HR_STORE_MAX_SEARCH 256
/* Cap on the (tier, status) groups hr_store_stats returns. */
#define HR_STORE_MAX_GROUPS 64

typedef struct hr_store hr_store;

typedef struct hr_store_options {
    size_t queue_rows;  /* rows waiting for the writer before new ones are dropped (4096) */
    size_t queue_bytes; /* bytes of copied rows waiting before new ones are dropped (64 MiB) */
    size_t batch_rows;  /* rows per transaction at most, and the count that triggers one (256) */
    int batch_ms;       /* the oldest queued row waits at most this long (50) */
} hr_store_options;

hr_store_options hr_store_default_options(void);

/* Opens the log described by cfg (SQLite path or PostgreSQL URL), creating or
 * migrating the schema if needed, and starts the writer thread. cfg->enabled
 * is not consulted (the caller decides whether to log). cfg is not kept.
 * NULL with a one-line message in err on failure (bad path, server down,
 * schema newer than this build). */
hr_store *hr_store_open(const hr_log_config *cfg, char *err, size_t errlen);
/* Same, with explicit queue/batch options (NULL = defaults). */
hr_store *hr_store_open_ex(const hr_log_config *cfg, const hr_store_options *opts, char *err, size_t errlen);
/* Opens an existing log for reading only: no writer thread, no schema change;
 * fails if the log does not exist or is not a hermes-router log. Writes to it
 * are dropped and counted. */
hr_store *hr_store_open_readonly(const hr_log_config *cfg, char *err, size_t errlen);

/* Copies the row and queues it; never waits for I/O. s == NULL is a no-op. */
void hr_store_write(hr_store *s, const hr_log_row *row);
/* Blocks until everything queued so far is committed (or failed). */
void hr_store_flush(hr_store *s);
/* Flushes what is queued, stops the writer, frees. NULL is a no-op. */
void hr_store_close(hr_store *s);
/* Rows dropped because the queue was full, rows committed, and rows lost
 * because the backend failed to commit their batch, since open. */
uint64_t hr_store_dropped(const hr_store *s);
uint64_t hr_store_written(const hr_store *s);
uint64_t hr_store_failed(const hr_store *s);
/* "sqlite" or "postgres". */
const char *hr_store_backend_name(const hr_store *s);
/* Schema version of the opened log. */
int hr_store_schema_version(const hr_store *s);

/* ---- reading ------------------------------------------------------------ */

/* Row filter. Zeroed = every row, oldest first. */
typedef struct hr_store_query {
    int64_t since_ms;     /* rows with ts_ms >= since_ms (0 = no lower bound) */
    int64_t until_ms;     /* rows with ts_ms <  until_ms (0 = no upper bound) */
    const char *tier;     /* exact tier name, NULL = any */
    const char *search;   /* substring of request_id, model, reason, error, prompt or
                           * label, case-insensitive for ASCII letters; NULL or "" = any;
                           * longer than HR_STORE_MAX_SEARCH is an error */
    bool only_with_text;  /* only rows with status 200 and a captured prompt */
    bool newest_first;    /* order by (ts_ms, id) descending instead of ascending */
    size_t limit;         /* at most this many rows, 0 = no limit */
} hr_store_query;

/* Called once per row; the row's strings (NULL where the column is NULL) are
 * valid only during the call. id is the row's autoincrement id. Return 0 to
 * continue, nonzero to stop early. */
typedef int (*hr_store_row_fn)(const hr_log_row *row, int64_t id, void *ud);

/* Streams the matching rows to fn (memory stays bounded whatever the table
 * size). Returns the number of rows passed to fn, or -1 with err. Rows still
 * in the write queue are not visible: hr_store_flush() first if needed. */
long hr_store_query_rows(hr_store *s, const hr_store_query *q, hr_store_row_fn fn, void *ud, char *err,
                         size_t errlen);

/* Aggregates over a time window, grouped by (tier, status). */
typedef struct hr_store_group {
    char tier[32];              /* truncated if longer */
    int status;
    uint64_t requests;
    uint64_t forced;
    uint64_t prompt_tokens;     /* sum over rows where known (>= 0) */
    uint64_t completion_tokens; /* idem */
    double latency_ms_sum;      /* sum over rows where known */
} hr_store_group;

typedef struct hr_store_stats {
    uint64_t requests;          /* all rows in the window */
    int64_t first_ts_ms;        /* oldest and newest ts_ms in the window (0 if empty) */
    int64_t last_ts_ms;
    size_t n_groups;            /* ordered by tier, then status */
    bool truncated;             /* more than HR_STORE_MAX_GROUPS groups; totals still count all */
    hr_store_group groups[HR_STORE_MAX_GROUPS];
} hr_store_stats;

/* Fills out for rows with since_ms <= ts_ms < until_ms (0 = unbounded).
 * Returns 0, or -1 with err. */
int hr_store_stats_get(hr_store *s, int64_t since_ms, int64_t until_ms, hr_store_stats *out, char *err,
                       size_t errlen);

/* ---- labels ------------------------------------------------------------- */

/* Cap on a label, in bytes. */
#define HR_STORE_MAX_LABEL 64

/* One label update: the row's autoincrement id (as the read calls report it)
 * and the new label ("small", ...; NULL clears the column). */
typedef struct hr_store_label {
    int64_t id;
    const char *label;
} hr_store_label;

/* Sets the label column of the rows labels[0..n) name, in one transaction:
 * all or none. ids that name no row are skipped (not an error). A label that
 * is empty, longer than HR_STORE_MAX_LABEL bytes or not valid UTF-8 refuses
 * the whole call before anything is written. Needs a log opened with
 * hr_store_open (a read-only one fails with "opened read-only"). Uses its own
 * connection (opened on first use), serialised with the read calls; rows
 * still in the write queue cannot be labelled yet (hr_store_flush() first).
 * Returns the number of rows changed, or -1 with err. */
long hr_store_labels_set(hr_store *s, const hr_store_label *labels, size_t n, char *err, size_t errlen);
/* One row: 1 when it was changed, 0 when no row has that id, -1 with err. */
int hr_store_label_set(hr_store *s, int64_t id, const char *label, char *err, size_t errlen);

/* ---- export ------------------------------------------------------------- */

/* JSON form of a row (cJSON object, caller frees with cJSON_Delete):
 * {"id","ts" (unix ms),"request_id","tier","model","strategy","reason",
 *  "forced","stream","route_us","latency_ms","ttft_ms","prompt_tokens",
 *  "completion_tokens","status","error","prompt","attempts","label"};
 * absent strings and unknown numbers are null; "attempts" is the parsed
 * attempts_json (or the raw string if it is not valid JSON). Returned as
 * void * so this header does not need cJSON. */
void *hr_store_row_json(const hr_log_row *row, int64_t id);

/* Writes the rows matching q (NULL = all, oldest first) to out, one JSON
 * object per line. Returns rows written, or -1 with err (also on a write
 * error on out). */
long hr_store_export(hr_store *s, const hr_store_query *q, FILE *out, char *err, size_t errlen);

/* Opens the log read-only, writes every row (oldest first) as JSONL, closes.
 * Only rows with status 200 and captured text when only_with_text.
 * Returns rows written, or -1 with err. */
long hr_store_export_jsonl(const hr_log_config *cfg, FILE *out, bool only_with_text, char *err, size_t errlen);

#endif
