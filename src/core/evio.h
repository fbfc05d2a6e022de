/* Socket I/O on libevent evbuffers without bufferevents, for the gateway's
 * HTTP server (gateway/http.c) and the upstream client (backend/
 * transport_h1.c).
 *
 * Why not bufferevents: a bufferevent writes only from its write event, so
 * every answer costs two epoll_ctl calls (enable, then disable EV_WRITE once
 * flushed) and a loop turn, and evbuffer_read asks the kernel for the bytes
 * available (ioctl FIONREAD) before each read. Under strace that was 4
 * epoll_ctl + 2 ioctl of the 10 system calls a proxied request made. Here a
 * connection keeps one persistent read event, writes at once with writev, and
 * arms a write event only when the kernel's send buffer is full.
 *
 * Header-only: the users link libevent; core does not. */
#ifndef HR_CORE_EVIO_H
#define HR_CORE_EVIO_H

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define HR_EVIO_READ_CHUNK 16384
#define HR_EVIO_READ_MAX (256 * 1024) /* bytes taken per readable event, at most */

/* Reads what the socket has (up to HR_EVIO_READ_MAX) into in. The bytes go
 * through a stack buffer and are appended at their size: reserving a 16 KiB
 * chain per read instead costs a large malloc and free (and glibc's
 * consolidation) for every ~500-byte request.
 * > 0: bytes read (the socket may have more; level-triggered events call
 * again); 0: the peer closed and nothing was read; -1: error (errno set);
 * -2: nothing to read now. */
static inline ssize_t hr_evio_read(evutil_socket_t fd, struct evbuffer *in) {
    char buf[HR_EVIO_READ_CHUNK];
    ssize_t total = 0;
    while (total < HR_EVIO_READ_MAX) {
        ssize_t n;
        do n = recv(fd, buf, sizeof buf, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            if (total) return total;
            if (n == 0) return 0;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
        }
        if (evbuffer_add(in, buf, (size_t)n) < 0) {
            errno = ENOMEM;
            return -1;
        }
        total += n;
        if ((size_t)n < sizeof buf) break; /* drained: skip the EAGAIN read */
    }
    return total;
}

/* Writes as much of out as the socket takes now. 0: all of it written or the
 * rest must wait for the socket to become writable (evbuffer_get_length(out)
 * tells which); -1: the connection is broken (errno set). */
static inline int hr_evio_flush(evutil_socket_t fd, struct evbuffer *out) {
    while (evbuffer_get_length(out)) {
        int n = evbuffer_write(out, fd);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        if (n == 0) return 0;
    }
    return 0;
}

#endif
