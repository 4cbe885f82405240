/*
 * fw_curl: libcurl, loaded only by a program that is about to make a request. Two programs
 * use it: the agent extension, to upload to a server (agent/fw_upload.c), and the flamewatch
 * CLI, for the commands that query one (cli/http_client.c). Neither links libcurl.
 *
 * Why. Linking libcurl makes the dynamic loader map and relocate it and its ~30 dependencies
 * (TLS, HTTP/2, SSH, LDAP, Kerberos) at every start of the program, whether it makes a request
 * or not: 3.6-4.3 ms of CPU for an empty C program linked with -lcurl against 0.5 ms without.
 *  - The agent extension is loaded into every process that runs under flamewatch, most of which
 *    write files or upload nothing: about 6 ms of CPU per Python start, a third of the agent's
 *    whole start-up cost.
 *  - The CLI runs before every profiled program (`flamewatch run -- python3 app.py` sets up the
 *    environment and execs), and only `query` speaks HTTP; `run`, `convert` and `server` paid
 *    for a library they never call: `flamewatch run -- /bin/true` went from 5.5 to 2.7 ms of CPU
 *    (docs/BENCHMARKS.md, "Start-up of the CLI").
 *
 * How. This file defines the libcurl functions those two callers use, with the prototypes of
 * <curl/curl.h>, so every call in either program binds to these stubs. In the agent, built with
 * -fvisibility=hidden, they are hidden: no other module can see them, so a process that also
 * loads libcurl itself (pycurl, say) keeps its own. The CLI is an executable that links no
 * library referring to curl_*, so it exports none of them either. curl_global_init() must be
 * the first call: it dlopen()s libcurl.so.4 (RTLD_LOCAL, so its symbols stay out of the global
 * namespace) and resolves every function once; if the library or a symbol is missing it fails
 * with CURLE_FAILED_INIT, fw_curl_load_error() (fw_curl.h) says why, and the caller reports that
 * it cannot reach the server. Every other stub is only reachable after a successful init, which
 * the callers guarantee (fw_upload.c: pthread_once + fw_curl_ok; http_client.c: the init's
 * result is checked before every request); the asserts say so. Nothing links libcurl, so a
 * libcurl function called without a stub here is an undefined reference at link time: add its
 * stub and its dlsym below, in the same style.
 *
 * Varargs. curl_easy_setopt and curl_easy_getinfo take one argument after the option, whose
 * type the option's number encodes (curl.h: CURLOPTTYPE_* bases for setopt, CURLINFO_TYPEMASK
 * for getinfo); the stubs read it with that type and pass it on, as libcurl's own vsetopt reads
 * it.
 */
#include "fw_curl.h"

#include <assert.h>
#include <curl/curl.h>
#include <dlfcn.h>
/* curl.h wraps these two in macros (type checks); the definitions below are the functions. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

typedef void (*fw_curl_fn)(void);

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    char *(*easy_escape)(CURL *, const char *, int);
    void (*free_)(void *);
    curl_mime *(*mime_init)(CURL *);
    void (*mime_free)(curl_mime *);
    curl_mimepart *(*mime_addpart)(curl_mime *);
    CURLcode (*mime_name)(curl_mimepart *, const char *);
    CURLcode (*mime_filename)(curl_mimepart *, const char *);
    CURLcode (*mime_type)(curl_mimepart *, const char *);
    CURLcode (*mime_data)(curl_mimepart *, const char *, size_t);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} fw_curl;

static bool fw_curl_loaded;
static char fw_curl_error[256];   /* why the last load failed; "" when it did not */

/* Resolves one symbol into *slot (a function pointer of the right type, stored through the
 * generic one: dlsym returns data pointers, and POSIX guarantees the round trip). */
static bool fw_curl_sym(void *lib, const char *name, void *slot)
{
    void *p = dlsym(lib, name);
    if (p == NULL) {
        snprintf(fw_curl_error, sizeof fw_curl_error, "%s has no symbol %s", FW_CURL_LIBRARY, name);
        return false;
    }
    *(void **)slot = p;
    return true;
}

static bool fw_curl_load(void)
{
    void *lib = dlopen(FW_CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char *why = dlerror();
        snprintf(fw_curl_error, sizeof fw_curl_error, "%s", why ? why : "dlopen failed");
        return false;
    }
    bool ok = fw_curl_sym(lib, "curl_global_init", &fw_curl.global_init) &&
              fw_curl_sym(lib, "curl_easy_init", &fw_curl.easy_init) &&
              fw_curl_sym(lib, "curl_easy_cleanup", &fw_curl.easy_cleanup) &&
              fw_curl_sym(lib, "curl_easy_reset", &fw_curl.easy_reset) &&
              fw_curl_sym(lib, "curl_easy_setopt", &fw_curl.easy_setopt) &&
              fw_curl_sym(lib, "curl_easy_getinfo", &fw_curl.easy_getinfo) &&
              fw_curl_sym(lib, "curl_easy_perform", &fw_curl.easy_perform) &&
              fw_curl_sym(lib, "curl_easy_strerror", &fw_curl.easy_strerror) &&
              fw_curl_sym(lib, "curl_easy_escape", &fw_curl.easy_escape) &&
              fw_curl_sym(lib, "curl_free", &fw_curl.free_) &&
              fw_curl_sym(lib, "curl_mime_init", &fw_curl.mime_init) &&
              fw_curl_sym(lib, "curl_mime_free", &fw_curl.mime_free) &&
              fw_curl_sym(lib, "curl_mime_addpart", &fw_curl.mime_addpart) &&
              fw_curl_sym(lib, "curl_mime_name", &fw_curl.mime_name) &&
              fw_curl_sym(lib, "curl_mime_filename", &fw_curl.mime_filename) &&
              fw_curl_sym(lib, "curl_mime_type", &fw_curl.mime_type) &&
              fw_curl_sym(lib, "curl_mime_data", &fw_curl.mime_data) &&
              fw_curl_sym(lib, "curl_slist_append", &fw_curl.slist_append) &&
              fw_curl_sym(lib, "curl_slist_free_all", &fw_curl.slist_free_all);
    /* On failure the library stays loaded: a half-resolved table is never used, and unloading
     * a library that may have started threads of its own is not worth the risk. */
    return ok;
}

CURLcode curl_global_init(long flags)
{
    if (!fw_curl_loaded) {
        if (!fw_curl_load())
            return CURLE_FAILED_INIT;
        fw_curl_loaded = true;
        fw_curl_error[0] = '\0';
    }
    return fw_curl.global_init(flags);
}

const char *fw_curl_load_error(void)
{
    return fw_curl_error[0] ? fw_curl_error : NULL;
}

CURL *curl_easy_init(void)
{
    assert(fw_curl_loaded);
    return fw_curl.easy_init();
}

void curl_easy_cleanup(CURL *curl)
{
    assert(fw_curl_loaded);
    fw_curl.easy_cleanup(curl);
}

void curl_easy_reset(CURL *curl)
{
    assert(fw_curl_loaded);
    fw_curl.easy_reset(curl);
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    assert(fw_curl_loaded);
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        rc = fw_curl.easy_setopt(curl, option, v);
    } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
        void *v = va_arg(ap, void *);
        rc = fw_curl.easy_setopt(curl, option, v);
    } else if (option < CURLOPTTYPE_OFF_T) {
        fw_curl_fn v = va_arg(ap, fw_curl_fn);
        rc = fw_curl.easy_setopt(curl, option, v);
    } else if (option < CURLOPTTYPE_BLOB) {
        curl_off_t v = va_arg(ap, curl_off_t);
        rc = fw_curl.easy_setopt(curl, option, v);
    } else {
        void *v = va_arg(ap, void *);
        rc = fw_curl.easy_setopt(curl, option, v);
    }
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    assert(fw_curl_loaded);
    va_list ap;
    va_start(ap, info);
    void *out = va_arg(ap, void *);   /* every CURLINFO takes a pointer to its result */
    va_end(ap);
    return fw_curl.easy_getinfo(curl, info, out);
}

CURLcode curl_easy_perform(CURL *curl)
{
    assert(fw_curl_loaded);
    return fw_curl.easy_perform(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
    return fw_curl_loaded ? fw_curl.easy_strerror(code) : "libcurl could not be loaded";
}

char *curl_easy_escape(CURL *curl, const char *string, int length)
{
    assert(fw_curl_loaded);
    return fw_curl.easy_escape(curl, string, length);
}

void curl_free(void *p)
{
    assert(fw_curl_loaded || p == NULL);
    if (p != NULL)
        fw_curl.free_(p);
}

curl_mime *curl_mime_init(CURL *easy)
{
    assert(fw_curl_loaded);
    return fw_curl.mime_init(easy);
}

void curl_mime_free(curl_mime *mime)
{
    assert(fw_curl_loaded || mime == NULL);
    if (mime != NULL)
        fw_curl.mime_free(mime);
}

curl_mimepart *curl_mime_addpart(curl_mime *mime)
{
    assert(fw_curl_loaded);
    return fw_curl.mime_addpart(mime);
}

CURLcode curl_mime_name(curl_mimepart *part, const char *name)
{
    assert(fw_curl_loaded);
    return fw_curl.mime_name(part, name);
}

CURLcode curl_mime_filename(curl_mimepart *part, const char *filename)
{
    assert(fw_curl_loaded);
    return fw_curl.mime_filename(part, filename);
}

CURLcode curl_mime_type(curl_mimepart *part, const char *mimetype)
{
    assert(fw_curl_loaded);
    return fw_curl.mime_type(part, mimetype);
}

CURLcode curl_mime_data(curl_mimepart *part, const char *data, size_t datasize)
{
    assert(fw_curl_loaded);
    return fw_curl.mime_data(part, data, datasize);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    assert(fw_curl_loaded);
    return fw_curl.slist_append(list, s);
}

void curl_slist_free_all(struct curl_slist *list)
{
    assert(fw_curl_loaded || list == NULL);
    if (list != NULL)
        fw_curl.slist_free_all(list);
}
