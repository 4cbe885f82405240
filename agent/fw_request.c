/*
 * fw_request: the uploader's three HTTP requests (fw_upload.c decides when to make them):
 * POST /ingest with one profile, GET /api/v1/apps/{app}/settings, and GET /healthz while the
 * server is away. Each is one blocking libcurl request on the uploader's own handle, bounded by
 * a timeout; none touches the uploader's queue or its counters, so none needs its lock.
 *
 * Every request carries the same headers (User-Agent, the bearer token if any) and the same
 * transport rules: http and https only, the private CA (--ca-file) if one is given, and peer and
 * host verification left on (there is deliberately no way to turn them off: a profile is worth
 * less than a token sent to whoever answers). An answer is kept up to FW_ANSWER_MAX bytes, for
 * the settings and for error messages; the rest is read and dropped.
 */
#include "fw_request.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FW_CONNECT_TIMEOUT_MS 3000L
#define FW_SETTINGS_TIMEOUT_MS 5000L
#define FW_PROBE_TIMEOUT_MS 1000L

static size_t fw_answer_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    fw_answer *ans = userdata;
    size_t n = size * nmemb, room = FW_ANSWER_MAX - ans->len;
    size_t take = n < room ? n : room;
    if (take > 0) {
        memcpy(ans->data + ans->len, ptr, take);
        ans->len += take;
        ans->data[ans->len] = '\0';
    }
    return n;   /* the rest is discarded, not an error */
}

/* The server URL without trailing slashes. */
size_t fw_request_base_len(const char *server)
{
    size_t n = strlen(server);
    while (n > 0 && server[n - 1] == '/')
        n--;
    return n;
}

static struct curl_slist *fw_headers(const fw_agent *a)
{
    struct curl_slist *h = curl_slist_append(NULL, "User-Agent: flamewatch-agent/0.1");
    if (h && a->cfg.token[0]) {
        char auth[FW_TOKEN_MAX + 32];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->cfg.token);
        struct curl_slist *h2 = curl_slist_append(h, auth);
        if (!h2) {
            curl_slist_free_all(h);
            return NULL;
        }
        h = h2;
    }
    return h;
}

/* Common options of one request; the answer goes into ans. */
static void fw_curl_setup(CURL *c, const fw_agent *a, const char *url, struct curl_slist *hdrs,
                          long timeout_ms, fw_answer *ans, char *errbuf)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms < FW_CONNECT_TIMEOUT_MS ? timeout_ms : FW_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fw_answer_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ans);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A private CA (--ca-file) replaces libcurl's default bundle for https. Peer and host
     * verification stay libcurl's defaults (on): there is deliberately no way to turn them off,
     * a profile is worth less than a token sent to whoever answers. */
    if (a->cfg.ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, a->cfg.ca_file);
    errbuf[0] = '\0';
    ans->len = 0;
    ans->data[0] = '\0';
}

/* name=APP{k=v,...}: the static tags, as Pyroscope's /ingest expects them. */
static bool fw_ingest_name(const fw_agent *a, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s{", a->cfg.app);
    size_t o = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < a->cfg.ntags && o < cap; i++) {
        n = snprintf(out + o, cap - o, "%s%s=%s", i ? "," : "", a->cfg.tags[i].key,
                     a->cfg.tags[i].value);
        o += n > 0 ? (size_t)n : 0;
    }
    if (o + 2 > cap)
        return false;
    out[o++] = '}';
    out[o] = '\0';
    return true;
}

static char *fw_ingest_url(CURL *c, const fw_agent *a, const fw_up_item *it, uint64_t dropped)
{
    static char name[FW_APP_MAX + FW_TAGS_MAX * (FW_TAG_KEY_MAX + FW_TAG_VALUE_MAX + 2) + 4];
    if (!fw_ingest_name(a, name, sizeof name))
        return NULL;
    char *esc = curl_easy_escape(c, name, 0);
    if (!esc)
        return NULL;
    size_t cap = strlen(a->cfg.server) + strlen(esc) + 256;
    char *url = malloc(cap);
    if (url) {
        int64_t from = it->start_ns / 1000000000;
        int64_t until = (it->end_ns + 999999999) / 1000000000;
        if (until <= from)
            until = from + 1;
        uint64_t rate = 1000000000u / (a->cfg.interval_ns ? a->cfg.interval_ns : 1);
        int n = snprintf(url, cap, "%.*s/ingest?name=%s&from=%" PRId64 "&until=%" PRId64
                         "&format=pprof&spyName=flamewatch&sampleRate=%" PRIu64,
                         (int)fw_request_base_len(a->cfg.server), a->cfg.server, esc, from, until, rate);
        if (dropped > 0 && n > 0 && (size_t)n < cap)
            snprintf(url + n, cap - (size_t)n, "&dropped=%" PRIu64, dropped);
    }
    curl_free(esc);
    return url;
}

static bool fw_status_retryable(long status)
{
    return status >= 500 || status == 408 || status == 429 || status == 401 || status == 403;
}

static uint64_t fw_thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One POST /ingest, multipart/form-data with the pprof in the field `profile`. */
fw_send_result fw_request_ingest(const fw_agent *a, CURL *c, const fw_up_item *it,
                                  uint64_t dropped, long timeout_ms, fw_answer *ans, char *why,
                                  size_t whylen, fw_peer *peer, uint64_t *cpu_ns)
{
    *peer = FW_PEER_SILENT;
    char errbuf[CURL_ERROR_SIZE];
    char *url = fw_ingest_url(c, a, it, dropped);
    struct curl_slist *hdrs = fw_headers(a);
    curl_mime *mime = NULL;
    fw_send_result res = FW_SEND_RETRY;
    uint64_t cpu0 = fw_thread_cpu_now();
    if (!url || !hdrs) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    fw_curl_setup(c, a, url, hdrs, timeout_ms, ans, errbuf);
    mime = curl_mime_init(c);
    curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;
    if (!part || curl_mime_name(part, "profile") != CURLE_OK ||
        curl_mime_filename(part, "profile.pprof.gz") != CURLE_OK ||
        curl_mime_type(part, "application/octet-stream") != CURLE_OK ||
        curl_mime_data(part, (const char *)it->data, it->len) != CURLE_OK) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (status >= 200 && status < 300) {
        res = FW_SEND_OK;
        *peer = FW_PEER_ANSWERED;
    } else {
        *peer = status == 502 || status == 503 || status == 504 ? FW_PEER_GATEWAY
                                                                  : FW_PEER_ANSWERED;
        snprintf(why, whylen, "HTTP %ld: %.300s", status, ans->data);
        res = fw_status_retryable(status) ? FW_SEND_RETRY : FW_SEND_REJECTED;
    }
out:
    curl_mime_free(mime);
    curl_slist_free_all(hdrs);
    free(url);
    *cpu_ns = fw_thread_cpu_now() - cpu0;
    return res;
}

static char *fw_settings_url(CURL *c, const fw_agent *a)
{
    char *app = curl_easy_escape(c, a->cfg.app, 0);
    char *host = curl_easy_escape(c, a->hostname, 0);
    size_t cap = strlen(a->cfg.server) + (app ? strlen(app) : 0) + (host ? strlen(host) : 0) + 96;
    char *url = (app && host) ? malloc(cap) : NULL;
    if (url)
        snprintf(url, cap, "%.*s/api/v1/apps/%s/settings?host=%s&pid=%ld",
                 (int)fw_request_base_len(a->cfg.server), a->cfg.server, app, host, (long)a->pid);
    curl_free(app);
    curl_free(host);
    return url;
}

long fw_request_settings(const fw_agent *a, CURL *c, fw_answer *ans)
{
    char errbuf[CURL_ERROR_SIZE];
    char *url = fw_settings_url(c, a);
    struct curl_slist *hdrs = fw_headers(a);
    long status = 0;
    if (url && hdrs) {
        fw_curl_setup(c, a, url, hdrs, FW_SETTINGS_TIMEOUT_MS, ans, errbuf);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK) {
            status = 0;
            fw_log(FW_LOG_DEBUG, "settings not fetched (%s): keeping the current ones",
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
        }
    }
    curl_slist_free_all(hdrs);
    free(url);
    return status;
}

bool fw_request_probe(const fw_agent *a, CURL *c, fw_answer *ans)
{
    char errbuf[CURL_ERROR_SIZE];
    size_t base = fw_request_base_len(a->cfg.server);
    char *url = malloc(base + sizeof "/healthz");
    struct curl_slist *hdrs = fw_headers(a);
    bool up = false;
    if (url && hdrs) {
        snprintf(url, base + sizeof "/healthz", "%.*s/healthz", (int)base, a->cfg.server);
        fw_curl_setup(c, a, url, hdrs, FW_PROBE_TIMEOUT_MS, ans, errbuf);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        up = rc == CURLE_OK && status > 0 && status < 500;
        if (rc != CURLE_OK)
            fw_log(FW_LOG_DEBUG, "probe of %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        else
            fw_log(FW_LOG_DEBUG, "probe of %s: HTTP %ld", url, status);
    }
    curl_slist_free_all(hdrs);
    free(url);
    return up;
}
