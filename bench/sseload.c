/* sseload: N concurrent streaming chat completions against the gateway, for
 * the continuous-batching benchmark (a C client, so the load generator takes
 * little of the 2 cores the engine needs).
 *
 *   sseload HOST PORT N MAX_TOKENS
 *
 * Stream i asks for "Write story number i about a robot." with greedy
 * decoding and include_usage. Prints one line:
 *   "streams tokens wall_s ttft_median_ms ttft_max_ms"
 * where tokens sums usage.completion_tokens and wall runs from the first
 * request to the last data: [DONE]. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct stream {
    int fd;
    char *buf;
    size_t len, cap, scanned;
    double ttft;
    long tokens;
    int done;
} stream;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: sseload HOST PORT N MAX_TOKENS\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), n = atoi(argv[3]), max_tokens = atoi(argv[4]);
    stream *s = calloc((size_t)n, sizeof *s);
    int ep = epoll_create1(0);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char body[512], req[1024];
        int bl = snprintf(body, sizeof body,
                          "{\"model\":\"small\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                          "\"max_tokens\":%d,\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":"
                          "\"Write story number %d about a robot.\"}]}",
                          max_tokens, i);
        int rl = snprintf(req, sizeof req,
                          "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n%s",
                          host, bl, body);
        s[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((unsigned short)port);
        inet_pton(AF_INET, host, &a.sin_addr);
        if (connect(s[i].fd, (struct sockaddr *)&a, sizeof a) < 0) {
            perror("connect");
            return 1;
        }
        if (write(s[i].fd, req, (size_t)rl) != rl) {
            perror("write");
            return 1;
        }
        s[i].ttft = -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, s[i].fd, &ev);
    }
    int left = n;
    double t_end = t0;
    while (left > 0) {
        struct epoll_event evs[64];
        int k = epoll_wait(ep, evs, 64, 60000);
        if (k <= 0) {
            fprintf(stderr, "sseload: timed out with %d streams unfinished\n", left);
            return 1;
        }
        for (int e = 0; e < k; e++) {
            stream *x = &s[evs[e].data.u32];
            if (x->cap - x->len < 65536) {
                x->cap = x->cap ? x->cap * 2 : 1 << 17;
                x->buf = realloc(x->buf, x->cap + 1);
            }
            ssize_t r = read(x->fd, x->buf + x->len, x->cap - x->len);
            if (r <= 0) {
                fprintf(stderr, "sseload: stream closed early\n");
                return 1;
            }
            x->len += (size_t)r;
            x->buf[x->len] = 0;
            /* scan only the new bytes (back off a little for split markers) */
            char *from = x->buf + (x->scanned > 32 ? x->scanned - 32 : 0);
            if (x->ttft < 0) {
                char *c = strstr(from, "\"content\":\"");
                while (c && c[11] == '"') c = strstr(c + 11, "\"content\":\"");
                if (c) x->ttft = now_s() - t0;
            }
            char *u = strstr(from, "\"completion_tokens\":");
            if (u) x->tokens = atol(u + 20);
            if (!x->done && strstr(from, "data: [DONE]")) {
                x->done = 1;
                left--;
                t_end = now_s();
                epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                close(x->fd);
            }
            x->scanned = x->len;
        }
    }
    double *tt = calloc((size_t)n, sizeof *tt);
    long tokens = 0;
    for (int i = 0; i < n; i++) {
        tt[i] = s[i].ttft * 1000;
        tokens += s[i].tokens;
    }
    qsort(tt, (size_t)n, sizeof *tt, cmp_d);
    printf("%d %ld %.3f %.0f %.0f\n", n, tokens, t_end - t0, tt[(n - 1) / 2], tt[n - 1]);
    return 0;
}
