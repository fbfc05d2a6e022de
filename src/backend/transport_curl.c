/* The libcurl transport (https://, proxies, HR_HTTP_CLIENT=curl): easy
 * handles on the loop's multi handle (loop.c drives it from libevent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backend/transport.h"
#include "backend/upstream_internal.h"
#include "core/buf.h"

struct hr_xfer {
    int kind; /* 2: curl (transport.c) */
    hr_loop *loop;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    hr_xfer_cbs cbs;
    void *ud;
    long status;
    bool got_bytes;
    bool aborted;
};

static void xfer_free(hr_xfer *x) {
    if (x->easy) {
        curl_multi_remove_handle(hr_loop_curl_multi(x->loop), x->easy);
        hr_loop_easy_put(x->loop, x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud) {
    hr_xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->got_bytes) {
        x->got_bytes = true;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    }
    if (x->cbs.data(x->ud, x->status, ptr, n) < 0) {
        x->aborted = true;
        return 0;
    }
    return n;
}

void hr_upstream_transfer_done(CURL *easy, CURLcode rc) {
    hr_xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x) return;
    if (!x->got_bytes) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    hr_xfer_result res;
    switch (rc) {
    case CURLE_OK: res = HR_XFER_OK; break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: res = HR_XFER_CONNECT; break;
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connect_us = 0;
        curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        res = connect_us == 0 && !x->got_bytes ? HR_XFER_CONNECT_TIMEOUT : HR_XFER_TIMEOUT;
        break;
    }
    case CURLE_WRITE_ERROR: res = x->aborted ? HR_XFER_ABORTED : HR_XFER_IO; break;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE: res = HR_XFER_IO; break;
    default: res = HR_XFER_PROTOCOL;
    }
    x->cbs.done(x->ud, x->status, res, x->got_bytes, curl_easy_strerror(rc));
    xfer_free(x);
}

hr_xfer *hr_xfer_start_curl(hr_loop *loop, const hr_xfer_opts *o, const hr_xfer_cbs *cbs, void *ud) {
    hr_xfer *x = hr_xcalloc(1, sizeof *x);
    x->kind = 2;
    x->loop = loop;
    x->cbs = *cbs;
    x->ud = ud;
    for (const char *const *h = o->headers; h && *h; h++) x->headers = curl_slist_append(x->headers, *h);
    x->headers = curl_slist_append(x->headers, "Expect:");
    CURL *e = hr_loop_easy_get(loop);
    x->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    if (!strcmp(o->method, "POST")) {
        x->body = hr_xstrndup(o->body ? o->body : "", o->body_len);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
    long idle_s = (o->idle_timeout_ms + 999) / 1000;
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, idle_s < 1 ? 1L : idle_s);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(hr_loop_curl_multi(loop), e) != CURLM_OK) {
        xfer_free(x);
        return NULL;
    }
    return x;
}

void hr_xfer_cancel_curl(hr_xfer *x) { xfer_free(x); }
