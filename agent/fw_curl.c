/*
 * fw_curl: libcurl, loaded only when an agent is given a server to upload to.
 *
 * Why. The agent extension is loaded into every process that runs under flamewatch, most of
 * which write files or upload nothing. Linking libcurl would make the dynamic loader map and
 * relocate it and its ~30 dependencies (TLS, HTTP/2, SSH, LDAP, Kerberos) at every Python
 * start: about 6 ms of CPU, a third of the agent's whole start-up cost.
 *
 * How. This file defines, with hidden visibility, the libcurl functions fw_upload.c calls, with
 * the prototypes of <curl/curl.h>. Inside the extension every call binds to these stubs; no
 * other module can see them, so a process that also loads libcurl itself (pycurl, say) keeps
 * its own. curl_global_init() is the first call fw_upload.c makes: it dlopen()s libcurl.so.4
 * (RTLD_LOCAL, so its symbols stay out of the global namespace) and resolves every function
 * once; if the library or a symbol is missing it fails with CURLE_FAILED_INIT and the uploader
 * reports that it cannot start. Every other stub is only reachable after a successful init,
 * which fw_upload.c guarantees (pthread_once + fw_curl_ok); the asserts say so.
 *
 * Varargs. curl_easy_setopt and curl_easy_getinfo take one argument after the option, whose
 * type the option's number encodes (curl.h: CURLOPTTYPE_* bases for setopt, CURLINFO_TYPEMASK
 * for getinfo); the stubs read it with that type and pass it on, as libcurl's own vsetopt reads
 * it.
 */
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

#define FW_CURL_LIBRARY "libcurl.so.4"

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

/* Resolves one symbol into *slot (a function pointer of the right type, stored through the
 * generic one: dlsym returns data pointers, and POSIX guarantees the round trip). */
static bool fw_curl_sym(void *lib, const char *name, void *slot)
{
    void *p = dlsym(lib, name);
    if (p == NULL)
        return false;
    *(void **)slot = p;
    return true;
}

static bool fw_curl_load(void)
{
    void *lib = dlopen(FW_CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return false;
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
    }
    return fw_curl.global_init(flags);
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
