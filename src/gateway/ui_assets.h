/* The web UI's files, embedded at build time: cmake/webui_embed.cmake turns
 * the files of web/dist into a generated C source holding this table. Paths are relative
 * to the UI root ("index.html", "assets/index-1a2b3c.js"); data is the file's
 * bytes (followed by a NUL not counted in len). An empty table (npm missing or
 * its build failed) means the gateway serves its built-in fallback page. */
#ifndef HR_GATEWAY_UI_ASSETS_H
#define HR_GATEWAY_UI_ASSETS_H

#include <stddef.h>

typedef struct hr_ui_asset {
    const char *path;
    const char *content_type;
    const unsigned char *data;
    size_t len;
} hr_ui_asset;

extern const hr_ui_asset hr_ui_assets[];
extern const size_t hr_ui_n_assets;
extern const char hr_ui_source_hash[]; /* SHA-256 of the web/ sources it was built from */

#endif
