/* Model downloads (hermes-router pull) and the models folder, shared by the
 * pull subcommand and serve's default configuration.
 *
 * Models folder: $HERMES_ROUTER_MODELS, else ~/.cache/hermes-router/models.
 * Catalogue: a few GGUF builds on Hugging Face, by name ("SmolLM2-135M-
 * Instruct", default quantization Q4_K_M) or name:QUANT / name-QUANT (Q4_K_M,
 * Q8_0). No SHA-256 is stored for them (we do not know the published sums
 * offline, and never make one up): a download is verified against --sha256
 * when given, else against the X-Linked-Etag header Hugging Face sends for
 * LFS files (the file's SHA-256), else only its GGUF magic and the length the
 * server announced are checked (and the computed sum is printed). */
#ifndef HR_CLI_PULL_H
#define HR_CLI_PULL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hr_catalogue_entry {
    const char *name;    /* "SmolLM2-135M-Instruct" */
    const char *quant;   /* "Q4_K_M" | "Q8_0" */
    const char *file;    /* file name in the models folder */
    const char *url;     /* Hugging Face resolve URL */
    const char *approx;  /* approximate size for messages ("105 MB") */
} hr_catalogue_entry;

/* The built-in catalogue; *n gets its length. */
const hr_catalogue_entry *hr_catalogue(size_t *n);
/* Finds NAME, NAME:QUANT or NAME-QUANT (case-insensitive); NULL if unknown. */
const hr_catalogue_entry *hr_catalogue_find(const char *spec);

/* Writes the models folder path into buf (not created). Returns buf. */
char *hr_models_dir(char *buf, size_t cap);

/* Downloads spec (a catalogue name or an http(s) URL) into dir (created when
 * missing), resuming a DIR/FILE.part left by an earlier attempt, verifying
 * as described above. On success the final path goes to path (cap bytes) and
 * 0 is returned; -1 with a one-line err otherwise (offline: the message names
 * the URL and where to put the file). progress: draw a progress bar on
 * stderr. sha256_hex: expected sum or NULL. connect_timeout_s: 0 = 15 s. */
int hr_pull(const char *spec, const char *dir, const char *sha256_hex, bool progress, double connect_timeout_s,
            char *path, size_t cap, char *err, size_t errlen);

#endif
