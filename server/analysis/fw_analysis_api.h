/*
 * fw_analysis_api: the analysis endpoints, routed from fw_api.c's table.
 */
#ifndef FW_ANALYSIS_API_H
#define FW_ANALYSIS_API_H

#include "../fw_http.h"
#include "../fw_state.h"

void fw_h_analysis(fw_server *s, const fw_http_req *req, fw_http_resp *resp);
void fw_h_ask(fw_server *s, const fw_http_req *req, fw_http_resp *resp);

#endif
