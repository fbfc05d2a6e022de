/* The gateway: HTTP server (gateway/http.h, on libevent) with the OpenAI API, admin
 * routes and the web UI, on N event-loop threads that share one listening
 * port (SO_REUSEPORT). Each thread owns its connections and its upstream
 * transfers; shared state (config, router, backends, metrics, log) is
 * read-only or internally synchronised. */
#ifndef HR_GATEWAY_GATEWAY_H
#define HR_GATEWAY_GATEWAY_H

#include "core/config.h"

typedef struct hr_gateway hr_gateway;

/* Builds everything the config describes (router, backends, request log) and
 * binds the port. Takes ownership of cfg. NULL with err when anything fails:
 * the gateway never starts half-configured. */
hr_gateway *hr_gateway_create(hr_config *cfg, char *err, size_t errlen);
/* Runs the loops until hr_gateway_stop(); returns 0. */
int hr_gateway_run(hr_gateway *gw);
/* Asks the loops to finish in-flight work and return; safe from any thread
 * (not from a signal handler: use the SIGINT/SIGTERM handling in run). */
void hr_gateway_stop(hr_gateway *gw);
void hr_gateway_free(hr_gateway *gw);
/* The bound port (useful when the config asked for port 0). */
int hr_gateway_port(const hr_gateway *gw);
const hr_config *hr_gateway_config(const hr_gateway *gw);

#endif
