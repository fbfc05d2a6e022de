/* The web UI (chat playground + routing dashboard), served by the gateway
 * itself from the table embedded at build time (gateway/ui_assets.h): no
 * second server, nothing fetched from the internet. When the UI could not be
 * built (no npm), / serves a small fallback page that points at the API.
 *
 * Paths: "/" and "/index.html" are the page; "/<file>" is a file of the table.
 * Hashed assets (assets/...) are cached for a year, the page is revalidated.
 * Every answer carries a Content-Security-Policy that only allows this
 * origin, so rendered model output cannot load or run anything foreign. */
#include <string.h>


#include "gateway/internal.h"
#include "gateway/ui_assets.h"

static const char fallback_html[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>hermes-router</title></head><body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:2em auto\">"
    "<h1>hermes-router</h1><p>OpenAI-compatible gateway. Endpoints:</p><ul>"
    "<li><code>POST /v1/chat/completions</code></li><li><code>GET /v1/models</code></li>"
    "<li><code>GET /v1/router/stats</code>, <code>POST /v1/router/route</code></li>"
    "<li><code>GET /v1/router/requests</code>, <code>/v1/router/timeseries</code>, <code>/v1/router/cost</code></li>"
    "<li><code>GET /metrics</code>, <code>GET /health</code>, <code>GET /ready</code></li></ul>"
    "<p><small>The web UI was not built into this binary (npm was unavailable at build time: "
    "run scripts/install-deps.sh and rebuild).</small></p></body></html>";

#define CSP                                                                                                     \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "      \
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const hr_ui_asset *find_asset(const char *rel) {
    for (size_t i = 0; i < hr_ui_n_assets; i++)
        if (!strcmp(hr_ui_assets[i].path, rel)) return &hr_ui_assets[i];
    return NULL;
}

static void send_bytes(hr_http_req *req, const char *type, const void *data, size_t len,
                       const char *cache) {
    hr_http_add_header(req, "Content-Type", type);
    hr_http_add_header(req, "Cache-Control", cache);
    hr_http_add_header(req, "X-Content-Type-Options", "nosniff");
    hr_http_add_header(req, "Referrer-Policy", "no-referrer");
    hr_http_add_header(req, "Content-Security-Policy", CSP);
    hr_http_send_static(req, 200, data, len); /* static data: no copy */
}

void hr_handle_ui(hr_worker *w, hr_http_req *req, const char *path) {
    if (path[0] != '/') {
        hr_send_error(req, 404, "invalid_request_error", "unknown_url", NULL, "Unknown request URL: %.255s", path);
        return;
    }
    bool page = !strcmp(path, "/") || !strcmp(path, "/index.html");
    if (hr_ui_n_assets == 0) {
        if (page) {
            send_bytes(req, "text/html; charset=utf-8", fallback_html, sizeof fallback_html - 1, "no-cache");
            return;
        }
    } else {
        const hr_ui_asset *a = find_asset(page ? "index.html" : path + 1);
        if (a) {
            bool hashed = !strncmp(a->path, "assets/", 7);
            send_bytes(req, a->content_type, a->data, a->len, hashed ? "public, max-age=31536000, immutable" : "no-cache");
            return;
        }
    }
    hr_send_error(req, 404, "invalid_request_error", "unknown_url", NULL, "Unknown request URL: %.255s", path);
}
