/* The gateway's HTTP/1.1 server (gateway/http.h) against raw sockets:
 * keep-alive, pipelining (answers in order, also when the first is answered
 * later from the loop), Content-Length and chunked bodies, 100-continue,
 * HTTP/1.0, HEAD, streaming, query decoding, the client-gone callback, and
 * malformed or oversized input (request line, headers, folding, chunk
 * sizes, framing conflicts, body limits, input arriving a byte at a time);
 * replies larger than the socket buffer to a client that reads late (the
 * write event path), and a stream to a client that reset the connection
 * (the write error path). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "core/buf.h"
#include "gateway/http.h"

#define MAX_BODY 1000
#define MAX_HEAD 2048

static struct event_base *base;
static hr_http_server *srv;
static pthread_t loop_thread;
static int port;
static atomic_int closed_calls;

/* ---- handler ---- */

static void later_cb(evutil_socket_t fd, short what, void *arg) {
    hr_http_req *r = arg;
    hr_http_send(r, 200, "later", 5);
}

static void on_close(hr_http_req *r, void *arg) { atomic_fetch_add(&closed_calls, 1); }

#define BIG_LEN (8u << 20)
static atomic_int flood_done;

/* /flood: a stream written from the loop, 32 KiB every millisecond, 400
 * times, whatever happens to the client; then ended */
typedef struct flood {
    hr_http_req *r;
    int left;
    struct event *ev;
} flood;

static void flood_cb(evutil_socket_t fd, short what, void *arg) {
    flood *f = arg;
    static char chunk[32768];
    memset(chunk, 'f', sizeof chunk);
    if (f->left-- > 0) {
        hr_http_stream_write(f->r, chunk, sizeof chunk);
        event_add(f->ev, &(struct timeval){0, 1000});
        return;
    }
    hr_http_stream_end(f->r);
    event_free(f->ev);
    free(f);
    atomic_fetch_add(&flood_done, 1);
}

static void handler(hr_http_req *r, void *arg) {
    const char *path = hr_http_req_path(r);
    if (!strcmp(path, "/later")) {
        event_base_once(base, -1, EV_TIMEOUT, later_cb, r, &(struct timeval){0, 20000});
        return;
    }
    if (!strcmp(path, "/hold")) {
        hr_http_req_on_close(r, on_close, NULL);
        return;
    }
    if (!strcmp(path, "/big")) {
        char *body = malloc(BIG_LEN);
        for (size_t i = 0; i < BIG_LEN; i++) body[i] = (char)('a' + i % 26);
        hr_http_send_take(r, 200, body, BIG_LEN);
        return;
    }
    if (!strcmp(path, "/flood")) {
        flood *f = calloc(1, sizeof *f);
        f->r = r;
        f->left = 400;
        f->ev = evtimer_new(base, flood_cb, f);
        hr_http_stream_start(r, 200);
        event_add(f->ev, &(struct timeval){0, 1000});
        return;
    }
    if (!strcmp(path, "/stream")) {
        hr_http_add_header(r, "Content-Type", "text/event-stream");
        hr_http_stream_start(r, 200);
        hr_http_stream_write(r, "data: 1\n\n", 9);
        hr_http_stream_write(r, "data: 2\n\n", 9);
        hr_http_stream_end(r);
        return;
    }
    /* /echo: what the server understood */
    hr_buf b;
    hr_buf_init(&b, 0);
    size_t blen;
    const char *body = hr_http_req_body(r, &blen);
    const char *a = hr_http_req_param(r, "a");
    const char *x = hr_http_req_header(r, "x-test");
    hr_buf_printf(&b, "%d|%s|%s|%s|%s|", (int)hr_http_req_method(r), path, hr_http_req_query_ok(r) ? (a ? a : "-") : "BADQ",
                  x ? x : "-", hr_http_req_uri(r));
    hr_buf_append(&b, body, blen);
    hr_http_add_header(r, "X-Bad", "a\r\nInjected: yes");
    size_t n = b.len;
    hr_http_send_take(r, 200, hr_buf_steal(&b), n);
}

static void *loop_main(void *arg) {
    event_base_dispatch(base);
    return NULL;
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN); /* as serve does: a write to a reset client is an error, not a signal */
    evthread_use_pthreads();
    base = event_base_new();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    hr_http_limits lim = {.max_head = MAX_HEAD, .max_body = MAX_BODY, .timeout_s = 30};
    char err[128];
    srv = hr_http_server_create(base, fd, &lim, handler, NULL, err, sizeof err);
    assert_non_null(srv);
    pthread_create(&loop_thread, NULL, loop_main, NULL);
    return 0;
}

static int teardown(void **state) {
    event_base_loopbreak(base);
    pthread_join(loop_thread, NULL);
    hr_http_server_free(srv);
    event_base_free(base);
    return 0;
}

/* ---- client ---- */

static int client(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_str(int fd, const char *s) { assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s)); }

typedef struct resp {
    int status;
    char head[4096];
    char body[4096];
    size_t body_len;
} resp;

static char inbuf[65536];
static size_t inlen;

static bool fill(int fd) {
    ssize_t n = read(fd, inbuf + inlen, sizeof inbuf - 1 - inlen);
    if (n <= 0) return false;
    inlen += (size_t)n;
    inbuf[inlen] = 0;
    return true;
}

static void consume(size_t n) {
    memmove(inbuf, inbuf + n, inlen - n);
    inlen -= n;
    inbuf[inlen] = 0;
}

/* Reads one response (Content-Length or chunked); false on EOF first. */
static bool read_resp(int fd, resp *r) {
    char *e;
    while (!(e = strstr(inbuf, "\r\n\r\n")))
        if (!fill(fd)) return false;
    size_t hl = (size_t)(e + 4 - inbuf);
    assert_true(hl < sizeof r->head);
    memcpy(r->head, inbuf, hl);
    r->head[hl] = 0;
    consume(hl);
    r->status = atoi(r->head + 9);
    r->body_len = 0;
    const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
    if (cl) {
        size_t n = (size_t)atol(cl + 18);
        while (inlen < n) assert_true(fill(fd));
        memcpy(r->body, inbuf, n);
        r->body_len = n;
        consume(n);
    } else if (strcasestr(r->head, "Transfer-Encoding: chunked")) {
        for (;;) {
            while (!strstr(inbuf, "\r\n")) assert_true(fill(fd));
            size_t n = strtoul(inbuf, NULL, 16);
            consume((size_t)(strstr(inbuf, "\r\n") + 2 - inbuf));
            while (inlen < n + 2) assert_true(fill(fd));
            memcpy(r->body + r->body_len, inbuf, n);
            r->body_len += n;
            consume(n + 2);
            if (!n) break;
        }
    }
    r->body[r->body_len] = 0;
    return true;
}

static bool closed_by_server(int fd) {
    char c;
    return inlen == 0 && read(fd, &c, 1) == 0;
}

static resp one(const char *raw) {
    int fd = client();
    inlen = 0;
    inbuf[0] = 0;
    send_str(fd, raw);
    resp r;
    assert_true(read_resp(fd, &r));
    close(fd);
    return r;
}

/* ---- cases ---- */

static void test_keep_alive_and_headers(void **state) {
    int fd = client();
    inlen = 0;
    resp r;
    for (int i = 0; i < 3; i++) {
        send_str(fd, "GET /echo?a=x%20y+z&b=1 HTTP/1.1\r\nHost: h\r\nX-Test:  spaced value  \r\n\r\n");
        assert_true(read_resp(fd, &r));
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "0|/echo|x y z|spaced value|/echo?a=x%20y+z&b=1|");
        assert_non_null(strstr(r.head, "Content-Type: application/json\r\n"));
        assert_non_null(strstr(r.head, "\r\nDate: "));
        assert_null(strstr(r.head, "Connection: close"));
        assert_null(strstr(r.head, "\r\nInjected"));              /* CR/LF in a value cannot add a header */
        assert_non_null(strstr(r.head, "X-Bad: a  Injected: yes")); /* ... they become spaces */
    }
    close(fd);
}

static void test_bodies(void **state) {
    resp r = one("POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert_string_equal(r.body, "2|/echo|-|-|/echo|hello");
    r = one("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n");
    assert_string_equal(r.body, "2|/echo|-|-|/echo|abc0123456789");
    r = one("POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_string_equal(r.body, "2|/echo|-|-|/echo|");
    /* 100-continue: the interim answer comes before the body is sent */
    int fd = client();
    inlen = 0;
    send_str(fd, "POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    assert_true(read_resp(fd, &r));
    assert_int_equal(r.status, 100);
    send_str(fd, "ok");
    assert_true(read_resp(fd, &r));
    assert_string_equal(r.body, "2|/echo|-|-|/echo|ok");
    close(fd);
}

static void test_pipelining_in_order(void **state) {
    int fd = client();
    inlen = 0;
    send_str(fd, "GET /later HTTP/1.1\r\n\r\nGET /echo?a=2 HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
    resp r;
    assert_true(read_resp(fd, &r));
    assert_string_equal(r.body, "later");
    assert_true(read_resp(fd, &r));
    assert_string_equal(r.body, "0|/echo|2|-|/echo?a=2|");
    assert_true(read_resp(fd, &r));
    assert_string_equal(r.body, "2|/echo|-|-|/echo|xyz");
    close(fd);
}

static void test_byte_at_a_time(void **state) {
    const char *req = "POST /echo?a=1 HTTP/1.1\r\nX-Test: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    int fd = client();
    inlen = 0;
    for (const char *p = req; *p; p++) {
        assert_int_equal(write(fd, p, 1), 1);
        if ((p - req) % 7 == 0) usleep(1000);
    }
    resp r;
    assert_true(read_resp(fd, &r));
    assert_string_equal(r.body, "2|/echo|1|t|/echo?a=1|hi");
    close(fd);
}

static void test_http10_head_stream(void **state) {
    int fd = client();
    inlen = 0;
    send_str(fd, "GET /echo HTTP/1.0\r\n\r\n");
    resp r;
    assert_true(read_resp(fd, &r));
    assert_non_null(strstr(r.head, "Connection: close"));
    assert_true(closed_by_server(fd));
    close(fd);

    r = one("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_non_null(strstr(r.head, "Connection: keep-alive"));

    fd = client();
    inlen = 0;
    send_str(fd, "HEAD /echo HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
    char *e;
    while (!(e = strstr(inbuf, "\r\n\r\n"))) assert_true(fill(fd));
    assert_non_null(strstr(inbuf, "Content-Length: 18\r\n")); /* of the body a GET would get */
    consume((size_t)(e + 4 - inbuf));
    assert_true(read_resp(fd, &r)); /* the next answer follows at once: no body after HEAD */
    assert_string_equal(r.body, "0|/echo|-|-|/echo|");
    close(fd);

    r = one("GET /stream HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(r.head, "Transfer-Encoding: chunked"));
    assert_non_null(strstr(r.head, "Content-Type: text/event-stream"));
    assert_null(strstr(r.head, "application/json"));
    assert_string_equal(r.body, "data: 1\n\ndata: 2\n\n");
}

static void test_query_malformed(void **state) {
    resp r = one("GET /echo?a HTTP/1.1\r\n\r\n");
    assert_string_equal(r.body, "0|/echo|BADQ|-|/echo?a|");
    r = one("GET /echo?=1 HTTP/1.1\r\n\r\n");
    assert_string_equal(r.body, "0|/echo|BADQ|-|/echo?=1|");
    r = one("GET /echo?a=%zz%4 HTTP/1.1\r\n\r\n"); /* a bad escape stays as it is */
    assert_string_equal(r.body, "0|/echo|%zz%4|-|/echo?a=%zz%4|");
    r = one("PATCH /echo HTTP/1.1\r\n\r\n");
    assert_string_equal(r.body, "6|/echo|-|-|/echo|");
}

static void expect_error(const char *raw, int status) {
    int fd = client();
    inlen = 0;
    send_str(fd, raw);
    resp r;
    assert_true(read_resp(fd, &r));
    if (r.status != status) fail_msg("%d instead of %d for %s", r.status, status, raw);
    assert_non_null(strstr(r.head, "Connection: close"));
    assert_non_null(strstr(r.body, "\"error\""));
    assert_true(closed_by_server(fd));
    close(fd);
}

static void test_malformed(void **state) {
    expect_error("GARBAGE\r\n\r\n", 400);
    expect_error("GET\r\n\r\n", 400);
    expect_error("GET /x\r\n\r\n", 400);
    expect_error("GET /x HTTP/2.0\r\n\r\n", 505);
    expect_error("GET /x FTP/1.1\r\n\r\n", 400);
    expect_error("G(T /x HTTP/1.1\r\n\r\n", 400);
    expect_error("GET /x HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    expect_error("GET /x HTTP/1.1\r\n: empty\r\n\r\n", 400);
    expect_error("GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400);
    expect_error("GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
    expect_error("POST /x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    expect_error("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n", 400);
    expect_error("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400);
}

static void test_limits(void **state) {
    char big[MAX_HEAD + 200];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /x HTTP/1.1\r\nX: ", 20);
    big[sizeof big - 1] = 0;
    expect_error(big, 431); /* no end of head within the limit */
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_buf_puts(&b, "GET /x HTTP/1.1\r\n");
    for (int i = 0; i <= HR_HTTP_MAX_HEADERS; i++) hr_buf_printf(&b, "H%d: v\r\n", i);
    hr_buf_puts(&b, "\r\n");
    expect_error(b.data, 431);
    hr_buf_free(&b);
    expect_error("POST /x HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413);
    expect_error("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", 413);
}

static void test_chunked_over_limit(void **state) {
    /* 1000 bytes are fine, one more in a second chunk is not */
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_buf_puts(&b, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n");
    for (int i = 0; i < 1000; i++) hr_buf_append(&b, "x", 1);
    hr_buf_puts(&b, "\r\n1\r\n");
    expect_error(b.data, 413);
    hr_buf_free(&b);
}

static void test_client_gone(void **state) {
    int before = atomic_load(&closed_calls);
    int fd = client();
    send_str(fd, "GET /hold HTTP/1.1\r\n\r\n");
    usleep(50000);
    close(fd);
    for (int i = 0; i < 200 && atomic_load(&closed_calls) == before; i++) usleep(5000);
    assert_int_equal(atomic_load(&closed_calls), before + 1);
    /* a client that leaves mid-request costs nothing and is not reported */
    fd = client();
    send_str(fd, "POST /hold HTTP/1.1\r\nContent-Length: 10\r\n\r\nab");
    close(fd);
    usleep(50000);
    assert_int_equal(atomic_load(&closed_calls), before + 1);
}

/* 8 MiB cannot go out in one write: the rest waits for the write event while
 * the client sleeps, arrives complete and in order, and the connection stays
 * usable. */
static void test_big_reply_late_reader(void **state) {
    int fd = client();
    inlen = 0;
    inbuf[0] = 0;
    send_str(fd, "GET /big HTTP/1.1\r\n\r\n");
    usleep(200000);
    char *e;
    while (!(e = strstr(inbuf, "\r\n\r\n"))) assert_true(fill(fd));
    assert_non_null(strstr(inbuf, "Content-Length: 8388608\r\n"));
    consume((size_t)(e + 4 - inbuf));
    size_t got = 0;
    bool ok = true;
    for (;;) {
        for (size_t i = 0; i < inlen && got < BIG_LEN; i++, got++)
            if (inbuf[i] != (char)('a' + got % 26)) ok = false;
        inlen = 0;
        inbuf[0] = 0;
        if (got == BIG_LEN) break;
        assert_true(fill(fd));
    }
    assert_true(ok);
    send_str(fd, "GET /echo?a=2 HTTP/1.1\r\n\r\n");
    resp r;
    assert_true(read_resp(fd, &r));
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "|/echo|2|"));
    close(fd);
}

/* The client half-closes (its request is answered anyway), reads the head,
 * then resets the connection: the server's next writes fail, the connection
 * is closed from the loop, later writes are ignored, and the handler still
 * ends its request (ASan: no use after free, no leak). */
static void test_stream_to_reset_client(void **state) {
    int before = atomic_load(&flood_done);
    int fd = client();
    inlen = 0;
    inbuf[0] = 0;
    send_str(fd, "GET /flood HTTP/1.1\r\n\r\n");
    shutdown(fd, SHUT_WR);
    while (!strstr(inbuf, "\r\n\r\n")) assert_true(fill(fd));
    usleep(20000);
    struct linger lg = {1, 0}; /* close with RST */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    for (int i = 0; i < 400 && atomic_load(&flood_done) == before; i++) usleep(5000);
    assert_int_equal(atomic_load(&flood_done), before + 1);
    resp r = one("GET /echo?a=3 HTTP/1.1\r\n\r\n");
    assert_int_equal(r.status, 200);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_and_headers),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_pipelining_in_order),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_http10_head_stream),
        cmocka_unit_test(test_query_malformed),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_chunked_over_limit),
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_big_reply_late_reader),
        cmocka_unit_test(test_stream_to_reset_client),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
