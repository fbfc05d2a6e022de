/* A small HTTP/1.1 client for http:// upstreams on libevent events and
 * evbuffers (no bufferevents: core/evio.h says why).
 *
 * Per loop and origin (host:port) a pool of keep-alive connections; one
 * request in flight per connection. The origin's address is resolved once
 * per loop (getaddrinfo, numeric addresses and /etc/hosts need no DNS) and
 * again after a connection to it fails. The answer is parsed by a resumable
 * state machine fed from the input buffer (status line, headers, body by
 * Content-Length, chunked, or until close), with hard caps on line and header
 * sizes. A request that fails on a reused connection before any byte of the
 * answer arrived is retried once on a new connection (the server may have
 * closed an idle connection at the same moment).
 *
 * I/O: a connection has one persistent read event, added when it is opened
 * and kept until it is closed, in flight and parked alike; its timeout is the
 * connect timeout, then the idle timeout (a common timeout: O(1) to move). A
 * request is written at once (writev); the write event is armed only while
 * connecting or when the socket's send buffer is full. So a request on a
 * kept-alive connection costs a write and a read, and no epoll_ctl. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backend/transport.h"
#include "core/buf.h"
#include "core/evio.h"

#define MAX_LINE 16384          /* status line, header line, chunk-size line */
#define MAX_HEADER_BYTES 65536
#define MAX_IDLE_PER_ORIGIN 64

typedef struct h1_origin h1_origin;
typedef struct h1_conn h1_conn;

typedef struct h1_state { /* per loop */
    struct event_base *base;
    h1_origin *origins;
} h1_state;

struct h1_origin {
    h1_origin *next;
    h1_state *st;
    char *host;
    char *hostport; /* "host:port" for the Host header */
    int port;
    struct sockaddr_storage addr;
    socklen_t addrlen; /* 0: not resolved */
    h1_conn *idle;
    int n_idle;
};

struct h1_conn {
    h1_origin *o;
    evutil_socket_t fd;
    struct evbuffer *in, *out;
    struct event *rev; /* EV_READ|EV_PERSIST, added for the connection's whole life; timeout: connect, then idle */
    struct event *wev; /* EV_WRITE|EV_PERSIST, added while connecting and while request bytes wait */
    hr_xfer *x;        /* the transfer using it, or NULL when idle */
    h1_conn *next;     /* idle list */
    int served;        /* answers completed on this connection */
    int werr;          /* a write error found outside the loop, reported from wev */
    long timeout_ms;   /* rev's timeout now (-1: none yet) */
    struct timeval tv; /* the same as libevent's (common) timeout */
    bool connected;
};

enum { S_STATUS, S_HEADERS, S_BODY_LEN, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_CRLF, S_TRAILERS, S_BODY_CLOSE, S_DONE };

struct hr_xfer {
    int kind; /* 1: h1 (transport.c) */
    h1_origin *o;
    h1_conn *conn;
    hr_xfer_cbs cbs;
    void *ud;
    struct evbuffer *request; /* the whole request, kept for a retry */
    struct event *timer;      /* total timeout */
    long connect_timeout_ms, idle_timeout_ms;
    int state;
    long status;
    long long remaining;      /* body or chunk bytes still to read */
    size_t header_bytes;
    bool chunked, has_length, keep_alive, got_bytes, retried;
    bool head_only;           /* 1xx / 204 / 304: no body */
    char errmsg[200];         /* a failure found while starting */
};

/* ---- connections -------------------------------------------------------- */

static void conn_free(h1_conn *c) {
    if (!c) return;
    if (c->rev) event_free(c->rev);
    if (c->wev) event_free(c->wev);
    if (c->in) evbuffer_free(c->in);
    if (c->out) evbuffer_free(c->out);
    if (c->fd >= 0) close(c->fd);
    free(c);
}

/* (Re)starts the read event's timeout: the first call adds the event, later
 * ones only move its timeout (no system call). */
static void conn_arm(h1_conn *c, long ms) {
    if (ms != c->timeout_ms) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        const struct timeval *common = event_base_init_common_timeout(c->o->st->base, &tv);
        c->tv = common ? *common : tv;
        c->timeout_ms = ms;
    }
    event_add(c->rev, &c->tv);
}

static void idle_remove(h1_conn *c) {
    h1_origin *o = c->o;
    for (h1_conn **p = &o->idle; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            o->n_idle--;
            return;
        }
}

static void conn_park(h1_conn *c) {
    h1_origin *o = c->o;
    c->x = NULL;
    /* not reusable with unread input, or with request bytes still unsent (the
     * server answered before reading everything) */
    if (o->n_idle >= MAX_IDLE_PER_ORIGIN || c->werr || evbuffer_get_length(c->in) || evbuffer_get_length(c->out)) {
        conn_free(c);
        return;
    }
    /* the read event stays added with the transfer's idle timeout: a parked
     * connection that becomes readable (closed by the server, or it spoke out
     * of turn) or stays idle that long is closed (on_readable) */
    c->next = o->idle;
    o->idle = c;
    o->n_idle++;
}

/* ---- transfer end --------------------------------------------------------- */

static void xfer_free(hr_xfer *x) {
    if (x->timer) event_free(x->timer);
    evbuffer_free(x->request);
    free(x);
}

/* Ends the transfer: the connection is parked when reusable, else closed. */
static void finish(hr_xfer *x, hr_xfer_result res, const char *msg) {
    h1_conn *c = x->conn;
    x->conn = NULL;
    if (c) {
        if (res == HR_XFER_OK && x->keep_alive && x->state == S_DONE) conn_park(c);
        else conn_free(c);
    }
    if (res == HR_XFER_CONNECT) x->o->addrlen = 0; /* resolve again next time */
    x->cbs.done(x->ud, x->status, res, x->got_bytes, msg);
    xfer_free(x);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
    hr_xfer *x = arg;
    finish(x, x->conn && x->conn->connected ? HR_XFER_TIMEOUT : HR_XFER_CONNECT_TIMEOUT, "request timed out");
}

/* ---- response parsing --------------------------------------------------- */

static int header_value_has(const char *v, const char *token) {
    /* comma-separated, case-insensitive token match */
    size_t tl = strlen(token);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        if (!strncasecmp(v, token, tl) && (v[tl] == 0 || v[tl] == ',' || v[tl] == ' ' || v[tl] == ';')) return 1;
        while (*v && *v != ',') v++;
    }
    return 0;
}

/* Reads one CRLF (or LF) line into line[MAX_LINE + 1] without its ending;
 * 1 = got it, 0 = need more, -1 = too long. (evbuffer_readln mallocs each line.) */
static int read_line(struct evbuffer *in, char *line) {
    size_t avail = evbuffer_get_length(in);
    size_t look = avail < MAX_LINE + 2 ? avail : MAX_LINE + 2;
    const char *p = look ? (const char *)evbuffer_pullup(in, (ev_ssize_t)look) : NULL;
    const char *nl = p ? memchr(p, '\n', look) : NULL;
    if (!nl) return avail > MAX_LINE ? -1 : 0;
    size_t l = (size_t)(nl - p), drain = l + 1;
    if (l && p[l - 1] == '\r') l--;
    if (l > MAX_LINE) return -1;
    memcpy(line, p, l);
    line[l] = 0;
    evbuffer_drain(in, drain);
    return 1;
}

static int parse_status(hr_xfer *x, const char *line) {
    /* HTTP/1.x SSS[ reason] */
    if (strncmp(line, "HTTP/1.", 7) || line[7] < '0' || line[7] > '9' || line[8] != ' ') return -1;
    const char *d = line + 9;
    while (*d == ' ') d++;
    if (d[0] < '1' || d[0] > '9' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9' || (d[3] && d[3] != ' '))
        return -1;
    int status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    int minor = line[7] - '0';
    x->status = status;
    x->keep_alive = minor >= 1;
    x->chunked = x->has_length = false;
    x->head_only = status < 200 || status == 204 || status == 304;
    return 0;
}

static int parse_header(hr_xfer *x, const char *line) {
    const char *colon = strchr(line, ':');
    if (!colon) return -1;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (nl == 14 && !strncasecmp(line, "content-length", 14)) {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || end == v || n < 0) return -1;
        x->has_length = true;
        x->remaining = n;
    } else if (nl == 17 && !strncasecmp(line, "transfer-encoding", 17)) {
        if (header_value_has(v, "chunked")) x->chunked = true;
    } else if (nl == 10 && !strncasecmp(line, "connection", 10)) {
        if (header_value_has(v, "close")) x->keep_alive = false;
        else if (header_value_has(v, "keep-alive")) x->keep_alive = true;
    }
    return 0;
}

/* Delivers up to n body bytes from in; -1 when the callback aborted. */
static int deliver(hr_xfer *x, struct evbuffer *in, size_t n) {
    if (!n) return 0;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    int rc = x->cbs.data(x->ud, x->status, p, n);
    evbuffer_drain(in, n);
    return rc;
}

/* Runs the parser over what has arrived. Returns 1 when the transfer ended
 * (x is freed), 0 to wait for more bytes. */
static int parse(hr_xfer *x) {
    struct evbuffer *in = x->conn->in;
    char line[MAX_LINE + 1];
    int r;
    for (;;) {
        switch (x->state) {
        case S_STATUS:
            if ((r = read_line(in, line)) == 0) return 0;
            if (r < 0 || parse_status(x, line) < 0) {
                finish(x, HR_XFER_PROTOCOL, "invalid status line from upstream");
                return 1;
            }
            x->header_bytes = 0;
            x->state = S_HEADERS;
            break;
        case S_HEADERS:
            if ((r = read_line(in, line)) == 0) return 0;
            if (r < 0 || (x->header_bytes += strlen(line) + 2) > MAX_HEADER_BYTES) {
                finish(x, HR_XFER_PROTOCOL, "upstream headers too large");
                return 1;
            }
            if (line[0]) {
                int bad = parse_header(x, line) < 0;
                if (bad) {
                    finish(x, HR_XFER_PROTOCOL, "malformed header from upstream");
                    return 1;
                }
                break;
            }
            if (x->status >= 100 && x->status < 200) { /* 100 Continue and friends: the real answer follows */
                x->state = S_STATUS;
                break;
            }
            if (x->head_only) x->state = S_DONE;
            else if (x->chunked) x->state = S_CHUNK_SIZE;
            else if (x->has_length) x->state = x->remaining ? S_BODY_LEN : S_DONE;
            else {
                x->keep_alive = false;
                x->state = S_BODY_CLOSE;
            }
            break;
        case S_BODY_LEN: {
            size_t avail = evbuffer_get_length(in);
            if (!avail) return 0;
            size_t n = avail < (unsigned long long)x->remaining ? avail : (size_t)x->remaining;
            if (deliver(x, in, n) < 0) goto aborted;
            x->remaining -= (long long)n;
            if (!x->remaining) x->state = S_DONE;
            break;
        }
        case S_CHUNK_SIZE: {
            if ((r = read_line(in, line)) == 0) return 0;
            char *end;
            errno = 0;
            long long n = r > 0 ? strtoll(line, &end, 16) : -1;
            bool bad = r < 0 || errno || n < 0 || end == line;
            if (bad) {
                finish(x, HR_XFER_PROTOCOL, "bad chunk size from upstream");
                return 1;
            }
            x->remaining = n;
            x->state = n ? S_CHUNK_DATA : S_TRAILERS;
            break;
        }
        case S_CHUNK_DATA: {
            size_t avail = evbuffer_get_length(in);
            if (!avail) return 0;
            size_t n = avail < (unsigned long long)x->remaining ? avail : (size_t)x->remaining;
            if (deliver(x, in, n) < 0) goto aborted;
            x->remaining -= (long long)n;
            if (!x->remaining) x->state = S_CHUNK_CRLF;
            break;
        }
        case S_CHUNK_CRLF:
            if ((r = read_line(in, line)) == 0) return 0;
            if (r < 0) {
                finish(x, HR_XFER_PROTOCOL, "bad chunk framing from upstream");
                return 1;
            }
            x->state = S_CHUNK_SIZE;
            break;
        case S_TRAILERS:
            if ((r = read_line(in, line)) == 0) return 0;
            {
                bool end = r > 0 && !line[0];
                if (r < 0) {
                    finish(x, HR_XFER_PROTOCOL, "bad trailer from upstream");
                    return 1;
                }
                if (end) x->state = S_DONE;
            }
            break;
        case S_BODY_CLOSE: {
            size_t avail = evbuffer_get_length(in);
            if (!avail) return 0;
            if (deliver(x, in, avail) < 0) goto aborted;
            break;
        }
        case S_DONE:
            finish(x, HR_XFER_OK, "ok");
            return 1;
        }
    }
aborted:
    finish(x, HR_XFER_ABORTED, "aborted");
    return 1;
}

/* ---- connection events ---------------------------------------------------- */

static void send_request(hr_xfer *x);
static int connect_new(hr_xfer *x, char *msg, size_t msglen);

/* The established connection broke: EOF (the server closed it) or an error. */
static void conn_broken(h1_conn *c, hr_xfer *x, bool eof) {
    if (x->state == S_BODY_CLOSE && eof) {
        if (evbuffer_get_length(c->in) && parse(x)) return; /* anything left */
        x->state = S_DONE;
        finish(x, HR_XFER_OK, "ok");
        return;
    }
    if (!x->got_bytes && c->served > 0 && !x->retried) {
        /* the server closed a kept-alive connection as we reused it: once more on a new one */
        x->retried = true;
        x->conn = NULL;
        conn_free(c);
        char msg[300];
        if (connect_new(x, msg, sizeof msg) < 0) finish(x, HR_XFER_CONNECT, msg);
        return;
    }
    finish(x, HR_XFER_IO, eof ? "upstream closed the connection" : "connection error");
}

static void conn_connected(h1_conn *c, hr_xfer *x) {
    c->connected = true;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_arm(c, x->idle_timeout_ms);
}

/* Writes what the socket takes now; the write event waits for the rest. An
 * error is reported from the loop (wev), never from here: this runs inside
 * hr_xfer_start too. */
static void conn_flush(h1_conn *c) {
    if (hr_evio_flush(c->fd, c->out) < 0) {
        c->werr = errno ? errno : EIO;
        event_active(c->wev, EV_WRITE, 0);
    } else if (evbuffer_get_length(c->out)) {
        event_add(c->wev, NULL);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    h1_conn *c = arg;
    hr_xfer *x = c->x;
    if (!x) { /* parked: closed by the server, out of turn, or idle too long */
        if (!(what & EV_TIMEOUT) && hr_evio_read(fd, c->in) == -2) return;
        idle_remove(c);
        conn_free(c);
        return;
    }
    if (what & EV_TIMEOUT) {
        finish(x, c->connected ? HR_XFER_TIMEOUT : HR_XFER_CONNECT_TIMEOUT,
               c->connected ? "upstream stopped sending (idle timeout)" : "connection timed out");
        return;
    }
    if (!c->connected) return; /* wev (active too on an error) tells how the connect ended */
    ssize_t n = hr_evio_read(fd, c->in);
    if (n > 0) {
        x->got_bytes = true;
        parse(x); /* may end x and free or park c: neither is touched after */
        return;
    }
    if (n == -2) return;
    conn_broken(c, x, n == 0);
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    h1_conn *c = arg;
    hr_xfer *x = c->x;
    if (!x) { /* parked connections have nothing to write */
        idle_remove(c);
        conn_free(c);
        return;
    }
    if (!c->connected) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
        if (err == EINPROGRESS || err == EALREADY) return;
        if (err) {
            char msg[160];
            snprintf(msg, sizeof msg, "could not connect to %s:%d: %s", x->o->host, x->o->port, strerror(err));
            finish(x, HR_XFER_CONNECT, msg);
            return;
        }
        conn_connected(c, x);
    } else if (c->werr) {
        c->werr = 0;
        conn_broken(c, x, false);
        return;
    }
    if (hr_evio_flush(fd, c->out) < 0) {
        conn_broken(c, x, false);
        return;
    }
    if (!evbuffer_get_length(c->out)) event_del(c->wev);
}

static int resolve(h1_origin *o) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    if (getaddrinfo(o->host, port, &hints, &res) != 0 || !res) return -1;
    memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
    o->addrlen = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Opens a new connection for x and queues the request (written at once when
 * the connect completed at once, as it may on loopback). -1 with msg when it
 * fails at once (the caller reports it). */
static int connect_new(hr_xfer *x, char *msg, size_t msglen) {
    h1_origin *o = x->o;
    if (!o->addrlen && resolve(o) < 0) {
        snprintf(msg, msglen, "cannot resolve %s", o->host);
        return -1;
    }
    h1_conn *c = hr_xcalloc(1, sizeof *c);
    c->o = o;
    c->timeout_ms = -1;
    c->fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = -1;
    if (c->fd >= 0) {
        rc = connect(c->fd, (struct sockaddr *)&o->addr, o->addrlen);
        if (rc < 0 && (errno == EINPROGRESS || errno == EINTR)) rc = 1; /* completes in the background */
    }
    if (rc >= 0) {
        c->in = evbuffer_new();
        c->out = evbuffer_new();
        c->rev = event_new(o->st->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
        c->wev = event_new(o->st->base, c->fd, EV_WRITE | EV_PERSIST, on_writable, c);
        if (!c->in || !c->out || !c->rev || !c->wev) {
            rc = -1;
            errno = ENOMEM;
        }
    }
    if (rc < 0) {
        snprintf(msg, msglen, "could not connect to %s:%d: %s", o->host, o->port, strerror(errno));
        conn_free(c);
        o->addrlen = 0;
        return -1;
    }
    c->x = x;
    x->conn = c;
    if (rc == 0) {
        conn_connected(c, x);
    } else {
        conn_arm(c, x->connect_timeout_ms);
        event_add(c->wev, NULL);
    }
    send_request(x);
    return 0;
}

/* A failure found while starting is reported from the loop, after
 * hr_xfer_start has returned (callers expect no callback before that). */
static void deferred_fail(evutil_socket_t fd, short what, void *arg) {
    hr_xfer *x = arg;
    finish(x, HR_XFER_CONNECT, x->errmsg);
}

static void send_request(hr_xfer *x) {
    h1_conn *c = x->conn;
    x->state = S_STATUS;
    x->got_bytes = false;
    evbuffer_add_buffer_reference(c->out, x->request);
    if (c->connected) conn_flush(c);
}

/* ---- start / cancel ------------------------------------------------------- */

static h1_state *loop_state(hr_loop *loop) {
    void **slot = hr_loop_h1_slot(loop);
    if (!*slot) {
        h1_state *st = hr_xcalloc(1, sizeof *st);
        st->base = hr_loop_base(loop);
        *slot = st;
    }
    return *slot;
}

static h1_origin *origin_get(h1_state *st, const char *host, size_t hl, int port) {
    for (h1_origin *o = st->origins; o; o = o->next)
        if (o->port == port && strlen(o->host) == hl && !memcmp(o->host, host, hl)) return o;
    h1_origin *o = hr_xcalloc(1, sizeof *o);
    o->st = st;
    o->host = hr_xstrndup(host, hl);
    o->port = port;
    hr_buf hp;
    hr_buf_init(&hp, 0);
    hr_buf_printf(&hp, "%s:%d", o->host, port);
    o->hostport = hr_buf_steal(&hp);
    o->next = st->origins;
    st->origins = o;
    return o;
}

hr_xfer *hr_xfer_start_h1(hr_loop *loop, const hr_xfer_opts *o, const hr_xfer_cbs *cbs, void *ud) {
    /* http://host[:port]/path ; IPv6 literals as [addr] */
    const char *h = o->url + 7, *hend, *p;
    int port = 80;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend) return NULL;
        h++;
        p = hend + 1;
    } else {
        hend = h + strcspn(h, ":/?");
        p = hend;
    }
    if (hend == h) return NULL;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (v <= 0 || v > 65535) return NULL;
        port = (int)v;
        p = end;
    }
    const char *path = *p ? p : "/";
    if (*path != '/') return NULL;

    h1_state *st = loop_state(loop);
    hr_xfer *x = hr_xcalloc(1, sizeof *x);
    x->kind = 1;
    x->o = origin_get(st, h, (size_t)(hend - h), port);
    x->cbs = *cbs;
    x->ud = ud;
    x->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    x->idle_timeout_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 120000;
    /* the head in one piece (one printf per line cost ~4k instructions a request) */
    hr_buf head;
    hr_buf_init(&head, 0);
    hr_buf_puts(&head, o->method);
    hr_buf_append(&head, " ", 1);
    hr_buf_puts(&head, path);
    hr_buf_puts(&head, " HTTP/1.1\r\nHost: ");
    hr_buf_puts(&head, x->o->hostport);
    hr_buf_append(&head, "\r\n", 2);
    for (const char *const *hd = o->headers; hd && *hd; hd++) {
        hr_buf_puts(&head, *hd);
        hr_buf_append(&head, "\r\n", 2);
    }
    if (!strcmp(o->method, "POST")) {
        char num[24];
        int i = (int)sizeof num;
        size_t v = o->body_len;
        do {
            num[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        hr_buf_puts(&head, "Content-Length: ");
        hr_buf_append(&head, num + i, sizeof num - (size_t)i);
        hr_buf_append(&head, "\r\n", 2);
    }
    hr_buf_append(&head, "\r\n", 2);
    if (o->body_len) hr_buf_append(&head, o->body, o->body_len);
    x->request = evbuffer_new();
    evbuffer_add(x->request, head.data, head.len);
    hr_buf_free(&head);
    if (o->total_timeout_ms > 0) {
        x->timer = evtimer_new(st->base, on_timeout, x);
        struct timeval tv = {o->total_timeout_ms / 1000, (o->total_timeout_ms % 1000) * 1000};
        evtimer_add(x->timer, &tv);
    }
    h1_origin *org = x->o;
    if (org->idle) { /* reuse a kept-alive connection */
        h1_conn *c = org->idle;
        org->idle = c->next;
        org->n_idle--;
        c->x = x;
        c->served++;
        x->conn = c;
        /* the idle timer runs from now: the read event stays added, this only
         * moves its timeout (no system call) */
        conn_arm(c, x->idle_timeout_ms);
        send_request(x);
    } else if (connect_new(x, x->errmsg, sizeof x->errmsg) < 0) {
        if (x->timer) event_free(x->timer);
        x->timer = evtimer_new(st->base, deferred_fail, x);
        struct timeval zero = {0, 0};
        evtimer_add(x->timer, &zero);
    }
    return x;
}

void hr_xfer_cancel_h1(hr_xfer *x) {
    if (x->conn) conn_free(x->conn); /* a half-read answer: the connection cannot be reused */
    xfer_free(x);
}

void hr_h1_loop_free(void *state) {
    h1_state *st = state;
    if (!st) return;
    while (st->origins) {
        h1_origin *o = st->origins;
        st->origins = o->next;
        while (o->idle) {
            h1_conn *c = o->idle;
            o->idle = c->next;
            conn_free(c);
        }
        free(o->host);
        free(o->hostport);
        free(o);
    }
    free(st);
}
