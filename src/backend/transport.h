/* Transport: one HTTP request to an upstream, driven by the caller's loop.
 *
 * Two implementations behind one interface:
 *  - transport_h1.c: a small HTTP/1.1 client on libevent events and evbuffers, with
 *    keep-alive connection pools per loop and origin, for http:// URLs. The
 *    gateway's hot path: libcurl spent ~100k instructions per proxied request
 *    (callgrind), about half the gateway's cost, against ~25k for the whole of
 *    nginx's proxy (docs/BENCHMARKS.md).
 *  - transport_curl.c: libcurl's multi interface, for https:// (TLS, proxies)
 *    and whenever HR_HTTP_CLIENT=curl is set.
 *
 * Contract: hr_xfer_start() returns a handle, or NULL when the URL cannot be
 * used (no callback then). The data callback gets decoded body bytes (chunked
 * encoding removed) with the status known; returning -1 aborts the transfer.
 * The done callback is called exactly once, last, unless the transfer was
 * cancelled; the handle is freed after it returns. hr_xfer_cancel() must not
 * be called from inside a callback (return -1 from data instead). */
#ifndef HR_BACKEND_TRANSPORT_H
#define HR_BACKEND_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/backend.h"

typedef enum hr_xfer_result {
    HR_XFER_OK = 0,
    HR_XFER_CONNECT,         /* could not resolve or connect: nothing was sent */
    HR_XFER_CONNECT_TIMEOUT, /* the connection was not established in time */
    HR_XFER_TIMEOUT,         /* total or idle timeout once connected */
    HR_XFER_IO,              /* the connection broke (see got_bytes) */
    HR_XFER_PROTOCOL,        /* the server's answer is not valid HTTP/1.1 */
    HR_XFER_ABORTED,         /* the data callback returned -1 */
} hr_xfer_result;

typedef struct hr_xfer_cbs {
    int (*data)(void *ud, long status, const char *p, size_t n);
    /* status: the HTTP status (0 if none arrived); got_bytes: any response
     * byte arrived; msg: human-readable detail for errors. */
    void (*done)(void *ud, long status, hr_xfer_result res, bool got_bytes, const char *msg);
} hr_xfer_cbs;

typedef struct hr_xfer_opts {
    const char *method;          /* "GET" or "POST" */
    const char *url;             /* http://host[:port]/path or https://... */
    const char *body;            /* copied at start */
    size_t body_len;
    const char *const *headers;  /* "Name: value" strings, NULL-terminated (may be NULL) */
    long connect_timeout_ms;
    long total_timeout_ms;
    long idle_timeout_ms;        /* longest gap between bytes of the answer */
} hr_xfer_opts;

typedef struct hr_xfer hr_xfer;

hr_xfer *hr_xfer_start(hr_loop *loop, const hr_xfer_opts *o, const hr_xfer_cbs *cbs, void *ud);
void hr_xfer_cancel(hr_xfer *x);
const char *hr_xfer_result_str(hr_xfer_result r);

/* Implementations (used by hr_xfer_start). */
hr_xfer *hr_xfer_start_h1(hr_loop *loop, const hr_xfer_opts *o, const hr_xfer_cbs *cbs, void *ud);
hr_xfer *hr_xfer_start_curl(hr_loop *loop, const hr_xfer_opts *o, const hr_xfer_cbs *cbs, void *ud);
void hr_xfer_cancel_h1(hr_xfer *x);
void hr_xfer_cancel_curl(hr_xfer *x);
/* Per-loop state of the native client (created on demand, freed with the loop). */
void hr_h1_loop_free(void *state);

#endif
