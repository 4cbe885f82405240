/*
 * fw_server: `flamewatch server`, the HTTP front of the store.
 *
 * fw_server_run() owns the whole lifecycle: open the store, bind, serve on a thread pool,
 * run maintenance (retention) in the background, and on SIGTERM/SIGINT stop accepting,
 * let in-flight requests finish, and close the store. Requests go to fw_api_dispatch()
 * (fw_api.h) as fw_http.h's request and response, so that handlers never touch
 * libmicrohttpd directly.
 */
#ifndef FW_SERVER_H
#define FW_SERVER_H

#include "fw_state.h"

/* Runs until SIGTERM/SIGINT. Returns the process exit status (0, 1 runtime error, 2 usage). */
int fw_server_run(const fw_server_config *cfg);

#endif
