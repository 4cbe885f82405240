/*
 * fw_curl: libcurl loaded at run time (common/fw_curl.c). Callers include <curl/curl.h> and call
 * libcurl as usual, curl_global_init() first; this header adds only what the stubs know and
 * libcurl cannot say: which library they load, and why loading it failed.
 */
#ifndef FW_CURL_H
#define FW_CURL_H

/* The library curl_global_init() dlopen()s (the soname of libcurl 7.16 and later). */
#define FW_CURL_LIBRARY "libcurl.so.4"

/* NULL while libcurl is loaded or has not been asked for yet. After a curl_global_init() that
 * failed because FW_CURL_LIBRARY could not be loaded, why: dlerror()'s text, or the missing
 * symbol. Not thread-safe, like curl_global_init() itself: read it where init was called. */
const char *fw_curl_load_error(void);

#endif
