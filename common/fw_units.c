/*
 * fw_units: the console's number formatting, in C.
 *
 * The rules are web/src/util.js's, to the character: time in ns/µs/ms/s/min/h, bytes in
 * B/KB/MB/GB/TB/PB with 1024 steps, anything else with k/M/G/T/P in 1000 steps; three
 * significant digits at most (0 decimals from 100, 1 from 10, else 2) with trailing zeros
 * dropped; negative values with U+2212. The one subtle part is rounding: JavaScript's toFixed
 * rounds the exact binary value and sends an exact tie up (1.005 is really 1.00499..., so
 * "1.00"; 0.125 is exact, so "0.13"), while printf rounds ties to even. fw_units_to_fixed
 * therefore asks printf for 30 more digits than needed, which are exact for these
 * magnitudes, and rounds that decimal text itself.
 */
#include "fw_units.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

void fw_units_to_fixed(double x, int digits, char *out, size_t outlen)
{
    assert(digits >= 0 && digits <= 6 && outlen > 0);
    if (!(x >= 0) || x >= 1e21) {
        snprintf(out, outlen, "%.*f", digits, x);
        return;
    }
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", digits + 30, x);
    char *dot = strchr(buf, '.');
    assert(dot);
    size_t keep = (size_t)(dot - buf) + (digits ? (size_t)digits + 1 : 0);
    int up = dot[digits + 1] >= '5';
    buf[keep] = '\0';
    if (up) {
        /* Carry from the last kept digit leftwards, skipping the point. */
        ssize_t i = (ssize_t)keep - 1;
        for (; i >= 0; i--) {
            if (buf[i] == '.')
                continue;
            if (buf[i] == '9') {
                buf[i] = '0';
                continue;
            }
            buf[i]++;
            break;
        }
        if (i < 0) {
            memmove(buf + 1, buf, keep + 1);
            buf[0] = '1';
        }
    }
    snprintf(out, outlen, "%s", buf);
}

/* util.js trim(): three significant digits, trailing zeros (and a bare point) dropped. */
static void fw_trim(double x, char *out, size_t outlen)
{
    fw_units_to_fixed(x, x >= 100 ? 0 : x >= 10 ? 1 : 2, out, outlen);
    char *dot = strchr(out, '.');
    if (!dot)
        return;
    size_t n = strlen(out);
    while (n > (size_t)(dot - out) + 1 && out[n - 1] == '0')
        out[--n] = '\0';
    if (out[n - 1] == '.')
        out[n - 1] = '\0';
}

void fw_units_value(double v, const char *unit, char *out, size_t outlen)
{
    if (v != v) {
        snprintf(out, outlen, "\xe2\x80\x93");   /* – */
        return;
    }
    int neg = v < 0;
    double a = neg ? -v : v;
    char num[FW_UNITS_MAX];
    const char *suffix;
    if (unit && strcmp(unit, "nanoseconds") == 0) {
        static const struct { double scale; const char *name; } steps[] = {
            {3600e9, " h"}, {60e9, " min"}, {1e9, " s"}, {1e6, " ms"}, {1e3, " \xc2\xb5s"}, {1, " ns"},
        };
        size_t i = 0;
        while (i + 1 < sizeof steps / sizeof steps[0] && a < steps[i].scale)
            i++;
        fw_trim(a / steps[i].scale, num, sizeof num);
        suffix = steps[i].name;
    } else if (unit && strcmp(unit, "bytes") == 0) {
        static const char *const u[] = {" B", " KB", " MB", " GB", " TB", " PB"};
        size_t i = 0;
        while (a >= 1024 && i + 1 < sizeof u / sizeof u[0]) {
            a /= 1024;
            i++;
        }
        fw_trim(a, num, sizeof num);
        suffix = u[i];
    } else {
        static const char *const si[] = {"", "k", "M", "G", "T", "P"};
        size_t i = 0;
        while (a >= 1000 && i + 1 < sizeof si / sizeof si[0]) {
            a /= 1000;
            i++;
        }
        fw_trim(a, num, sizeof num);
        suffix = si[i];
    }
    snprintf(out, outlen, "%s%s%s", neg ? "\xe2\x88\x92" : "", num, suffix);
}

void fw_units_pct(double share, char *out, size_t outlen)
{
    double p = share * 100;
    if (p != p || p - p != 0) {   /* NaN or infinite: the console's '–' */
        snprintf(out, outlen, "\xe2\x80\x93");
        return;
    }
    char num[FW_UNITS_MAX];
    fw_units_to_fixed(p < 0 ? -p : p, 2, num, sizeof num);
    /* toFixed keeps the sign of a negative number; "-0.00" only when the value was below 0. */
    snprintf(out, outlen, "%s%s%%", p < 0 ? "-" : "", num);
}

void fw_units_signed_pct(double delta, char *out, size_t outlen)
{
    double p = delta * 100;
    if (p != p || p - p != 0) {
        snprintf(out, outlen, "\xe2\x80\x93");
        return;
    }
    char num[FW_UNITS_MAX];
    fw_units_to_fixed(p < 0 ? -p : p, 2, num, sizeof num);
    snprintf(out, outlen, "%s%s pp", delta > 0 ? "+" : delta < 0 ? "\xe2\x88\x92" : "\xc2\xb1", num);
}

size_t fw_units_width(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xc0) != 0x80;
    return n;
}
