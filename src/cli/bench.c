/* hermes-router bench -m FILE [-p 512] [-n 128] [-t N] [-r 1] [--no-bw] [--no-hugepages]
 * Like llama-bench: prompt processing (one batch of p tokens) and token
 * generation (n single-token steps), best of r repetitions, plus peak RSS and
 * generation weight traffic as a share of measured memory bandwidth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "engine/quant.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router bench -m FILE [-p 512] [-n 128] [-t THREADS] [-r REPS] [-s SEQS] [--no-bw] [--no-hugepages] [--md]\n"
               "  -s: generate with SEQS sequences batched per step (aggregate tok/s)\n"
               "  --no-hugepages: read weights from the file mapping (4 KB pages) instead of a huge page copy\n"
               "  --md: print one markdown table row (model | weights | pp | tg | RSS | GB/s | share)\n");
}

static void progress(void *ud, double frac) {
    int *last = ud;
    int pct = (int)(frac * 100);
    if (pct == *last) return;
    *last = pct;
    int w = 40, n = pct * w / 100;
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", n, "########################################", w - n, "", pct);
    if (pct >= 100) fputc('\n', stderr);
}

int hr_cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    int pp = 512, tg = 128, threads = 0, reps = 1, n_seq = 1;
    bool bw = true, md = false;
    hr_model_params mp = hr_model_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-m") && has) model = argv[++i];
        else if (!strcmp(a, "-p") && has) pp = atoi(argv[++i]);
        else if (!strcmp(a, "-n") && has) tg = atoi(argv[++i]);
        else if (!strcmp(a, "-t") && has) threads = atoi(argv[++i]);
        else if (!strcmp(a, "-r") && has) reps = atoi(argv[++i]);
        else if (!strcmp(a, "-s") && has) n_seq = atoi(argv[++i]);
        else if (!strcmp(a, "--no-bw")) bw = false;
        else if (!strcmp(a, "--md")) md = true;
        else if (!strcmp(a, "--no-hugepages")) mp.hugepages = 0;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!model || pp < 0 || tg < 0 || pp + tg < 1 || reps < 1 || pp > 8192 || n_seq < 1 || n_seq > 64) {
        usage(stderr);
        return 2;
    }
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    char err[512];
    hr_model *m = hr_model_load_ex(model, &mp, err, sizeof err);
    if (!m) {
        fprintf(stderr, "hermes-router bench: %s\n", err);
        return 1;
    }
    int last = -1;
    hr_model_prefault(m, isatty(2) ? progress : NULL, &last);
    const hr_model_info *in = hr_model_get_info(m);
    hr_ctx_params cp = hr_ctx_default_params();
    cp.n_ctx = pp + tg + 1;
    cp.n_batch = pp > n_seq ? pp : n_seq;
    cp.n_seq = n_seq;
    cp.n_threads = threads;
    hr_ctx *c = hr_ctx_create(m, &cp, err, sizeof err);
    if (!c) {
        fprintf(stderr, "hermes-router bench: %s\n", err);
        hr_model_free(m);
        return 1;
    }
    const hr_type_traits *tt = hr_type_get(in->main_type);
    if (!md)
        printf("model: %s (%s, %.1f M params, %.1f MiB weights, mostly %s, %s), simd %s, %d threads\n", model,
               in->name[0] ? in->name : in->arch, (double)in->n_params / 1e6, (double)in->weight_bytes / (1 << 20),
               tt ? tt->name : "?", in->weights_copied ? "huge page copy" : "file mapping", hr_simd_level(), threads);
    hr_batch_entry *b = hr_xmalloc((size_t)(pp > 0 ? pp : 1) * sizeof(hr_batch_entry));
    uint64_t rng = 12345;
    double best_pp = 0, best_tg = 0;
    for (int r = 0; r < reps; r++) {
        hr_ctx_seq_truncate(c, 0, 0);
        int pos = 0;
        if (pp > 0) {
            for (int i = 0; i < pp; i++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                b[i] = (hr_batch_entry){(int32_t)((rng >> 33) % (uint64_t)in->n_vocab), i, 0, i == pp - 1};
            }
            uint64_t t0 = hr_now_ns();
            if (hr_ctx_decode(c, b, pp, err, sizeof err) < 0) {
                fprintf(stderr, "hermes-router bench: %s\n", err);
                break;
            }
            double s = (double)(hr_now_ns() - t0) / 1e9;
            if (pp / s > best_pp) best_pp = pp / s;
            pos = pp;
        }
        if (tg > 0) {
            /* generation is measured from an empty cache, as llama-bench does;
             * with -s N, N sequences advance together (one batch per step,
             * the continuous-batching shape) and tok/s counts all of them */
            for (int q = 0; q < n_seq; q++) hr_ctx_seq_truncate(c, q, 0);
            pos = 0;
            hr_batch_entry e[64];
            uint64_t t0 = hr_now_ns();
            for (int i = 0; i < tg; i++, pos++) {
                for (int q = 0; q < n_seq; q++) {
                    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                    e[q] = (hr_batch_entry){(int32_t)((rng >> 33) % (uint64_t)in->n_vocab), pos, q, true};
                }
                if (hr_ctx_decode(c, e, n_seq, err, sizeof err) < 0) {
                    fprintf(stderr, "hermes-router bench: %s\n", err);
                    break;
                }
            }
            double s = (double)(hr_now_ns() - t0) / 1e9;
            if ((double)tg * n_seq / s > best_tg) best_tg = (double)tg * n_seq / s;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mib = (double)ru.ru_maxrss / 1024.0;
    /* generation reads every weight once per step (the tied output too) */
    double bytes_tok = (double)in->weight_bytes / n_seq;
    double gbps = best_tg * bytes_tok / 1e9;
    double mem_bw = bw && tg > 0 ? hr_measure_read_bandwidth(threads) / 1e9 : 0;
    if (md) {
        printf("| %s | %.0f MiB | %.1f | %.2f | %.0f MiB | %.2f | ", in->name[0] ? in->name : model,
               (double)in->weight_bytes / (1 << 20), best_pp, best_tg, rss_mib, gbps);
        if (mem_bw > 0) printf("%.0f%% of %.1f GB/s |\n", 100.0 * gbps / mem_bw, mem_bw);
        else printf("n/a |\n");
    } else {
        printf("| %-10s | %-10s | %-10s | %-12s | %-22s |\n", "pp tok/s", "tg tok/s", "peak RSS", "tg GB/s",
               "share of mem bandwidth");
        printf("| %10.1f | %10.2f | %6.0f MiB | %12.2f | ", best_pp, best_tg, rss_mib, gbps);
        if (mem_bw > 0) printf("%5.1f%% of %5.1f GB/s     |\n", 100.0 * gbps / mem_bw, mem_bw);
        else printf("%-22s |\n", "n/a");
    }
    free(b);
    hr_ctx_free(c);
    hr_model_free(m);
    return 0;
}
