/* loadgen: open-loop HTTP/1.1 load at a fixed request rate, for measuring
 * latency at a given load (wrk measures closed-loop throughput instead).
 *
 *   loadgen HOST PORT PATH BODY_FILE RATE SECONDS [CONNECTIONS]
 *
 * Requests are scheduled at fixed intervals; latency is measured from the
 * scheduled time (so a stall is charged to every request it delays), over
 * keep-alive connections with one request in flight each. Prints
 * "sent ok p50_us p90_us p99_us p999_us max_us". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    int busy;
    double sched;      /* scheduled send time of the in-flight request (s) */
    char buf[65536];
    size_t len;
} conn;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int open_conn(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Returns 1 when buf holds a whole response (Content-Length framed). */
static int response_complete(conn *c, int *status) {
    c->buf[c->len < sizeof c->buf ? c->len : sizeof c->buf - 1] = 0;
    char *hdr_end = strstr(c->buf, "\r\n\r\n");
    if (!hdr_end) return 0;
    *status = atoi(c->buf + 9);
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    size_t body = cl && cl < hdr_end ? (size_t)atol(cl + 17) : 0;
    return c->len >= (size_t)(hdr_end + 4 - c->buf) + body;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: loadgen HOST PORT PATH BODY_FILE RATE SECONDS [CONNECTIONS]\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *path = argv[3];
    FILE *f = fopen(argv[4], "rb");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    char body[16384];
    size_t blen = fread(body, 1, sizeof body, f);
    fclose(f);
    double rate = atof(argv[5]), secs = atof(argv[6]);
    int nconn = argc > 7 ? atoi(argv[7]) : 16;
    char req[20000];
    int rlen = snprintf(req, sizeof req,
                        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%.*s",
                        path, host, blen, (int)blen, body);
    conn *cs = calloc((size_t)nconn, sizeof *cs);
    int ep = epoll_create1(0);
    for (int i = 0; i < nconn; i++) {
        cs[i].fd = open_conn(host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    long total = (long)(rate * secs);
    double *lat = calloc((size_t)total + 1, sizeof *lat);
    long sent = 0, done = 0, ok = 0;
    double t0 = now_s() + 0.05, interval = 1.0 / rate;
    while (done < total) {
        double t = now_s();
        /* send every request whose time has come, if a connection is free */
        while (sent < total && t0 + (double)sent * interval <= t) {
            conn *c = NULL;
            for (int i = 0; i < nconn; i++)
                if (!cs[i].busy) { c = &cs[i]; break; }
            if (!c) break; /* all busy: the request waits; its latency counts from its scheduled time */
            c->busy = 1;
            c->sched = t0 + (double)sent * interval;
            c->len = 0;
            if (write(c->fd, req, (size_t)rlen) != rlen) { perror("write"); return 1; }
            sent++;
        }
        double next = sent < total ? t0 + (double)sent * interval : t + 0.01;
        int timeout_ms = (int)((next - now_s()) * 1000);
        if (timeout_ms < 0) timeout_ms = 0;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, timeout_ms > 10 ? 10 : timeout_ms);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
            if (r <= 0) { fprintf(stderr, "connection closed by server\n"); return 1; }
            c->len += (size_t)r;
            int status;
            if (c->busy && response_complete(c, &status)) {
                lat[done++] = (now_s() - c->sched) * 1e6;
                ok += status == 200;
                c->busy = 0;
            }
        }
        if (now_s() > t0 + secs + 10) break; /* server stalled */
    }
    qsort(lat, (size_t)done, sizeof *lat, cmp_d);
#define P(q) (done ? lat[(long)((double)(done - 1) * (q))] : 0)
    printf("%ld %ld %.0f %.0f %.0f %.0f %.0f\n", sent, ok, P(0.5), P(0.9), P(0.99), P(0.999), done ? lat[done - 1] : 0);
    return ok == total ? 0 : 1;
}
