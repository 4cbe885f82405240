/*
 * fw_auth: token roles.
 *
 * Design: the file is small (a handful of tokens), so the table is a flat array searched
 * linearly with a constant-time comparison per entry, which keeps the time a guess takes
 * independent of how many leading characters it got right. Tokens must be at least 16
 * characters: short tokens are guessable and almost always a configuration mistake, so we
 * refuse to start rather than run with them.
 *
 * Roles are not a ladder: an ingest token (shipped to every host with the agent) must not be
 * able to read profiles, and a read token must not be able to upload. Admin can do both.
 * Pyroscope clients send `Authorization: Bearer TOKEN`; some send HTTP Basic auth with the
 * token as the password (user ignored), and curl users write `-u TOKEN:`; all three work.
 */
#include "fw_auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_AUTH_MAX 1024
#define FW_TOKEN_MIN 16
#define FW_TOKEN_MAX 256

typedef struct {
    char token[FW_TOKEN_MAX + 1];
    char name[64];
    fw_role role;
} fw_token;

struct fw_auth {
    size_t n;
    fw_token t[FW_AUTH_MAX];
};

static fw_role fw_role_parse(const char *s)
{
    if (strcmp(s, "ingest") == 0)
        return FW_ROLE_INGEST;
    if (strcmp(s, "read") == 0)
        return FW_ROLE_READ;
    if (strcmp(s, "admin") == 0)
        return FW_ROLE_ADMIN;
    return FW_ROLE_NONE;
}

const char *fw_role_name(fw_role r)
{
    switch (r) {
    case FW_ROLE_INGEST: return "ingest";
    case FW_ROLE_READ: return "read";
    case FW_ROLE_ADMIN: return "admin";
    default: return "none";
    }
}

int fw_role_allows(fw_role have, fw_role need)
{
    if (have == FW_ROLE_ADMIN)
        return 1;
    return have != FW_ROLE_NONE && have == need;
}

static int fw_auth_line(fw_auth *a, char *line, size_t lineno, char *err, size_t errlen)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *save = NULL;
    char *tok = strtok_r(line, " \t\r\n", &save);
    if (!tok)
        return 0;
    char *role = strtok_r(NULL, " \t\r\n", &save);
    char *name = strtok_r(NULL, " \t\r\n", &save);
    size_t tl = strlen(tok);
    if (tl < FW_TOKEN_MIN || tl > FW_TOKEN_MAX) {
        snprintf(err, errlen, "line %zu: token must be %d to %d characters", lineno, FW_TOKEN_MIN, FW_TOKEN_MAX);
        return -1;
    }
    if (!role || fw_role_parse(role) == FW_ROLE_NONE) {
        snprintf(err, errlen, "line %zu: role must be ingest, read or admin", lineno);
        return -1;
    }
    if (a->n == FW_AUTH_MAX) {
        snprintf(err, errlen, "more than %d tokens", FW_AUTH_MAX);
        return -1;
    }
    fw_token *t = &a->t[a->n++];
    memcpy(t->token, tok, tl + 1);
    t->role = fw_role_parse(role);
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    return 0;
}

fw_auth *fw_auth_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open tokens file %s", path);
        return NULL;
    }
    fw_auth *a = calloc(1, sizeof *a);
    if (!a) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char line[1024];
    size_t lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        rc = fw_auth_line(a, line, lineno, err, errlen);
    }
    fclose(f);
    if (rc == 0 && a->n == 0) {
        snprintf(err, errlen, "tokens file %s has no tokens", path);
        rc = -1;
    }
    if (rc != 0) {
        free(a);
        return NULL;
    }
    return a;
}

void fw_auth_free(fw_auth *a) { free(a); }

size_t fw_auth_count(const fw_auth *a) { return a ? a->n : 0; }

/* Compares without an early exit so timing does not reveal a matching prefix. */
static int fw_ct_equal(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    unsigned diff = (unsigned)(alen ^ blen);
    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned)(unsigned char)b[i] ^ (unsigned)(unsigned char)(i < alen ? a[i] : 0);
    return diff == 0;
}

static int fw_b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static size_t fw_b64decode(const char *in, char *out, size_t outcap)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = fw_b64val((unsigned char)*in);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= outcap)
                return 0;
            out[n++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[n] = '\0';
    return n;
}

static fw_role fw_auth_lookup(const fw_auth *a, const char *tok, size_t len, const char **name)
{
    fw_role found = FW_ROLE_NONE;
    for (size_t i = 0; i < a->n; i++)
        if (fw_ct_equal(a->t[i].token, tok, len) && found == FW_ROLE_NONE) {
            found = a->t[i].role;
            if (name)
                *name = a->t[i].name;
        }
    return found;
}

fw_role fw_auth_check(const fw_auth *a, const char *authorization, const char **name)
{
    if (!a || !authorization)
        return FW_ROLE_NONE;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        size_t n = strcspn(t, " \t\r\n");
        if (n == 0 || n > FW_TOKEN_MAX)
            return FW_ROLE_NONE;
        return fw_auth_lookup(a, t, n, name);
    }
    if (strncasecmp(authorization, "Basic ", 6) == 0) {
        char dec[2 * FW_TOKEN_MAX + 8];
        const char *b = authorization + 6;
        while (*b == ' ')
            b++;
        if (strlen(b) > 4 * sizeof dec / 3 || fw_b64decode(b, dec, sizeof dec) == 0)
            return FW_ROLE_NONE;
        char *colon = strchr(dec, ':');
        if (!colon)
            return fw_auth_lookup(a, dec, strlen(dec), name);
        *colon = '\0';
        const char *pw = colon + 1;
        if (*pw)
            return fw_auth_lookup(a, pw, strlen(pw), name);
        return fw_auth_lookup(a, dec, strlen(dec), name);
    }
    return FW_ROLE_NONE;
}
