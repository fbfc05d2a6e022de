/* Shared between loop.c and upstream.c: a finished transfer. */
#ifndef HR_BACKEND_UPSTREAM_INTERNAL_H
#define HR_BACKEND_UPSTREAM_INTERNAL_H

#include <curl/curl.h>

/* Called by the loop when libcurl reports a transfer done; the transfer's
 * owner (found through CURLINFO_PRIVATE) finishes it. */
void hr_upstream_transfer_done(CURL *easy, CURLcode rc);

struct hr_loop;
/* A reset easy handle from the loop's pool (or a new one), and back. */
CURL *hr_loop_easy_get(struct hr_loop *l);
void hr_loop_easy_put(struct hr_loop *l, CURL *e);

#endif
