/*
 * fw_util: time expressions and durations.
 *
 * Times: the console and the CLI speak three dialects (unix seconds from scripts, RFC 3339 from
 * people, `now-15m` from presets), and every endpoint accepts all three so links can be shared.
 * RFC 3339 is parsed by hand into fields and converted with timegm(): strptime() is
 * locale-sensitive and does not handle numeric offsets portably.
 */
#include "fw_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static int fw_unit_seconds(char u, int64_t *mult)
{
    switch (u) {
    case 's': *mult = 1; return 0;
    case 'm': *mult = 60; return 0;
    case 'h': *mult = 3600; return 0;
    case 'd': *mult = 86400; return 0;
    case 'w': *mult = 7LL * 86400; return 0;
    default: return -1;
    }
}

int fw_duration_parse(const char *s, int64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || v <= 0 || v > 100LL * 365 * 86400)
        return -1;
    int64_t mult = 1;
    if (*end) {
        if (end[1] || fw_unit_seconds(*end, &mult) != 0)
            return -1;
    }
    if (v > INT64_MAX / mult || v * mult > 100LL * 365 * 86400)
        return -1;
    *out = v * mult;
    return 0;
}

static int fw_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int fw_rfc3339(const char *s, int64_t *out)
{
    int Y, M, D, h, m, sec;
    if (strlen(s) < 19 || fw_digits(s, 4, &Y) || s[4] != '-' || fw_digits(s + 5, 2, &M) || s[7] != '-' ||
        fw_digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        fw_digits(s + 11, 2, &h) || s[13] != ':' || fw_digits(s + 14, 2, &m) || s[16] != ':' ||
        fw_digits(s + 17, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (fw_digits(p + 1, 2, &oh) || p[3] != ':' || fw_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - offset;
    return 0;
}

int fw_time_parse(const char *s, int64_t now, int64_t *out)
{
    if (!s || !*s)
        return -1;
    if (strncmp(s, "now", 3) == 0) {
        if (!s[3]) {
            *out = now;
            return 0;
        }
        if (s[3] != '-' && s[3] != '+')
            return -1;
        int64_t d;
        if (fw_duration_parse(s + 4, &d) != 0)
            return -1;
        *out = s[3] == '-' ? now - d : now + d;
        return 0;
    }
    size_t n = strlen(s);
    if (strspn(s, "0123456789") == n) {
        if (n > 16)
            return -1;
        long long v = strtoll(s, NULL, 10);
        *out = v >= 1000000000000LL ? v / 1000 : v; /* milliseconds from JavaScript */
        return 0;
    }
    return fw_rfc3339(s, out);
}
