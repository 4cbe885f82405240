/*
 * fw_auth: bearer tokens with roles, loaded once from the tokens file.
 * File format: one token per line, `TOKEN ROLE [name]`; `#` starts a comment.
 * Roles nest: admin > read > ingest is NOT a chain: ingest may only upload (and poll its
 * agent settings), read may only query, admin may do everything.
 */
#ifndef FW_AUTH_H
#define FW_AUTH_H

#include <stddef.h>

typedef enum {
    FW_ROLE_NONE = 0,
    FW_ROLE_INGEST = 1,
    FW_ROLE_READ = 2,
    FW_ROLE_ADMIN = 3,
} fw_role;

typedef struct fw_auth fw_auth;

/* Loads `path`; NULL with err set on an unreadable file or a malformed line. */
fw_auth *fw_auth_load(const char *path, char *err, size_t errlen);
void fw_auth_free(fw_auth *a);
size_t fw_auth_count(const fw_auth *a);

/* Role of the credentials in an Authorization header value (Bearer TOKEN, or Basic with the
 * token as password, or as user when the password is empty). FW_ROLE_NONE if unknown. */
fw_role fw_auth_check(const fw_auth *a, const char *authorization, const char **name);

/* Whether `have` may perform an action that needs `need`. */
int fw_role_allows(fw_role have, fw_role need);
const char *fw_role_name(fw_role r);

#endif
