/* Response helpers: JSON bodies, OpenAI-shaped errors, auth, body limits. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "gateway/internal.h"

const char *hr_status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

void hr_send_json(hr_http_req *req, int status, cJSON *body) {
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    hr_http_send_take(req, status, text, strlen(text)); /* Content-Type: application/json by default */
}

cJSON *hr_error_json(const char *type, const char *code, const char *param, const char *message) {
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type ? type : "invalid_request_error");
    if (param && param[0]) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return root;
}

void hr_send_error(hr_http_req *req, int status, const char *type, const char *code, const char *param,
                   const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hr_send_json(req, status, hr_error_json(type, code, param, msg));
}

void hr_header_escape(const char *in, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
        if (*p >= 0x20 && *p < 0x7F && *p != '%') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = 0;
}

bool hr_check_auth(hr_gateway *gw, hr_http_req *req) {
    if (gw->cfg->n_api_keys == 0) return true;
    const char *h = hr_http_req_header(req, "Authorization");
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        const char *key = h + 7;
        for (size_t i = 0; i < gw->cfg->n_api_keys; i++)
            if (!strcmp(key, gw->cfg->api_keys[i])) return true;
    }
    hr_send_error(req, 401, "invalid_request_error", "invalid_api_key", NULL,
                  h ? "Incorrect API key provided." : "Missing API key: send 'Authorization: Bearer <key>'.");
    return false;
}

char *hr_read_body(hr_gateway *gw, hr_http_req *req, size_t *len) {
    size_t n;
    const char *in = hr_http_req_body(req, &n);
    if (n > gw->cfg->max_body_bytes) {
        hr_send_error(req, 400, "invalid_request_error", "request_too_large", NULL,
                      "request body of %zu bytes is larger than the limit of %zu bytes (server.max_body)", n,
                      gw->cfg->max_body_bytes);
        return NULL;
    }
    char *body = malloc(n + 1);
    if (!body) abort();
    memcpy(body, in, n);
    body[n] = 0;
    *len = n;
    return body;
}
