/* A small HTTP/1.1 server on libevent events and evbuffers: what the gateway's
 * handlers see of a request and how they answer it.
 *
 * Why not libevent's evhttp: callgrind put evhttp at ~50k instructions of a
 * ~138k proxied request (reply headers formatted with one printf each, ~23k;
 * header lists, request objects and URI parsing the rest). This server writes
 * a reply's head in one buffer and keeps a request's headers as pointers into
 * one copy of its head (README, dependencies).
 *
 * Protocol: HTTP/1.0 and 1.1, keep-alive (1.1 default; 1.0 with
 * "Connection: keep-alive"), pipelining (requests are answered in order; the
 * next one is read once the current one is answered), bodies by
 * Content-Length or chunked transfer coding, "Expect: 100-continue". Limits:
 * request line + headers at most limits.max_head bytes and HR_HTTP_MAX_HEADERS
 * lines (431), body at most limits.max_body bytes (413), malformed framing
 * 400 (the connection is closed after any of these). A connection idle, or a
 * request not fully received, for limits.timeout_s is closed.
 *
 * Threads: a server and its requests belong to the loop (event_base) they
 * were created on; every call happens on that loop's thread.
 *
 * Request lifetime: the handler gets a request and must end it exactly once
 * with hr_http_send*() or hr_http_stream_end(), now or later from the loop;
 * the request is freed then and must not be used again. If the client goes
 * away first (EOF, reset, timeout) the on_close callback (when one is set)
 * runs and the request is freed after it returns; without a callback the
 * request stays valid and answering it just frees it. */
#ifndef HR_GATEWAY_HTTP_H
#define HR_GATEWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

#define HR_HTTP_MAX_HEADERS 100

typedef struct hr_http_server hr_http_server;
typedef struct hr_http_req hr_http_req;

typedef enum hr_http_method {
    HR_HTTP_GET,
    HR_HTTP_HEAD,
    HR_HTTP_POST,
    HR_HTTP_PUT,
    HR_HTTP_DELETE,
    HR_HTTP_OPTIONS,
    HR_HTTP_OTHER, /* any other token: the handler decides (405) */
} hr_http_method;

typedef struct hr_http_limits {
    size_t max_head; /* request line + headers, bytes */
    size_t max_body; /* decoded body, bytes */
    int timeout_s;   /* idle / unfinished request / stalled write */
} hr_http_limits;

typedef void (*hr_http_handler)(hr_http_req *req, void *arg);

/* Serves connections accepted on listen_fd (bound, listening, non-blocking;
 * the server closes it when freed). NULL with err on failure. */
hr_http_server *hr_http_server_create(struct event_base *base, int listen_fd, const hr_http_limits *limits,
                                      hr_http_handler handler, void *arg, char *err, size_t errlen);
/* Closes every connection: pending requests' on_close callbacks run first. */
void hr_http_server_free(hr_http_server *s);

/* ---- the request ---- */
hr_http_method hr_http_req_method(const hr_http_req *r);
/* The request target as sent ("/v1/x?a=b"), and its path (up to '?' or '#'). */
const char *hr_http_req_uri(const hr_http_req *r);
const char *hr_http_req_path(const hr_http_req *r);
/* First header with that name (case-insensitive), value without surrounding
 * blanks; NULL if absent. */
const char *hr_http_req_header(const hr_http_req *r, const char *name);
/* The decoded body, NUL-terminated (not counted in *len); "" when none. */
const char *hr_http_req_body(const hr_http_req *r, size_t *len);
/* Query parameter of the target ("+" and %XX decoded), NULL if absent.
 * hr_http_req_query_ok is false when the query is malformed (a pair without
 * '=' or with an empty name, a bad %XX). */
const char *hr_http_req_param(hr_http_req *r, const char *name);
bool hr_http_req_query_ok(hr_http_req *r);

/* Called once if the client goes away before the request was answered. */
void hr_http_req_on_close(hr_http_req *r, void (*cb)(hr_http_req *r, void *arg), void *arg);

/* ---- answering ---- */
/* Adds a response header (copied; CR/LF in either are replaced by spaces).
 * Content-Type defaults to application/json when none is added. */
void hr_http_add_header(hr_http_req *r, const char *name, const char *value);
/* Sends the whole answer and ends the request: body copied / taken (malloc'd,
 * freed by the server) / referenced (static, outlives the server). */
void hr_http_send(hr_http_req *r, int status, const void *body, size_t len);
void hr_http_send_take(hr_http_req *r, int status, char *body, size_t len);
void hr_http_send_static(hr_http_req *r, int status, const void *body, size_t len);
/* Streaming: the head (chunked for HTTP/1.1 clients; 1.0 clients get the
 * body until close), then body pieces, then the end (ends the request). */
void hr_http_stream_start(hr_http_req *r, int status);
void hr_http_stream_write(hr_http_req *r, const void *data, size_t len);
void hr_http_stream_end(hr_http_req *r);

/* Reason phrase of a status ("Not Found"); "Error" for unknown ones. */
const char *hr_http_status_text(int status);

#endif
