/* Picks the transport for a URL (see transport.h). */
#include <stdlib.h>
#include <string.h>

#include "backend/transport.h"

/* Both implementations start their handle struct with this field. */
enum { KIND_H1 = 1, KIND_CURL = 2 };

static int use_curl_always(void) {
    static int cached = -1;
    if (cached < 0) {
        const char *v = getenv("HR_HTTP_CLIENT");
        cached = v && !strcmp(v, "curl");
    }
    return cached;
}

hr_xfer *hr_xfer_start(hr_loop *loop, const hr_xfer_opts *o, const hr_xfer_cbs *cbs, void *ud) {
    if (!strncmp(o->url, "http://", 7) && !use_curl_always()) return hr_xfer_start_h1(loop, o, cbs, ud);
    return hr_xfer_start_curl(loop, o, cbs, ud);
}

void hr_xfer_cancel(hr_xfer *x) {
    if (!x) return;
    if (*(int *)x == KIND_H1) hr_xfer_cancel_h1(x);
    else hr_xfer_cancel_curl(x);
}

const char *hr_xfer_result_str(hr_xfer_result r) {
    switch (r) {
    case HR_XFER_OK: return "ok";
    case HR_XFER_CONNECT: return "could not connect";
    case HR_XFER_CONNECT_TIMEOUT: return "connection timed out";
    case HR_XFER_TIMEOUT: return "timed out";
    case HR_XFER_IO: return "connection broken";
    case HR_XFER_PROTOCOL: return "invalid HTTP answer";
    case HR_XFER_ABORTED: return "aborted";
    }
    return "?";
}
