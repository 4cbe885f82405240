/*
 * fw_api_impl: the handlers fw_api.c's routing table calls that live in fw_api_query.c (the
 * query endpoints). Private to the fw_api module.
 */
#ifndef FW_API_IMPL_H
#define FW_API_IMPL_H

#include "fw_http.h"
#include "fw_state.h"

void fw_h_apps(fw_server *s, const fw_http_req *req, fw_http_resp *resp);
void fw_h_labels(fw_server *s, const fw_http_req *req, fw_http_resp *resp);
void fw_h_trend(fw_server *s, const fw_http_req *req, fw_http_resp *resp);
void fw_h_flame(fw_server *s, const fw_http_req *req, fw_http_resp *resp);
void fw_h_table(fw_server *s, const fw_http_req *req, fw_http_resp *resp);
void fw_h_diff(fw_server *s, const fw_http_req *req, fw_http_resp *resp);

#endif
