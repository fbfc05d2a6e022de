/* The web UI, served by the gateway itself. Until the bundled playground and
 * dashboard land, / serves a small page that points at the API. */
#include <string.h>

#include <event2/buffer.h>

#include "gateway/internal.h"

static const char index_html[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>hermes-router</title></head><body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:2em auto\">"
    "<h1>hermes-router</h1><p>OpenAI-compatible gateway. Endpoints:</p><ul>"
    "<li><code>POST /v1/chat/completions</code></li><li><code>GET /v1/models</code></li>"
    "<li><code>GET /v1/router/stats</code>, <code>POST /v1/router/route</code></li>"
    "<li><code>GET /metrics</code>, <code>GET /health</code>, <code>GET /ready</code></li></ul></body></html>";

void hr_handle_ui(hr_worker *w, struct evhttp_request *req, const char *path) {
    if (strcmp(path, "/") && strcmp(path, "/index.html")) {
        hr_send_error(req, 404, "invalid_request_error", "unknown_url", NULL, "Unknown request URL: %s", path);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_reference(out, index_html, sizeof index_html - 1, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/html; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}
