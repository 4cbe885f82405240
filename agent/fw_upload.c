/*
 * fw_upload: delivery to the server and remote settings, off the application's path.
 *
 * Why a thread of its own. A request can take seconds (a slow or absent server, a TLS
 * handshake, retries); the worker must keep naming threads and cutting profiles on time, and an
 * application thread must never wait for the network at all. So the worker only appends the
 * gzip'ed pprof it built to a queue (a mutex held for a few pointer moves) and this thread does
 * every network operation, with libcurl, with the GIL never involved. Like the other agent
 * threads it is created with every signal blocked.
 *
 * The queue. A ring of profiles bounded in bytes (FW_UPLOAD_QUEUE_BYTES, 64 MB), and in count
 * only when cfg.queue_max says so (0, the default: no count limit; the ring grows by doubling).
 * A profile is dropped only when pushing the newest would exceed a bound, and then the oldest
 * goes first: during a long outage the newest data is the most useful, and memory stays bounded
 * however long the outage lasts. Every drop is counted; the count of profiles dropped and not
 * yet reported is sent with the next delivery as the `dropped=N` query parameter of /ingest
 * (the server adds it to flamewatch_agent_profiles_dropped_total) and kept in the agent's
 * stats(). The count sent is subtracted once the server accepted it, so drops that happen while
 * that request is in flight go with the next one: the server's sum is exact.
 *
 * Retries. A request that fails for a reason that may pass (no connection, timeout, HTTP 5xx,
 * 408, 429, 401/403 while a token is being fixed) puts the profile back at the head and waits an
 * exponential backoff (1 s doubling to 60 s) with jitter (a random point in the upper half of
 * the window), so that the agents of a fleet do not come back in lock-step after a server
 * restart. Any other 4xx means this profile will never be accepted: it is dropped with a
 * warning. Logging is per incident: one warning when deliveries start failing, one line when
 * they work again (with the number of profiles dropped meanwhile); each attempt is a debug line.
 * The requests themselves are fw_request.c's; this file decides when to make them.
 *
 * Probing. A long backoff alone would leave a server that came back idle for up to a minute
 * while the queue fills. So when the server did not answer at all (no connection, timeout) or
 * a gateway answered for it (502, 503, 504), the thread also probes GET /healthz every
 * FW_PROBE_NS (jittered, FW_PROBE_TIMEOUT_MS at most): a request with no body that costs the
 * server next to nothing. As soon as a probe gets an answer below 500 (any server that answers
 * at all: a Pyroscope without /healthz answers 404), the backoff ends and the queue drains at
 * once. A server that answers the upload itself with an error (429, 500, 401...) is up and
 * refusing: probing would tell nothing new, so the backoff alone paces the retries; and if the
 * delivery a probe resumed fails with an answer, the backoff takes over too, so a server whose
 * /healthz is fine while /ingest is not sees at most one upload per probe interval.
 *
 * Exit. fw_upload_stop() gives the thread a deadline (2 s from the agent's stop): it sends what
 * is queued, oldest first, each request limited to the time left, gives up at the first
 * connection failure, and exits. If a request is stuck past the deadline anyway (a resolver
 * that ignores timeouts), the thread is abandoned instead of joined, and its memory is left
 * alone: the process is exiting, and waiting longer would hold the exit up.
 *
 * Settings. Every cfg.settings_interval_ns (30 s by default, so a change reaches running agents
 * within 30 s plus one request) the thread fetches GET /api/v1/apps/{app}/settings?host=&pid=
 * (the server records which agent fetched which version). An answer with updated_at == 0 means
 * nobody set anything: the local configuration (flags, environment) stays. Otherwise the
 * server's values replace the live ones under the agent mutex: master switch, CPU on/off and
 * interval, wall on/off, memory on/off and threshold (stored for the memory profiler). A bad
 * answer is ignored with one warning until a good one arrives; an unreachable server changes
 * nothing (the last good settings stay).
 *
 * Fork. The queue lock is held across fork (fw_lifecycle's hooks call ours); the child drops the
 * parent's queue (the parent delivers it), forgets the thread and re-creates the lock.
 */
#include "fw_upload.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fw_agent.h"
#include "fw_request.h"

#define FW_UPLOAD_QUEUE_BYTES (64u << 20)
#define FW_BACKOFF_MIN_NS 1000000000ull
#define FW_BACKOFF_MAX_NS 60000000000ull
#define FW_REQUEST_TIMEOUT_MS 15000L
#define FW_PROBE_NS 1000000000ull   /* /healthz while the server is away (jittered 0.5-1 s) */
#define FW_QUEUE_INITIAL 64u        /* ring slots before the first growth */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    fw_up_item *q;
    size_t cap, head, count, bytes;
    size_t limit;               /* most profiles kept (0: the byte budget alone) */
    bool inflight;              /* a profile popped for a request: still counted as queued */
    bool stop;
    bool closing;               /* the agent is stopping: hold everything for the final drain */
    uint64_t deadline;
    pthread_t thread;
    bool started;
    bool abandoned;             /* a stuck thread still owns `q`: never free it */
    bool outage;                /* deliveries are failing (one warning per incident) */
    uint64_t dropped_unreported; /* dropped and not yet accepted by the server in `dropped=` */
    uint64_t outage_dropped;
    bool settings_bad;          /* the last answer was invalid (one warning until a good one) */
    fw_upload_stats st;
} fw_up = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t fw_curl_once = PTHREAD_ONCE_INIT;
static bool fw_curl_ok;

static void fw_curl_init_once(void)
{
    fw_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* ---- the queue (fw_up.lock held) ---- */

static void fw_item_free(fw_up_item *it)
{
    free(it->data);
    it->data = NULL;
    it->len = 0;
}

static void fw_count_dropped(void)
{
    fw_up.st.dropped++;
    fw_up.dropped_unreported++;
    fw_up.outage_dropped++;
}

static void fw_q_drop_oldest(void)
{
    assert(fw_up.count > 0);
    fw_up_item *it = &fw_up.q[fw_up.head];
    fw_up.bytes -= it->len;
    fw_item_free(it);
    fw_up.head = (fw_up.head + 1) % fw_up.cap;
    fw_up.count--;
    fw_count_dropped();
}

/* Doubles the ring (unwrapped into the new array). False when the count limit is reached or
 * memory is short: the caller drops the oldest instead. */
static bool fw_q_grow(void)
{
    if (fw_up.limit && fw_up.cap >= fw_up.limit)
        return false;
    size_t cap = fw_up.cap * 2;
    if (fw_up.limit && cap > fw_up.limit)
        cap = fw_up.limit;
    fw_up_item *q = calloc(cap, sizeof *q);
    if (!q)
        return false;
    for (size_t i = 0; i < fw_up.count; i++)
        q[i] = fw_up.q[(fw_up.head + i) % fw_up.cap];
    free(fw_up.q);
    fw_up.q = q;
    fw_up.cap = cap;
    fw_up.head = 0;
    return true;
}

/* True if one more profile of `len` bytes fits (growing the ring if needed). */
static bool fw_q_room(size_t len)
{
    if (fw_up.bytes + len > FW_UPLOAD_QUEUE_BYTES)
        return false;
    return fw_up.count < fw_up.cap || fw_q_grow();
}

static void fw_q_push_back(fw_up_item *it)
{
    while (fw_up.count > 0 && !fw_q_room(it->len))
        fw_q_drop_oldest();
    assert(fw_up.count < fw_up.cap);   /* cap >= 1: an empty ring always has a slot */
    fw_up.q[(fw_up.head + fw_up.count) % fw_up.cap] = *it;
    fw_up.count++;
    fw_up.bytes += it->len;
}

/* Puts a failed profile back in front, unless newer ones filled the queue meanwhile: then it
 * is the oldest, and the one to drop. */
static void fw_q_push_front(fw_up_item *it)
{
    if (!fw_q_room(it->len)) {
        fw_item_free(it);
        fw_count_dropped();
        return;
    }
    fw_up.head = (fw_up.head + fw_up.cap - 1) % fw_up.cap;
    fw_up.q[fw_up.head] = *it;
    fw_up.count++;
    fw_up.bytes += it->len;
}

static fw_up_item fw_q_pop(void)
{
    assert(fw_up.count > 0);
    fw_up_item it = fw_up.q[fw_up.head];
    fw_up.head = (fw_up.head + 1) % fw_up.cap;
    fw_up.count--;
    fw_up.bytes -= it.len;
    return it;
}

static void fw_q_clear(void)
{
    while (fw_up.count > 0) {
        fw_up_item it = fw_q_pop();
        fw_item_free(&it);
    }
}

/* ---- requests (fw_request.c) ---- */

static fw_send_result fw_send(fw_agent *a, CURL *c, const fw_up_item *it, uint64_t dropped,
                              long timeout_ms, fw_answer *ans, char *why, size_t whylen,
                              fw_peer *peer)
{
    uint64_t spent = 0;
    fw_send_result res = fw_request_ingest(a, c, it, dropped, timeout_ms, ans, why, whylen, peer,
                                           &spent);
    pthread_mutex_lock(&fw_up.lock);
    fw_up.st.attempts++;
    fw_up.st.last_upload_cpu_ns = spent;
    fw_up.st.upload_cpu_ns += spent;
    pthread_mutex_unlock(&fw_up.lock);
    return res;
}

/* ---- settings ---- */

/* Under the agent mutex: the live settings become the server's. True if anything changed. */
static bool fw_settings_apply(fw_agent *a, const fw_remote_settings *s)
{
    fw_agent_config *c = &a->cfg;
    uint64_t interval = (uint64_t)s->cpu_interval_ms * 1000000u;
    bool changed = c->enabled != s->enabled || c->cpu != s->cpu || c->interval_ns != interval ||
                   c->wall != s->wall || c->memory != s->memory ||
                   c->memory_threshold_kb != (uint32_t)s->memory_threshold_kb;
    /* Turning collection back on: every thread's CPU baseline is stale (it covers the time we
     * were off), so the sampler starts from fresh baselines instead of charging that time. */
    if ((s->enabled && !c->enabled) || (s->cpu && !c->cpu))
        a->rebaseline = true;
    c->enabled = s->enabled;
    c->cpu = s->cpu;
    c->interval_ns = interval;
    c->wall = s->wall;
    c->memory = s->memory;
    c->memory_threshold_kb = (uint32_t)s->memory_threshold_kb;
    return changed;
}

static void fw_settings_poll(fw_agent *a, CURL *c, fw_answer *ans)
{
    char why[256] = "";
    fw_remote_settings s = {0};
    long status = fw_request_settings(a, c, ans);
    if (status == 0)
        return;
    if (status != 200)
        snprintf(why, sizeof why, "HTTP %ld: %.200s", status, ans->data);
    else
        (void)fw_settings_parse(ans->data, ans->len, &s, why, sizeof why);
    pthread_mutex_lock(&fw_up.lock);
    bool warn = why[0] && !fw_up.settings_bad;
    fw_up.settings_bad = why[0] != '\0';
    if (why[0])
        fw_up.st.settings_invalid++;
    else
        fw_up.st.settings_fetches++;
    pthread_mutex_unlock(&fw_up.lock);
    if (why[0]) {
        fw_log(warn ? FW_LOG_WARNING : FW_LOG_DEBUG,
               "ignoring the server's settings (%s); keeping the current ones", why);
        return;
    }
    if (s.updated_at == 0) {
        fw_log(FW_LOG_DEBUG, "no settings stored on the server: keeping the local ones");
        return;
    }
    pthread_mutex_lock(&a->lock);
    bool changed = fw_settings_apply(a, &s);
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_lock(&fw_up.lock);
    fw_up.st.settings_updated_at = s.updated_at;
    fw_up.st.settings_applied += changed;
    pthread_mutex_unlock(&fw_up.lock);
    fw_log(changed ? FW_LOG_INFO : FW_LOG_DEBUG,
           "settings %s: enabled=%d cpu=%d cpu_interval_ms=%d wall=%d memory=%d "
           "memory_threshold_kb=%d (updated_at %" PRId64 ")",
           changed ? "applied" : "unchanged", s.enabled, s.cpu, s.cpu_interval_ms, s.wall,
           s.memory, s.memory_threshold_kb, s.updated_at);
}

/* ---- the thread ---- */

static uint64_t fw_rand_state;

/* A random point in the upper half of `window` (xorshift64; quality does not matter, spread
 * does: the agents of a fleet must not act in lock-step). */
static uint64_t fw_jitter_ns(uint64_t window)
{
    fw_rand_state ^= fw_rand_state << 13;
    fw_rand_state ^= fw_rand_state >> 7;
    fw_rand_state ^= fw_rand_state << 17;
    return window / 2 + fw_rand_state % (window / 2 + 1);
}

/* Backoff after `failures` consecutive failures: a random point in the upper half of
 * min(1 s * 2^(failures-1), 60 s). */
static uint64_t fw_backoff_ns(unsigned failures)
{
    uint64_t window = FW_BACKOFF_MIN_NS;
    for (unsigned i = 1; i < failures && window < FW_BACKOFF_MAX_NS; i++)
        window *= 2;
    if (window > FW_BACKOFF_MAX_NS)
        window = FW_BACKOFF_MAX_NS;
    return fw_jitter_ns(window);
}

/* fw_up.lock held. Sleeps until `until` (monotonic) or a signal. */
static void fw_wait_until(uint64_t until)
{
    struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
    (void)pthread_cond_timedwait(&fw_up.cond, &fw_up.lock, &ts);
}

/* After a delivery attempt (fw_up.lock held): logs per incident and keeps the counters. */
static void fw_after_send(fw_agent *a, fw_send_result r, fw_up_item *it, uint64_t reported,
                          const char *why, unsigned failures)
{
    fw_up.inflight = false;
    if (r == FW_SEND_OK) {
        fw_up.st.uploads++;
        fw_up.st.upload_bytes += it->len;
        /* Drops counted while the request was in flight go with the next delivery. */
        assert(reported <= fw_up.dropped_unreported);
        fw_up.dropped_unreported -= reported;
        if (fw_up.outage)
            fw_log(fw_up.outage_dropped ? FW_LOG_WARNING : FW_LOG_INFO,
                   "profiles are delivered to %s again; %" PRIu64 " profile(s) dropped meanwhile",
                   a->cfg.server, fw_up.outage_dropped);
        else
            fw_log(FW_LOG_DEBUG, "profile delivered (%zu bytes)", it->len);
        fw_up.outage = false;
        fw_up.outage_dropped = 0;
        fw_item_free(it);
    } else if (r == FW_SEND_REJECTED) {
        fw_up.st.rejected++;
        fw_count_dropped();
        fw_log(FW_LOG_WARNING, "the server refused a profile (%s); it is dropped", why);
        fw_item_free(it);
    } else {
        fw_up.st.failures++;
        if (!fw_up.outage)
            fw_log(FW_LOG_WARNING, "cannot deliver profiles to %s (%s); keeping them (up to "
                   "%u MB) and retrying", a->cfg.server, why, FW_UPLOAD_QUEUE_BYTES >> 20);
        else
            fw_log(FW_LOG_DEBUG, "delivery attempt %u failed: %s", failures, why);
        fw_up.outage = true;
        fw_q_push_front(it);
    }
}

/* Exit (fw_up.lock held): what is queued goes out until the deadline; the rest is dropped. */
static void fw_drain(fw_agent *a, CURL *c, fw_answer *ans)
{
    char why[512] = "";
    while (fw_up.count > 0) {
        uint64_t now = fw_now_mono_ns();
        if (now + 20000000u >= fw_up.deadline)
            break;
        long ms = (long)((fw_up.deadline - now) / 1000000u);
        fw_up_item it = fw_q_pop();
        uint64_t dropped = fw_up.dropped_unreported;
        fw_peer peer;
        fw_up.inflight = true;
        pthread_mutex_unlock(&fw_up.lock);
        fw_send_result r = fw_send(a, c, &it, dropped, ms, ans, why, sizeof why, &peer);
        pthread_mutex_lock(&fw_up.lock);
        if (r == FW_SEND_RETRY) {
            fw_up.inflight = false;
            fw_q_push_front(&it);
            fw_up.st.failures++;
            fw_log(FW_LOG_DEBUG, "final delivery failed: %s", why);
            break;
        }
        fw_after_send(a, r, &it, dropped, why, 0);
        why[0] = '\0';   /* only a failure that stopped the drain is worth reporting */
    }
    if (fw_up.count > 0) {
        /* The one line the user gets at exit, so it carries the reason: "unreachable" would
         * mislead when the server answered but, say, its certificate was not trusted. */
        if (why[0])
            fw_log(FW_LOG_WARNING, "%zu profile(s) not delivered at exit to %s (%s)",
                   fw_up.count, a->cfg.server, why);
        else
            fw_log(FW_LOG_WARNING, "%zu profile(s) not delivered at exit (server %s unreachable)",
                   fw_up.count, a->cfg.server);
        while (fw_up.count > 0)
            fw_q_drop_oldest();
    }
}

/* The retry state of the thread between attempts. */
typedef struct {
    unsigned failures;          /* consecutive failed attempts */
    uint64_t retry_at;          /* next attempt by the backoff (0: none pending) */
    bool away;                  /* the server did not answer: probe it */
    uint64_t probe_at;          /* next probe while away */
    bool probed;                /* the attempt under way was started by a probe */
} fw_retry;

static uint64_t fw_probe_delay_ns(void)
{
    return fw_jitter_ns(FW_PROBE_NS);
}

/* fw_up.lock held: one delivery attempt of the oldest profile; updates the retry state. */
static void fw_deliver_one(fw_agent *a, CURL *c, fw_answer *ans, fw_retry *rs)
{
    char why[512];
    fw_up_item it = fw_q_pop();
    uint64_t dropped = fw_up.dropped_unreported;
    fw_peer peer;
    fw_up.inflight = true;
    pthread_mutex_unlock(&fw_up.lock);
    fw_send_result r = fw_send(a, c, &it, dropped, FW_REQUEST_TIMEOUT_MS, ans, why, sizeof why,
                               &peer);
    pthread_mutex_lock(&fw_up.lock);
    rs->failures = r == FW_SEND_RETRY ? rs->failures + 1 : 0;
    uint64_t now = fw_now_mono_ns();
    rs->retry_at = rs->failures ? now + fw_backoff_ns(rs->failures) : 0;
    /* A gateway error right after a probe said the server is back: its /healthz answers and its
     * /ingest does not, so probing again would only resume the same failure. */
    rs->away = r == FW_SEND_RETRY &&
               (peer == FW_PEER_SILENT || (peer == FW_PEER_GATEWAY && !rs->probed));
    rs->probe_at = rs->away ? now + fw_probe_delay_ns() : 0;
    rs->probed = false;
    fw_after_send(a, r, &it, dropped, why, rs->failures);
}

static void *fw_upload_main(void *arg)
{
    fw_agent *a = arg;
    fw_answer ans = {malloc(FW_ANSWER_MAX + 1), 0};
    CURL *c = curl_easy_init();
    fw_rand_state = ((uint64_t)getpid() * 0x9e3779b97f4a7c15ull) ^ fw_now_mono_ns();
    if (!fw_rand_state)
        fw_rand_state = 1;
    if (!c || !ans.data)
        fw_log(FW_LOG_WARNING, "cannot initialize the uploader: profiles are not delivered");
    uint64_t next_settings = fw_now_mono_ns();   /* first poll at once */
    fw_retry rs = {0};
    pthread_mutex_lock(&fw_up.lock);
    while (!fw_up.stop) {
        if (!c || !ans.data) {
            fw_q_clear();
            fw_wait_until(fw_now_mono_ns() + 1000000000u);
            continue;
        }
        uint64_t now = fw_now_mono_ns();
        if (fw_up.closing) {
            /* The final profile is being built: sending the queue now would only race the
             * drain below (and report a failing server twice). Wait for the stop. */
            fw_wait_until(now + 1000000000u);
            continue;
        }
        if (now >= next_settings) {
            pthread_mutex_unlock(&fw_up.lock);
            fw_settings_poll(a, c, &ans);
            pthread_mutex_lock(&fw_up.lock);
            next_settings = fw_now_mono_ns() + a->cfg.settings_interval_ns;
            continue;
        }
        if (fw_up.count > 0 && now >= rs.retry_at) {
            fw_deliver_one(a, c, &ans, &rs);
            continue;
        }
        if (fw_up.count > 0 && rs.away && now >= rs.probe_at) {
            pthread_mutex_unlock(&fw_up.lock);
            bool up = fw_request_probe(a, c, &ans);
            pthread_mutex_lock(&fw_up.lock);
            if (up) {
                fw_log(FW_LOG_DEBUG, "%s answers again: delivering at once", a->cfg.server);
                rs.retry_at = 0;
                rs.probed = true;
            }
            rs.probe_at = fw_now_mono_ns() + fw_probe_delay_ns();
            continue;
        }
        uint64_t until = next_settings;
        if (fw_up.count > 0 && rs.retry_at < until)
            until = rs.retry_at;
        if (fw_up.count > 0 && rs.away && rs.probe_at < until)
            until = rs.probe_at;
        fw_wait_until(until);
    }
    if (c && ans.data)
        fw_drain(a, c, &ans);
    pthread_mutex_unlock(&fw_up.lock);
    if (c)
        curl_easy_cleanup(c);
    free(ans.data);
    return NULL;
}

/* ---- interface ---- */

int fw_upload_init(fw_agent *a)
{
    if (!a->cfg.server[0])
        return 0;
    pthread_once(&fw_curl_once, fw_curl_init_once);
    if (!fw_curl_ok)
        return EIO;
    pthread_mutex_lock(&fw_up.lock);
    fw_up.limit = a->cfg.queue_max;
    fw_up.cap = fw_up.limit && fw_up.limit < FW_QUEUE_INITIAL ? fw_up.limit : FW_QUEUE_INITIAL;
    fw_up.q = calloc(fw_up.cap, sizeof *fw_up.q);   /* an abandoned queue stays with its thread */
    fw_up.head = fw_up.count = fw_up.bytes = 0;
    fw_up.inflight = false;
    fw_up.abandoned = false;
    fw_up.outage = false;
    fw_up.settings_bad = false;
    fw_up.dropped_unreported = fw_up.outage_dropped = 0;
    memset(&fw_up.st, 0, sizeof fw_up.st);
    int rc = fw_up.q ? 0 : ENOMEM;
    pthread_mutex_unlock(&fw_up.lock);
    return rc;
}

int fw_upload_start(fw_agent *a)
{
    if (!a->cfg.server[0] || !fw_up.q)
        return 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fw_up.cond, &ca);
    pthread_condattr_destroy(&ca);
    fw_up.stop = false;
    fw_up.closing = false;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&fw_up.thread, NULL, fw_upload_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    fw_up.started = rc == 0;
    return rc;
}

void fw_upload_push(fw_agent *a, fw_buf *gz, int64_t start_ns, int64_t end_ns)
{
    fw_up_item it = {gz->data, gz->len, start_ns, end_ns};
    gz->data = NULL;
    gz->len = gz->cap = 0;
    if (!a->cfg.server[0]) {
        fw_item_free(&it);
        return;
    }
    pthread_mutex_lock(&fw_up.lock);
    if (!fw_up.q || fw_up.abandoned) {
        fw_item_free(&it);
    } else {
        uint64_t before = fw_up.st.dropped;
        fw_q_push_back(&it);
        if (fw_up.st.dropped != before)
            fw_log(FW_LOG_DEBUG, "upload queue full: oldest profile dropped");
        pthread_cond_signal(&fw_up.cond);
    }
    pthread_mutex_unlock(&fw_up.lock);
}

void fw_upload_closing(fw_agent *a)
{
    (void)a;
    if (!fw_up.started)
        return;
    pthread_mutex_lock(&fw_up.lock);
    fw_up.closing = true;
    pthread_mutex_unlock(&fw_up.lock);
}

bool fw_upload_stop(fw_agent *a, uint64_t deadline)
{
    (void)a;
    if (!fw_up.started)
        return true;
    pthread_mutex_lock(&fw_up.lock);
    fw_up.stop = true;
    fw_up.deadline = deadline;
    pthread_cond_signal(&fw_up.cond);
    pthread_mutex_unlock(&fw_up.lock);
    /* A little beyond the deadline: the thread's own requests are limited to it. */
    uint64_t now = fw_now_mono_ns(), limit = deadline + 500000000u;
    uint64_t wait = limit > now ? limit - now : 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t abs_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + wait;
    struct timespec until = {(time_t)(abs_ns / 1000000000u), (long)(abs_ns % 1000000000u)};
    fw_up.started = false;
    if (pthread_timedjoin_np(fw_up.thread, NULL, &until) != 0) {
        pthread_detach(fw_up.thread);
        pthread_mutex_lock(&fw_up.lock);
        fw_up.abandoned = true;
        pthread_mutex_unlock(&fw_up.lock);
        fw_log(FW_LOG_WARNING, "the uploader did not finish in time; exiting without it");
        return false;
    }
    pthread_cond_destroy(&fw_up.cond);
    return true;
}

void fw_upload_release(fw_agent *a)
{
    (void)a;
    pthread_mutex_lock(&fw_up.lock);
    if (!fw_up.abandoned) {
        fw_q_clear();
        free(fw_up.q);
        fw_up.q = NULL;
    }
    pthread_mutex_unlock(&fw_up.lock);
}

void fw_upload_get_stats(fw_upload_stats *out)
{
    pthread_mutex_lock(&fw_up.lock);
    *out = fw_up.st;
    out->queued = fw_up.count + fw_up.inflight;
    pthread_mutex_unlock(&fw_up.lock);
}

void fw_upload_before_fork(void)
{
    pthread_mutex_lock(&fw_up.lock);
}

void fw_upload_after_fork_parent(void)
{
    pthread_mutex_unlock(&fw_up.lock);
}

void fw_upload_after_fork_child(void)
{
    pthread_mutex_init(&fw_up.lock, NULL);
    /* The parent's thread does not exist here and the parent delivers its own queue. */
    for (size_t i = 0; fw_up.q && i < fw_up.count; i++)
        free(fw_up.q[(fw_up.head + i) % fw_up.cap].data);
    free(fw_up.q);
    fw_up.q = NULL;
    fw_up.count = fw_up.head = fw_up.bytes = 0;
    fw_up.inflight = false;
    fw_up.started = false;
    fw_up.abandoned = false;
    fw_up.stop = false;
    fw_up.closing = false;
}
