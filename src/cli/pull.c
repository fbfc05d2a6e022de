/* hermes-router pull NAME|URL: download a GGUF into the models folder with a
 * progress bar, resume (HTTP Range on DIR/FILE.part) and SHA-256
 * verification (see pull.h for what is verified when). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "cli/pull.h"
#include "core/clock.h"

/* ---- catalogue ---------------------------------------------------------------- */

#define HF "https://huggingface.co/"
static const hr_catalogue_entry catalogue[] = {
    {"SmolLM2-135M-Instruct", "Q4_K_M", "SmolLM2-135M-Instruct-Q4_K_M.gguf",
     HF "bartowski/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct-Q4_K_M.gguf", "105 MB"},
    {"SmolLM2-135M-Instruct", "Q8_0", "SmolLM2-135M-Instruct-Q8_0.gguf",
     HF "bartowski/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct-Q8_0.gguf", "145 MB"},
    {"SmolLM2-360M-Instruct", "Q4_K_M", "SmolLM2-360M-Instruct-Q4_K_M.gguf",
     HF "bartowski/SmolLM2-360M-Instruct-GGUF/resolve/main/SmolLM2-360M-Instruct-Q4_K_M.gguf", "270 MB"},
    {"SmolLM2-360M-Instruct", "Q8_0", "SmolLM2-360M-Instruct-Q8_0.gguf",
     HF "bartowski/SmolLM2-360M-Instruct-GGUF/resolve/main/SmolLM2-360M-Instruct-Q8_0.gguf", "386 MB"},
    {"SmolLM2-1.7B-Instruct", "Q4_K_M", "SmolLM2-1.7B-Instruct-Q4_K_M.gguf",
     HF "bartowski/SmolLM2-1.7B-Instruct-GGUF/resolve/main/SmolLM2-1.7B-Instruct-Q4_K_M.gguf", "1.06 GB"},
    {"SmolLM2-1.7B-Instruct", "Q8_0", "SmolLM2-1.7B-Instruct-Q8_0.gguf",
     HF "bartowski/SmolLM2-1.7B-Instruct-GGUF/resolve/main/SmolLM2-1.7B-Instruct-Q8_0.gguf", "1.8 GB"},
    {"Hermes-3-Llama-3.1-8B", "Q4_K_M", "Hermes-3-Llama-3.1-8B.Q4_K_M.gguf",
     HF "NousResearch/Hermes-3-Llama-3.1-8B-GGUF/resolve/main/Hermes-3-Llama-3.1-8B.Q4_K_M.gguf", "4.9 GB"},
    {"Hermes-3-Llama-3.1-8B", "Q8_0", "Hermes-3-Llama-3.1-8B.Q8_0.gguf",
     HF "NousResearch/Hermes-3-Llama-3.1-8B-GGUF/resolve/main/Hermes-3-Llama-3.1-8B.Q8_0.gguf", "8.5 GB"},
};

const hr_catalogue_entry *hr_catalogue(size_t *n) {
    *n = sizeof catalogue / sizeof catalogue[0];
    return catalogue;
}

const hr_catalogue_entry *hr_catalogue_find(const char *spec) {
    size_t n = sizeof catalogue / sizeof catalogue[0];
    for (size_t i = 0; i < n; i++) {
        const hr_catalogue_entry *e = &catalogue[i];
        size_t nl = strlen(e->name);
        if (!strcasecmp(spec, e->name) && !strcmp(e->quant, "Q4_K_M")) return e;
        if (!strncasecmp(spec, e->name, nl) && (spec[nl] == ':' || spec[nl] == '-' || spec[nl] == '.') &&
            !strcasecmp(spec + nl + 1, e->quant))
            return e;
        if (!strcasecmp(spec, e->file)) return e;
    }
    return NULL;
}

char *hr_models_dir(char *buf, size_t cap) {
    const char *env = getenv("HERMES_ROUTER_MODELS");
    const char *home = getenv("HOME");
    if (env && env[0]) snprintf(buf, cap, "%s", env);
    else snprintf(buf, cap, "%s/.cache/hermes-router/models", home && home[0] ? home : ".");
    return buf;
}

/* ---- SHA-256 (FIPS 180-4) ----------------------------------------------------------- */

typedef struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char block[64];
    size_t n;
} sha256;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static inline uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_init(sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
    s->n = 0;
}

static void sha256_block(sha256 *s, const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_update(sha256 *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->len += n;
    while (n) {
        size_t k = 64 - s->n < n ? 64 - s->n : n;
        memcpy(s->block + s->n, p, k);
        s->n += k, p += k, n -= k;
        if (s->n == 64) {
            sha256_block(s, s->block);
            s->n = 0;
        }
    }
}

static void sha256_hex(sha256 *s, char out[65]) {
    uint64_t bits = s->len * 8;
    unsigned char pad = 0x80;
    sha256_update(s, &pad, 1);
    unsigned char zero = 0;
    while (s->n != 56) sha256_update(s, &zero, 1);
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(s, lenb, 8);
    for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

static int sha256_file(const char *path, char out[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    sha256 s;
    sha256_init(&s);
    static unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return -1;
    sha256_hex(&s, out);
    return 0;
}

/* ---- download ------------------------------------------------------------------------ */

typedef struct dl {
    FILE *f;
    const char *name;
    bool progress;
    curl_off_t start;       /* bytes already in the .part file */
    char linked_sha[65];    /* from X-Linked-Etag */
    long status;
    bool restart;           /* the server ignored the Range: start over */
    uint64_t t0, last_draw;
} dl;

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
    dl *d = ud;
    size_t len = size * n;
    if (len > 5 && !strncmp(buf, "HTTP/", 5)) {
        d->linked_sha[0] = 0; /* a redirect's headers do not count */
        return len;
    }
    if (len > 15 && !strncasecmp(buf, "x-linked-etag:", 14)) {
        const char *p = buf + 14;
        while (p < buf + len && (*p == ' ' || *p == '"' || *p == 'W' || *p == '/')) p++;
        size_t k = 0;
        while (p + k < buf + len && isxdigit((unsigned char)p[k])) k++;
        if (k == 64) {
            for (size_t i = 0; i < 64; i++) d->linked_sha[i] = (char)tolower((unsigned char)p[i]);
            d->linked_sha[64] = 0;
        }
    }
    return len;
}

static size_t on_data(char *buf, size_t size, size_t n, void *ud) {
    dl *d = ud;
    return fwrite(buf, size, n, d->f) == n ? size * n : 0;
}

static void human(double b, char *out, size_t cap) {
    if (b >= 1e9) snprintf(out, cap, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(out, cap, "%.1f MB", b / 1e6);
    else snprintf(out, cap, "%.0f kB", b / 1e3);
}

static int on_progress(void *ud, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un) {
    dl *d = ud;
    if (!d->progress || (now == 0 && total == 0)) return 0;
    uint64_t t = hr_now_ns();
    if (t - d->last_draw < 200000000ull && (total == 0 || now < total)) return 0;
    d->last_draw = t;
    double have = (double)(d->start + now), all = total ? (double)(d->start + total) : 0;
    double secs = (double)(t - d->t0) / 1e9;
    char a[32], b[32], r[32];
    human(have, a, sizeof a);
    human(all, b, sizeof b);
    human(secs > 0 ? (double)now / secs : 0, r, sizeof r);
    int width = 30, fill = all > 0 ? (int)(width * have / all) : 0;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    if (all > 0) fprintf(stderr, "\r  [%s] %5.1f%%  %s / %s  %s/s   ", bar, 100.0 * have / all, a, b, r);
    else fprintf(stderr, "\r  %s  %s/s   ", a, r);
    return 0;
}

static const char *file_of_url(const char *url, char *buf, size_t cap) {
    const char *end = url + strcspn(url, "?#");
    const char *s = end;
    while (s > url && s[-1] != '/') s--;
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= cap) return NULL;
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

static int mkdirs(const char *dir) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static bool gguf_magic(const char *path) {
    FILE *f = fopen(path, "rb");
    char m[4] = {0};
    bool ok = f && fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    if (f) fclose(f);
    return ok;
}

static bool is_hex64(const char *s) {
    if (!s || strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

int hr_pull(const char *spec, const char *dir, const char *sha_want, bool progress, double connect_timeout_s,
            char *path, size_t cap, char *err, size_t errlen) {
    const hr_catalogue_entry *ce = NULL;
    const char *url;
    char fname[256];
    if (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8)) {
        url = spec;
        if (!file_of_url(url, fname, sizeof fname)) {
            snprintf(err, errlen, "cannot tell a file name from the URL %s", url);
            return -1;
        }
    } else if ((ce = hr_catalogue_find(spec))) {
        url = ce->url;
        snprintf(fname, sizeof fname, "%s", ce->file);
    } else {
        snprintf(err, errlen, "unknown model '%s' (hermes-router pull --list shows the catalogue; a URL works too)",
                 spec);
        return -1;
    }
    if (sha_want && !is_hex64(sha_want)) {
        snprintf(err, errlen, "--sha256 wants 64 hex digits");
        return -1;
    }
    char dbuf[2048];
    if (!dir) dir = hr_models_dir(dbuf, sizeof dbuf);
    if (mkdirs(dir) < 0) {
        snprintf(err, errlen, "cannot create the models folder %s: %s", dir, strerror(errno));
        return -1;
    }
    char final[4096], part[4200];
    snprintf(final, sizeof final, "%s/%s", dir, fname);
    snprintf(part, sizeof part, "%s.part", final);
    struct stat st;
    if (stat(final, &st) == 0) {
        if (sha_want) {
            char got[65];
            if (sha256_file(final, got) < 0 || strcasecmp(got, sha_want)) {
                snprintf(err, errlen, "%s exists but its SHA-256 is %s, not %s: remove it and pull again", final,
                         got, sha_want);
                return -1;
            }
        }
        if (progress) fprintf(stderr, "%s is already there\n", final);
        snprintf(path, cap, "%s", final);
        return 0;
    }

    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    dl d = {0};
    d.name = fname;
    d.progress = progress;
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        d.start = stat(part, &st) == 0 ? (curl_off_t)st.st_size : 0;
        d.f = fopen(part, d.start ? "ab" : "wb");
        if (!d.f) {
            snprintf(err, errlen, "cannot write %s: %s", part, strerror(errno));
            return -1;
        }
        if (progress)
            fprintf(stderr, "%s %s\n  -> %s%s\n", d.start ? "resuming" : "downloading", url, final,
                    d.start ? " (from the partial file)" : "");
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)((connect_timeout_s > 0 ? connect_timeout_s : 15) * 1000));
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "hermes-router-pull/1");
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &d);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &d);
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, &d);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        if (d.start) curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE, d.start);
        d.t0 = hr_now_ns();
        CURLcode cc = curl_easy_perform(e);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &d.status);
        curl_easy_cleanup(e);
        bool werr = fclose(d.f) != 0;
        if (progress) fprintf(stderr, "\n");
        if (d.start && (cc == CURLE_RANGE_ERROR || (cc == CURLE_OK && d.status == 200))) {
            /* the server does not do Range: start over once from zero */
            unlink(part);
            continue;
        }
        if (cc == CURLE_HTTP_RETURNED_ERROR && d.status == 416 && d.start) {
            cc = CURLE_OK; /* nothing left to fetch: the partial file is complete */
        }
        if (cc != CURLE_OK || werr) {
            if (stat(part, &st) == 0 && st.st_size == 0) unlink(part);
            bool offline = cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_CONNECT ||
                           cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_RESOLVE_PROXY;
            if (werr) snprintf(err, errlen, "cannot write %s (disk full?)", part);
            else if (offline)
                snprintf(err, errlen,
                         "cannot download %s (%s): offline? Fetch it on a connected machine and put it at %s",
                         url, curl_easy_strerror(cc), final);
            else if (cc == CURLE_HTTP_RETURNED_ERROR)
                snprintf(err, errlen, "cannot download %s: HTTP %ld (partial data kept in %s for a resume)", url,
                         d.status, part);
            else
                snprintf(err, errlen, "cannot download %s: %s (partial data kept in %s; run pull again to resume)",
                         url, curl_easy_strerror(cc), part);
            return -1;
        }
        rc = 0;
        break;
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot download %s: the server keeps restarting the transfer", url);
        return -1;
    }
    if (!gguf_magic(part)) {
        unlink(part);
        snprintf(err, errlen, "%s did not give a GGUF file (no GGUF magic); nothing was kept", url);
        return -1;
    }
    const char *want = sha_want ? sha_want : d.linked_sha[0] ? d.linked_sha : NULL;
    char got[65];
    if (sha256_file(part, got) < 0) {
        snprintf(err, errlen, "cannot read back %s", part);
        return -1;
    }
    if (want && strcasecmp(got, want)) {
        unlink(part);
        snprintf(err, errlen, "SHA-256 mismatch for %s: expected %s, got %s; the file was removed", fname, want, got);
        return -1;
    }
    if (rename(part, final) < 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", part, final, strerror(errno));
        return -1;
    }
    if (progress) {
        if (want) fprintf(stderr, "verified SHA-256 %s (%s)\n", got, sha_want ? "--sha256" : "X-Linked-Etag");
        else fprintf(stderr, "SHA-256 %s (not verified: no published sum known)\n", got);
    }
    snprintf(path, cap, "%s", final);
    return 0;
}

/* ---- the subcommand ---------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router pull NAME[:QUANT]|URL [--dir DIR] [--sha256 HEX] [--quiet]\n"
               "       hermes-router pull --list\n"
               "  into $HERMES_ROUTER_MODELS or ~/.cache/hermes-router/models; resumes a .part file\n");
}

int hr_cmd_pull(int argc, char **argv) {
    const char *spec = NULL, *dir = NULL, *sha = NULL;
    bool quiet = false, list = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(a, "--sha256") && i + 1 < argc) sha = argv[++i];
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = true;
        else if (!strcmp(a, "--list")) list = true;
        else if (a[0] != '-' && !spec) spec = a;
        else {
            fprintf(stderr, "hermes-router pull: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (list) {
        size_t n;
        const hr_catalogue_entry *c = hr_catalogue(&n);
        char dbuf[2048];
        printf("models folder: %s\n", dir ? dir : hr_models_dir(dbuf, sizeof dbuf));
        for (size_t i = 0; i < n; i++)
            printf("  %-24s %-7s ~%-9s %s\n", c[i].name, c[i].quant, c[i].approx, c[i].file);
        return 0;
    }
    if (!spec) {
        usage(stderr);
        return 2;
    }
    char path[4096], err[1200];
    if (hr_pull(spec, dir, sha, !quiet, 0, path, sizeof path, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router pull: %s\n", err);
        return 1;
    }
    printf("%s\n", path);
    return 0;
}
