/* Shared between loop.c and upstream.c: a finished transfer. */
#ifndef HR_BACKEND_UPSTREAM_INTERNAL_H
#define HR_BACKEND_UPSTREAM_INTERNAL_H

#include <curl/curl.h>

/* Called by the loop when libcurl reports a transfer done; the transfer's
 * owner (found through CURLINFO_PRIVATE) finishes it. */
void hr_upstream_transfer_done(CURL *easy, CURLcode rc);

#endif
