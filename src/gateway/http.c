/* The gateway's HTTP/1.1 server (http.h): a connection is a socket with an
 * input and an output evbuffer and at most one request being read or
 * answered; the request's head is copied once and its header names and values
 * point into that copy; a reply's head is written in one piece. Replies are
 * written at once (core/evio.h says why not bufferevents); a write event is
 * armed only while the kernel's send buffer is full. */
#include "gateway/http.h"

#include <netinet/in.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "core/buf.h"
#include "core/evio.h"

#define MAX_CHUNK_LINE 1024     /* chunk-size line with extensions */
#define MAX_PARAMS 64           /* query parameters looked at */
#define MAX_PIPELINED (1u << 20) /* bytes read ahead while a request is answered */
#define COPY_BELOW 16384        /* smaller bodies are copied into the output, larger ones referenced */

typedef struct conn conn;

struct hr_http_server {
    struct event_base *base;
    struct evconnlistener *lis;
    hr_http_limits lim;
    hr_http_handler handler;
    void *arg;
    conn *conns;
    struct timeval tmo_tv;
    const struct timeval *tmo; /* tmo_tv as a libevent common timeout (O(1) re-arming) */
    time_t date_t;
    char date[40];
};

enum { R_HEAD, R_BODY, R_CHUNK_SIZE, R_CHUNK_DATA, R_CHUNK_CRLF, R_TRAILER, R_PENDING, R_STREAM };

struct hr_http_req {
    conn *c; /* NULL once the client is gone (the handler still owns the request) */
    int state;
    hr_http_method method;
    int minor;
    bool keep_alive, chunked_out, has_ctype;
    char *head; /* the request head, NUL-separated; then the path */
    const char *uri, *path;
    int n_headers;
    hr_buf body;
    long long remaining;
    size_t trailer_bytes;
    hr_buf out; /* response header lines */
    void (*on_close)(hr_http_req *r, void *arg);
    void *close_arg;
    bool in_close_cb; /* answering from on_close is ignored: the server frees r after it */
    bool q_parsed, q_ok;
    int n_params;
    char *params; /* decoded names and values, NUL-separated */
    /* not zeroed on creation (2.5 KiB: calloc cost 4.5k instructions a request) */
    const char *hname[HR_HTTP_MAX_HEADERS], *hval[HR_HTTP_MAX_HEADERS];
    const char *pname[MAX_PARAMS], *pval[MAX_PARAMS];
};

struct conn {
    hr_http_server *s;
    evutil_socket_t fd;
    struct evbuffer *in, *out;
    struct event *rev;    /* persistent read event with the idle timeout */
    struct event *wev;    /* armed while output waits for the socket */
    conn *prev, *next;
    hr_http_req *req;
    struct event *resume; /* pipelined input waiting after an answer made outside the read callback,
                           * or the close of a connection whose write failed (dead) */
    hr_buf scratch;       /* the reply head being written */
    bool closing;         /* close once the output is flushed */
    bool in_process;
    bool read_eof;        /* the client half-closed while its request is answered */
    bool reading;         /* rev is added */
    bool writing;         /* wev is added */
    bool dead;            /* a write failed: closed from the loop (resume) */
};

/* ---- small helpers -------------------------------------------------------- */

const char *hr_http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

static const char *date_now(hr_http_server *s) {
    time_t t = time(NULL);
    if (t != s->date_t) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_t = t;
    }
    return s->date;
}

static void put_uint(hr_buf *b, unsigned long long v) {
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    hr_buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

/* Comma-separated, case-insensitive token in a header value. */
static bool has_token(const char *v, const char *tok) {
    size_t tl = strlen(tok);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        const char *e = v;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - v) == tl && !strncasecmp(v, tok, tl)) return true;
        v = e;
    }
    return false;
}

/* ---- connections ----------------------------------------------------------- */

static void req_free(hr_http_req *r) {
    if (!r) return;
    free(r->head);
    hr_buf_free(&r->body);
    hr_buf_free(&r->out);
    free(r->params);
    free(r);
}

static struct timeval tv_of(int s) { return (struct timeval){s, 0}; }

static void conn_free(conn *c) {
    hr_http_server *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->req) {
        hr_http_req *r = c->req;
        c->req = NULL;
        r->c = NULL;
        if (r->state < R_PENDING) req_free(r); /* still being read: nobody else has it */
        else if (r->on_close) {
            r->in_close_cb = true;
            r->on_close(r, r->close_arg);
            req_free(r);
        } /* else: the handler answers it later; that frees it */
    }
    if (c->resume) event_free(c->resume);
    event_free(c->rev);
    event_free(c->wev);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    evutil_closesocket(c->fd);
    hr_buf_free(&c->scratch);
    free(c);
}

static void process(conn *c);

static void resume_cb(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    if (c->dead) conn_free(c);
    else process(c);
}

static void resume_later(conn *c) {
    if (!c->resume) c->resume = event_new(c->s->base, -1, 0, resume_cb, c);
    event_active(c->resume, EV_READ, 0);
}

static void want_read(conn *c, bool on) {
    if (on == c->reading) return;
    c->reading = on;
    if (on) event_add(c->rev, c->s->tmo);
    else event_del(c->rev);
}

/* Writes the output now; what the socket does not take waits for the write
 * event. A broken connection is closed from the loop, not from here (the
 * caller may be the handler, with the connection on its stack). */
static void flush(conn *c) {
    if (c->dead) {
        evbuffer_drain(c->out, evbuffer_get_length(c->out));
        return;
    }
    if (hr_evio_flush(c->fd, c->out) < 0) {
        c->dead = c->closing = true;
        evbuffer_drain(c->out, evbuffer_get_length(c->out));
        want_read(c, false);
        resume_later(c);
        return;
    }
    if (evbuffer_get_length(c->out) && !c->writing) {
        c->writing = true;
        event_add(c->wev, c->s->tmo);
    }
}

/* The current request is over (answered): the next one may be read. */
static void req_done(hr_http_req *r) {
    conn *c = r->c;
    req_free(r);
    if (!c) return;
    c->req = NULL;
    flush(c);
    if (!c->closing && c->read_eof) c->closing = true;
    if (c->closing) {
        want_read(c, false);
        /* else process(), the write event or resume (dead) closes it */
        if (!c->in_process && !c->dead && !evbuffer_get_length(c->out)) conn_free(c);
        return;
    }
    want_read(c, true);
    if (!c->in_process && evbuffer_get_length(c->in)) resume_later(c);
}

/* Answers a request the handler never saw (framing errors) and closes. */
static void reply_error(conn *c, int status, const char *msg) {
    hr_buf *b = &c->scratch;
    hr_buf_reset(b);
    char body[320];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}",
                     msg);
    hr_buf_puts(b, "HTTP/1.1 ");
    put_uint(b, (unsigned)status);
    hr_buf_puts(b, " ");
    hr_buf_puts(b, hr_http_status_text(status));
    hr_buf_puts(b, "\r\nDate: ");
    hr_buf_puts(b, date_now(c->s));
    hr_buf_puts(b, "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ");
    put_uint(b, (unsigned)n);
    hr_buf_puts(b, "\r\n\r\n");
    hr_buf_append(b, body, (size_t)n);
    evbuffer_add(c->out, b->data, b->len);
    c->closing = true;
    want_read(c, false);
    if (c->req) {
        c->req->c = NULL;
        req_free(c->req);
        c->req = NULL;
    }
    flush(c);
}

/* ---- reading a request ------------------------------------------------------ */

static hr_http_method method_of(const char *m) {
    switch (m[0]) {
    case 'G': if (!strcmp(m, "GET")) return HR_HTTP_GET; break;
    case 'H': if (!strcmp(m, "HEAD")) return HR_HTTP_HEAD; break;
    case 'P': if (!strcmp(m, "POST")) return HR_HTTP_POST; if (!strcmp(m, "PUT")) return HR_HTTP_PUT; break;
    case 'D': if (!strcmp(m, "DELETE")) return HR_HTTP_DELETE; break;
    case 'O': if (!strcmp(m, "OPTIONS")) return HR_HTTP_OPTIONS; break;
    }
    return HR_HTTP_OTHER;
}

/* RFC 9110 token characters (method, header names): visible ASCII except
 * the separators "(),/:;<=>?@[\\]{} and the double quote. */
static bool is_tchar(unsigned char ch) {
    static const unsigned char table[128] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
        0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    };
    return ch < 128 && table[ch];
}

/* Parses the copied head (hl bytes at r->head). 0, or an HTTP status to
 * answer with (*msg says why). */
static int parse_head(hr_http_req *r, size_t hl, const char **msg) {
    char *p = r->head, *end = r->head + hl;
    /* request line */
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return *msg = "malformed request line", 400;
    char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    *le = 0;
    char *sp1 = strchr(p, ' ');
    if (!sp1 || sp1 == p) return *msg = "malformed request line", 400;
    *sp1 = 0;
    for (char *m = p; *m; m++)
        if (!is_tchar((unsigned char)*m)) return *msg = "malformed request method", 400;
    r->method = method_of(p);
    char *target = sp1 + 1, *sp2 = strchr(target, ' ');
    if (!sp2 || sp2 == target) return *msg = "malformed request line", 400;
    *sp2 = 0;
    for (char *t = target; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t == 0x7f) return *msg = "malformed request target", 400;
    const char *ver = sp2 + 1;
    if (strncmp(ver, "HTTP/1.", 7) || ver[7] < '0' || ver[7] > '9' || ver[8])
        return *msg = !strncmp(ver, "HTTP/", 5) ? "HTTP version not supported" : "malformed request line",
               !strncmp(ver, "HTTP/", 5) ? 505 : 400;
    r->minor = ver[7] - '0';
    r->uri = target;
    /* headers */
    p = nl + 1;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        if (le == p) break; /* the blank line */
        *le = 0;
        if (*p == ' ' || *p == '\t') return *msg = "folded header lines are not supported", 400;
        char *colon = strchr(p, ':');
        if (!colon || colon == p) return *msg = "malformed header line", 400;
        for (char *q = p; q < colon; q++)
            if (!is_tchar((unsigned char)*q)) return *msg = "malformed header name", 400;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        char *ve = le;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        *ve = 0;
        if (r->n_headers == HR_HTTP_MAX_HEADERS) return *msg = "too many header lines", 431;
        r->hname[r->n_headers] = p;
        r->hval[r->n_headers++] = v;
        p = nl + 1;
    }
    /* the path, after the head */
    size_t pl = strcspn(target, "?#");
    char *path = r->head + hl + 1;
    memcpy(path, target, pl);
    path[pl] = 0;
    r->path = path;
    /* framing */
    const char *te = NULL, *cl = NULL;
    for (int i = 0; i < r->n_headers; i++) {
        if (!strcasecmp(r->hname[i], "transfer-encoding")) {
            if (te) return *msg = "more than one Transfer-Encoding header", 400;
            te = r->hval[i];
        } else if (!strcasecmp(r->hname[i], "content-length")) {
            if (cl && strcmp(cl, r->hval[i])) return *msg = "conflicting Content-Length headers", 400;
            cl = r->hval[i];
        }
    }
    r->keep_alive = r->minor >= 1;
    const char *conn_h = hr_http_req_header(r, "connection");
    if (conn_h && has_token(conn_h, "close")) r->keep_alive = false;
    else if (conn_h && r->minor == 0 && has_token(conn_h, "keep-alive")) r->keep_alive = true;
    r->remaining = 0;
    if (te) {
        if (cl) return *msg = "both Transfer-Encoding and Content-Length", 400;
        if (r->minor == 0) return *msg = "Transfer-Encoding in an HTTP/1.0 request", 400;
        if (strcasecmp(te, "chunked")) return *msg = "only the chunked transfer coding is supported", 501;
        r->state = R_CHUNK_SIZE;
    } else if (cl) {
        long long n = 0;
        if (!*cl || strlen(cl) > 18) return *msg = "bad Content-Length", 400;
        for (const char *d = cl; *d; d++) {
            if (*d < '0' || *d > '9') return *msg = "bad Content-Length", 400;
            n = n * 10 + (*d - '0');
        }
        r->remaining = n;
        r->state = n ? R_BODY : R_PENDING;
    } else {
        r->state = R_PENDING;
    }
    return 0;
}

/* Finds the end of the head in p[0..n): index past the blank line, or 0. */
static size_t head_end(const char *p, size_t n) {
    const char *s = p, *e = p + n;
    while (s < e) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));
        if (!nl) return 0;
        if (nl + 1 < e && nl[1] == '\n') return (size_t)(nl + 2 - p);
        if (nl + 2 < e && nl[1] == '\r' && nl[2] == '\n') return (size_t)(nl + 3 - p);
        s = nl + 1;
    }
    return 0;
}

/* Reads a CRLF- or LF-terminated line of at most cap bytes into out (NUL-
 * terminated, without the ending). 1: got it, 0: need more, -1: too long. */
static int take_line(struct evbuffer *in, char *out, size_t cap) {
    size_t avail = evbuffer_get_length(in);
    size_t look = avail < cap + 2 ? avail : cap + 2;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
    const char *nl = p ? memchr(p, '\n', look) : NULL;
    if (!nl) return look >= cap + 2 ? -1 : 0;
    size_t l = (size_t)(nl - p);
    size_t drain = l + 1;
    if (l && p[l - 1] == '\r') l--;
    if (l >= cap) return -1;
    memcpy(out, p, l);
    out[l] = 0;
    evbuffer_drain(in, drain);
    return 1;
}

/* Moves up to r->remaining body bytes from in. */
static void take_body(hr_http_req *r, struct evbuffer *in) {
    size_t avail = evbuffer_get_length(in);
    size_t n = avail < (unsigned long long)r->remaining ? avail : (size_t)r->remaining;
    if (!n) return;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    hr_buf_append(&r->body, p, n); /* within max_body: checked before */
    evbuffer_drain(in, n);
    r->remaining -= (long long)n;
}

/* Advances the request being read. 1: complete, 0: need more bytes, -1: an
 * error was answered (the connection closes). */
static int read_request(conn *c, hr_http_req *r) {
    struct evbuffer *in = c->in;
    const hr_http_limits *lim = &c->s->lim;
    char line[MAX_CHUNK_LINE + 1];
    for (;;) {
        switch (r->state) {
        case R_HEAD: {
            size_t avail = evbuffer_get_length(in);
            /* blank lines between requests are allowed (RFC 9112 2.2) */
            while (avail) {
                const char *p = (const char *)evbuffer_pullup(in, 1);
                if (*p != '\r' && *p != '\n') break;
                evbuffer_drain(in, 1);
                avail--;
            }
            if (!avail) return 0;
            size_t look = avail < lim->max_head ? avail : lim->max_head;
            const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
            size_t hl = head_end(p, look);
            if (!hl) {
                if (avail >= lim->max_head) {
                    reply_error(c, 431, "request line and headers are too large");
                    return -1;
                }
                return 0;
            }
            r->head = hr_xmalloc(2 * hl + 2); /* the head, then the path (shorter than the head) */
            memcpy(r->head, p, hl);
            r->head[hl] = 0;
            evbuffer_drain(in, hl);
            const char *msg = NULL;
            int st = parse_head(r, hl, &msg);
            if (st) {
                reply_error(c, st, msg);
                return -1;
            }
            if (r->state == R_BODY && (unsigned long long)r->remaining > lim->max_body) {
                reply_error(c, 413, "request body is too large");
                return -1;
            }
            if (r->state != R_PENDING) {
                hr_buf_init(&r->body, lim->max_body);
                const char *ex = hr_http_req_header(r, "expect");
                if (ex && r->minor >= 1 && !strcasecmp(ex, "100-continue") && !evbuffer_get_length(in)) {
                    evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                    flush(c);
                }
            }
            break;
        }
        case R_BODY:
            take_body(r, in);
            if (r->remaining) return 0;
            r->state = R_PENDING;
            break;
        case R_CHUNK_SIZE: {
            int got = take_line(in, line, sizeof line);
            if (!got) return 0;
            unsigned long long n = 0;
            int digits = 0;
            const char *q = line;
            for (; *q; q++, digits++) {
                int d = *q >= '0' && *q <= '9' ? *q - '0' : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
                                                          : *q >= 'A' && *q <= 'F' ? *q - 'A' + 10 : -1;
                if (d < 0) break;
                n = n * 16 + (unsigned)d;
                if (digits > 14) break;
            }
            while (*q == ' ' || *q == '\t') q++;
            if (got < 0 || !digits || digits > 15 || (*q && *q != ';')) {
                reply_error(c, 400, "bad chunk size line");
                return -1;
            }
            if (n > lim->max_body - r->body.len) {
                reply_error(c, 413, "request body is too large");
                return -1;
            }
            r->remaining = (long long)n;
            r->state = n ? R_CHUNK_DATA : R_TRAILER;
            break;
        }
        case R_CHUNK_DATA:
            take_body(r, in);
            if (r->remaining) return 0;
            r->state = R_CHUNK_CRLF;
            break;
        case R_CHUNK_CRLF: {
            int got = take_line(in, line, 2);
            if (!got) return 0;
            if (got < 0 || line[0]) {
                reply_error(c, 400, "chunk data not followed by CRLF");
                return -1;
            }
            r->state = R_CHUNK_SIZE;
            break;
        }
        case R_TRAILER: {
            int got = take_line(in, line, sizeof line);
            if (!got) return 0;
            if (got < 0 || (r->trailer_bytes += strlen(line) + 2) > lim->max_head) {
                reply_error(c, 431, "trailer section is too large");
                return -1;
            }
            if (!line[0]) r->state = R_PENDING;
            break;
        }
        default:
            return 1;
        }
    }
}

static void process(conn *c) {
    if (c->in_process) return;
    c->in_process = true;
    hr_http_server *s = c->s;
    struct evbuffer *in = c->in;
    while (!c->closing) {
        if (!c->req) {
            if (!evbuffer_get_length(in)) break;
            c->req = hr_xmalloc(sizeof *c->req);
            memset(c->req, 0, offsetof(hr_http_req, hname));
            c->req->c = c;
        }
        hr_http_req *r = c->req;
        if (r->state >= R_PENDING) { /* being answered: read ahead only so far */
            if (evbuffer_get_length(in) > MAX_PIPELINED) want_read(c, false);
            break;
        }
        if (read_request(c, r) <= 0) break;
        s->handler(r, s->arg); /* may answer (and end r) before returning */
    }
    c->in_process = false;
    if (c->closing && !c->req && !c->dead && !evbuffer_get_length(c->out)) conn_free(c);
}

static void read_cb(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    hr_http_req *r = c->req;
    if (what & EV_TIMEOUT) {
        /* a quiet client while its answer is worked on (a long stream) is
         * fine: the persistent event stays armed */
        if (!(r && r->state >= R_PENDING)) conn_free(c);
        return;
    }
    ssize_t n = hr_evio_read(fd, c->in);
    if (n > 0) {
        process(c); /* may free c */
        return;
    }
    if (n == -2) return;
    if (n == 0 && r && r->state >= R_PENDING && !r->on_close) {
        /* half-close: the answer can still be written */
        c->read_eof = true;
        want_read(c, false);
        return;
    }
    conn_free(c); /* gone or broken */
}

static void write_cb(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    c->writing = false;
    if ((what & EV_TIMEOUT) || hr_evio_flush(fd, c->out) < 0) {
        conn_free(c); /* the client stopped reading, or is gone */
        return;
    }
    if (evbuffer_get_length(c->out)) {
        c->writing = true;
        event_add(c->wev, c->s->tmo);
    } else if (c->closing && !c->req) {
        conn_free(c);
    }
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
    hr_http_server *s = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = hr_xcalloc(1, sizeof *c);
    c->s = s;
    c->fd = fd;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, read_cb, c);
    c->wev = event_new(s->base, fd, EV_WRITE, write_cb, c);
    if (!c->in || !c->out || !c->rev || !c->wev) {
        if (c->in) evbuffer_free(c->in);
        if (c->out) evbuffer_free(c->out);
        if (c->rev) event_free(c->rev);
        if (c->wev) event_free(c->wev);
        close(fd);
        free(c);
        return;
    }
    hr_buf_init(&c->scratch, 0);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    want_read(c, true);
}

hr_http_server *hr_http_server_create(struct event_base *base, int listen_fd, const hr_http_limits *limits,
                                      hr_http_handler handler, void *arg, char *err, size_t errlen) {
    hr_http_server *s = hr_xcalloc(1, sizeof *s);
    s->base = base;
    s->lim = *limits;
    if (!s->lim.max_head) s->lim.max_head = 64 * 1024;
    if (s->lim.timeout_s <= 0) s->lim.timeout_s = 600;
    s->handler = handler;
    s->arg = arg;
    s->tmo_tv = tv_of(s->lim.timeout_s);
    s->tmo = event_base_init_common_timeout(base, &s->tmo_tv);
    if (!s->tmo) s->tmo = &s->tmo_tv;
    s->lis = evconnlistener_new(base, accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd);
    if (!s->lis) {
        snprintf(err, errlen, "cannot accept on the listening socket");
        free(s);
        return NULL;
    }
    return s;
}

void hr_http_server_free(hr_http_server *s) {
    if (!s) return;
    evconnlistener_free(s->lis);
    while (s->conns) conn_free(s->conns);
    free(s);
}

/* ---- request accessors -------------------------------------------------------- */

hr_http_method hr_http_req_method(const hr_http_req *r) { return r->method; }
const char *hr_http_req_uri(const hr_http_req *r) { return r->uri; }
const char *hr_http_req_path(const hr_http_req *r) { return r->path; }

const char *hr_http_req_header(const hr_http_req *r, const char *name) {
    for (int i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->hname[i], name)) return r->hval[i];
    return NULL;
}

const char *hr_http_req_body(const hr_http_req *r, size_t *len) {
    *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

void hr_http_req_on_close(hr_http_req *r, void (*cb)(hr_http_req *r, void *arg), void *arg) {
    r->on_close = cb;
    r->close_arg = arg;
}

static int hexval(char ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Decodes [s, e) ('+' is a space, %XX a byte; a '%' not followed by two hex
 * digits stays as it is) to out; returns the end of what was written. */
static char *url_decode(const char *s, const char *e, char *out) {
    while (s < e) {
        if (*s == '+') {
            *out++ = ' ';
            s++;
        } else if (*s == '%' && e - s >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *out++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 3;
        } else {
            *out++ = *s++;
        }
    }
    *out = 0;
    return out;
}

static void parse_query(hr_http_req *r) {
    r->q_parsed = true;
    r->q_ok = true;
    const char *q = strchr(r->uri, '?');
    if (!q) return;
    q++;
    size_t ql = strcspn(q, "#");
    if (!ql) return;
    r->params = hr_xmalloc(ql * 2 + 2);
    char *out = r->params;
    const char *p = q, *end = q + ql;
    while (p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (!amp) amp = end;
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        if (!eq || eq == p) { /* a pair without '=' or with an empty name */
            r->q_ok = false;
            return;
        }
        if (r->n_params < MAX_PARAMS) {
            r->pname[r->n_params] = out;
            out = url_decode(p, eq, out) + 1;
            r->pval[r->n_params++] = out;
            out = url_decode(eq + 1, amp, out) + 1;
        }
        p = amp + 1;
    }
}

const char *hr_http_req_param(hr_http_req *r, const char *name) {
    if (!r->q_parsed) parse_query(r);
    for (int i = 0; i < r->n_params; i++)
        if (!strcmp(r->pname[i], name)) return r->pval[i];
    return NULL;
}

bool hr_http_req_query_ok(hr_http_req *r) {
    if (!r->q_parsed) parse_query(r);
    return r->q_ok;
}

/* ---- answering ------------------------------------------------------------------- */

static void put_clean(hr_buf *b, const char *s) {
    size_t n = strcspn(s, "\r\n");
    if (!s[n]) { /* the common case */
        hr_buf_append(b, s, n);
        return;
    }
    const char *run = s;
    for (; *s; s++) {
        if (*s != '\r' && *s != '\n') continue;
        hr_buf_append(b, run, (size_t)(s - run));
        hr_buf_append(b, " ", 1);
        run = s + 1;
    }
    hr_buf_append(b, run, (size_t)(s - run));
}

void hr_http_add_header(hr_http_req *r, const char *name, const char *value) {
    if (!r->out.data) hr_buf_init(&r->out, 0);
    put_clean(&r->out, name);
    hr_buf_append(&r->out, ": ", 2);
    put_clean(&r->out, value ? value : "");
    hr_buf_append(&r->out, "\r\n", 2);
    if (!strcasecmp(name, "content-type")) r->has_ctype = true;
}

/* Writes the reply head; content_length < 0: streamed. */
static void write_head(hr_http_req *r, int status, long long content_length) {
    conn *c = r->c;
    hr_buf *b = &c->scratch;
    hr_buf_reset(b);
    if (content_length < 0 && r->minor == 0) r->keep_alive = false; /* 1.0: the body ends at close */
    if (c->read_eof) r->keep_alive = false;
    hr_buf_puts(b, "HTTP/1.1 ");
    put_uint(b, (unsigned)status);
    hr_buf_append(b, " ", 1);
    hr_buf_puts(b, hr_http_status_text(status));
    hr_buf_puts(b, "\r\nDate: ");
    hr_buf_puts(b, date_now(c->s));
    if (content_length >= 0) {
        hr_buf_puts(b, "\r\nContent-Length: ");
        put_uint(b, (unsigned long long)content_length);
    } else if (r->minor >= 1) {
        hr_buf_puts(b, "\r\nTransfer-Encoding: chunked");
        r->chunked_out = true;
    }
    if (!r->has_ctype) hr_buf_puts(b, "\r\nContent-Type: application/json");
    if (!r->keep_alive) hr_buf_puts(b, "\r\nConnection: close");
    else if (r->minor == 0) hr_buf_puts(b, "\r\nConnection: keep-alive");
    hr_buf_append(b, "\r\n", 2);
    if (r->out.len) hr_buf_append(b, r->out.data, r->out.len);
    hr_buf_append(b, "\r\n", 2);
    evbuffer_add(c->out, b->data, b->len);
    if (!r->keep_alive) c->closing = true;
}

static void free_cb(const void *data, size_t len, void *extra) { free((void *)data); }

/* mode: 0 copy, 1 take, 2 static */
static void send_any(hr_http_req *r, int status, const void *body, size_t len, int mode) {
    if (r->in_close_cb) {
        if (mode == 1) free((void *)body);
        return;
    }
    if (r->c && r->state == R_PENDING) {
        write_head(r, status, (long long)len);
        struct evbuffer *out = r->c->out;
        if (r->method != HR_HTTP_HEAD && len) {
            if (mode == 0 || (mode == 1 && len < COPY_BELOW)) evbuffer_add(out, body, len);
            else evbuffer_add_reference(out, body, len, mode == 1 ? free_cb : NULL, NULL);
            if (mode == 1 && len >= COPY_BELOW) body = NULL; /* the buffer frees it */
        }
    }
    if (mode == 1) free((void *)body);
    req_done(r);
}

void hr_http_send(hr_http_req *r, int status, const void *body, size_t len) { send_any(r, status, body, len, 0); }
void hr_http_send_take(hr_http_req *r, int status, char *body, size_t len) { send_any(r, status, body, len, 1); }
void hr_http_send_static(hr_http_req *r, int status, const void *body, size_t len) {
    send_any(r, status, body, len, 2);
}

void hr_http_stream_start(hr_http_req *r, int status) {
    if (r->state != R_PENDING) return;
    r->state = R_STREAM;
    if (r->c) {
        write_head(r, status, -1);
        flush(r->c);
    }
}

void hr_http_stream_write(hr_http_req *r, const void *data, size_t len) {
    if (!r->c || r->state != R_STREAM || !len || r->method == HR_HTTP_HEAD) return;
    struct evbuffer *out = r->c->out;
    if (r->chunked_out) {
        char sz[24];
        int n = snprintf(sz, sizeof sz, "%zx\r\n", len);
        evbuffer_add(out, sz, (size_t)n);
        evbuffer_add(out, data, len);
        evbuffer_add(out, "\r\n", 2);
    } else {
        evbuffer_add(out, data, len);
    }
    flush(r->c);
}

void hr_http_stream_end(hr_http_req *r) {
    if (r->in_close_cb) return;
    if (r->c && r->state == R_STREAM && r->chunked_out && r->method != HR_HTTP_HEAD)
        evbuffer_add(r->c->out, "0\r\n\r\n", 5);
    req_done(r);
}
