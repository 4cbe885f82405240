/*
 * run_check: the validators of `flamewatch run`'s settings, one per flag or variable.
 *
 * Validation is strict and follows docs/CONFIGURATION.md to the letter, because the same
 * rules are applied again by the Python side (flamewatch.start()) and the two must agree:
 *   - integers are plain decimal digits (no sign, no spaces, no "0x");
 *   - the upload interval is a plain decimal number (digits, at most one '.'), so "1e3",
 *     "inf" and "nan", which strtod would happily take, are refused;
 *   - character counts are Unicode characters, so text must be valid UTF-8;
 *   - booleans and log levels are case-insensitive and are exported in one canonical
 *     spelling ("1"/"0", lowercase), so the child never has to guess what we accepted.
 *
 * Error messages are one line and name the flag or the variable, the value (control
 * characters escaped) and what was expected, e.g.
 *   flamewatch: invalid value for --cpu-interval: 'abc' (expected an integer from 1 to 1000)
 * A validator only says what was expected; the caller knows where the value came from.
 */
#include "run_check.h"
#include "fw_utf8.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char fw_bool_expected[] = "expected a boolean: 1/0, true/false, yes/no or on/off";

long fw_run_utf8_chars(const char *s, size_t len)
{
    return fw_utf8_chars(s, len);
}

void fw_run_invalid(char *err, size_t errlen, const char *where, const char *value,
                    const char *expected)
{
    if (!err || errlen == 0)
        return;
    /* Escape control characters (and DEL) so the message stays one line whatever the value. */
    char shown[512];
    size_t o = 0;
    const unsigned char *v = (const unsigned char *)value;
    for (size_t i = 0; v[i] && o + 5 < sizeof shown; i++) {
        if (v[i] < 0x20 || v[i] == 0x7f) {
            snprintf(shown + o, sizeof shown - o, "\\x%02x", v[i]);
            o += 4;
        } else {
            shown[o++] = (char)v[i];
        }
    }
    shown[o] = '\0';
    bool cut = v[strnlen(value, sizeof shown)] != '\0' && o + 5 >= sizeof shown;
    snprintf(err, errlen, "flamewatch: invalid value for %s: '%s%s' (%s)", where, shown,
             cut ? "..." : "", expected);
}

bool fw_run_check_app(const char *v, const char **expected)
{
    /* The rule is common/fw_appname.h's, the same the server applies at ingest and in the
     * settings path: a name run accepts is never refused or altered downstream. */
    if (fw_app_name_problem(v, strlen(v)) != NULL) {
        *expected = "expected " FW_APP_NAME_RULE;
        return false;
    }
    return true;
}

bool fw_run_check_output(const char *v, const char **expected)
{
    /* Whether the directory exists or can be created is checked by cmd_run.c, which creates
     * it; here only what can be known from the text. */
    if (v[0] == '\0') {
        *expected = "expected a directory path";
        return false;
    }
    if (strlen(v) >= FW_RUN_PATH_BYTES - 256) {
        *expected = "expected a directory path shorter than 3840 bytes";
        return false;
    }
    return true;
}

bool fw_run_check_memory_threshold(const char *v, int *out, const char **expected)
{
    static const char exp[] = "expected an integer number of KB from 1 to 1048576";
    long n = 0;
    size_t i = 0;
    for (; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 8) {  /* 8 digits are already out of range */
            *expected = exp;
            return false;
        }
        n = n * 10 + (v[i] - '0');
    }
    if (i == 0 || n < 1 || n > 1048576) {
        *expected = exp;
        return false;
    }
    *out = (int)n;
    return true;
}

bool fw_run_check_cpu_interval(const char *v, int *out, const char **expected)
{
    static const char exp[] = "expected an integer from 1 to 1000";
    long n = 0;
    size_t i = 0;
    for (; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 5) {  /* 5 digits are already out of range */
            *expected = exp;
            return false;
        }
        n = n * 10 + (v[i] - '0');
    }
    if (i == 0 || n < 1 || n > 1000) {
        *expected = exp;
        return false;
    }
    *out = (int)n;
    return true;
}

bool fw_run_check_bool(const char *v, bool *out, const char **expected)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    *expected = fw_bool_expected;
    return false;
}

bool fw_run_check_upload_interval(const char *v, const char **expected)
{
    static const char exp[] = "expected seconds from 0.1 to 3600, a decimal number such as 15 or 0.5";
    size_t digits = 0, dots = 0, len = strlen(v);
    for (size_t i = 0; i < len; i++) {
        if (v[i] >= '0' && v[i] <= '9')
            digits++;
        else if (v[i] == '.')
            dots++;
        else {
            *expected = exp;
            return false;
        }
    }
    if (digits == 0 || dots > 1 || len > 24) {
        *expected = exp;
        return false;
    }
    /* Only digits and one '.' remain, so strtod reads plain decimal in the C locale
     * (flamewatch never calls setlocale, so the radix character is '.'). */
    double d = strtod(v, NULL);
    if (!(d >= 0.1 && d <= 3600.0)) {
        *expected = exp;
        return false;
    }
    return true;
}

bool fw_run_check_log(const char *v, char *out, size_t outlen, const char **expected)
{
    static const char *const levels[] = {"debug", "info", "warning", "quiet"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (strcasecmp(v, levels[i]) == 0) {
            snprintf(out, outlen, "%s", levels[i]);
            return true;
        }
    }
    *expected = "expected one of debug, info, warning, quiet";
    return false;
}

bool fw_run_check_server(const char *v, const char **expected)
{
    size_t skip = strncmp(v, "http://", 7) == 0 ? 7 : strncmp(v, "https://", 8) == 0 ? 8 : 0;
    size_t len = strlen(v);
    bool ok = skip > 0 && len > skip && len <= 1000 && v[skip] != '/' && v[skip] != '?';
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f;
    if (!ok)
        *expected = "expected an http:// or https:// URL such as http://127.0.0.1:4040";
    return ok;
}

bool fw_run_check_token(const char *v, const char **expected)
{
    size_t len = strlen(v);
    bool ok = len >= 1 && len <= 511;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f;
    if (!ok)
        *expected = "expected 1 to 511 printable ASCII characters";
    return ok;
}

bool fw_run_check_ca_file(const char *v, const char **expected)
{
    /* Checked here rather than left to libcurl, which would only say so in a warning after the
     * program has started and its first upload has failed. The length leaves room for cmd_run
     * to make the path absolute within the agent's FW_PATH_MAX. */
    if (v[0] == '\0' || strlen(v) >= FW_RUN_PATH_BYTES - 256) {
        *expected = "expected the path of a PEM file of certificate authorities, shorter than 3840 bytes";
        return false;
    }
    /* open() rather than access(): it judges with the effective ids, as the agent will. */
    int fd = open(v, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *expected = errno == ENOENT || errno == ENOTDIR
                        ? "expected a PEM file of certificate authorities: no such file"
                        : "expected a readable PEM file of certificate authorities";
        return false;
    }
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular)
        *expected = "expected a PEM file of certificate authorities, not a directory or device";
    return regular;
}

bool fw_run_check_tag(const char *v, size_t len, fw_run_tag *out, const char **expected)
{
    const char *eq = memchr(v, '=', len);
    if (!eq) {
        *expected = "expected K=V";
        return false;
    }
    size_t klen = (size_t)(eq - v);
    if (klen == 0 || klen > FW_RUN_MAX_KEY_CHARS || !(isalpha((unsigned char)v[0]) || v[0] == '_')) {
        *expected = "expected K=V with a key of 1 to 64 characters matching [A-Za-z_][A-Za-z0-9_.]*";
        return false;
    }
    for (size_t i = 0; i < klen; i++) {
        unsigned char c = (unsigned char)v[i];
        /* isalnum() depends on the locale; the contract means ASCII. */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.')) {
            *expected = "expected K=V with a key of 1 to 64 characters matching [A-Za-z_][A-Za-z0-9_.]*";
            return false;
        }
    }
    const char *val = eq + 1;
    size_t vlen = len - klen - 1;
    long n = fw_run_utf8_chars(val, vlen);
    if (n < 0) {
        *expected = "expected K=V with a value in valid UTF-8";
        return false;
    }
    if (n > FW_RUN_MAX_VALUE_CHARS || memchr(val, ',', vlen) != NULL) {
        *expected = "expected K=V with a value of at most 256 characters without ','";
        return false;
    }
    if (out) {
        memcpy(out->key, v, klen);
        out->key[klen] = '\0';
        memcpy(out->value, val, vlen);
        out->value[vlen] = '\0';
    }
    return true;
}

bool fw_run_tag_put(fw_run_tag *tags, size_t *ntags, const fw_run_tag *t)
{
    for (size_t i = 0; i < *ntags; i++) {
        if (strcmp(tags[i].key, t->key) == 0) {
            tags[i] = *t;
            return true;
        }
    }
    if (*ntags >= FW_RUN_MAX_TAGS)
        return false;
    tags[(*ntags)++] = *t;
    return true;
}

const char fw_run_too_many_tags[] = "expected at most 32 tags";

bool fw_run_check_tags(const char *v, fw_run_tag *out, size_t *ntags, const char **expected)
{
    *ntags = 0;
    if (v[0] == '\0')
        return true;
    const char *p = v;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        fw_run_tag t;
        if (!fw_run_check_tag(p, len, &t, expected)) {
            /* Say it in the variable's terms: a list of k=v pairs. */
            if (strcmp(*expected, "expected K=V") == 0)
                *expected = "expected k=v pairs separated by ',', e.g. team=web,region=eu";
            return false;
        }
        if (!fw_run_tag_put(out, ntags, &t)) {
            *expected = fw_run_too_many_tags;
            return false;
        }
        if (!end)
            return true;
        p = end + 1;
    }
}
