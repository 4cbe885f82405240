/*
 * fw_appname.c: the application-name rule (see fw_appname.h for why each part exists).
 *
 * Checks run from the cheapest to the most specific, and the first failure is reported, so
 * that a name with several problems gets the one a user fixes first (its length, then its
 * bytes, then its characters).
 */
#include "fw_appname.h"

#include <string.h>

#include "fw_utf8.h"

const char *fw_app_name_problem(const char *s, size_t len)
{
    if (!s || len == 0)
        return "is empty";
    if (len > FW_APP_NAME_MAX)
        return "is longer than 128 bytes";
    if (memchr(s, '\0', len))
        return "contains a NUL byte";
    if (!fw_utf8_valid(s, len))
        return "is not valid UTF-8";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return "contains a control character";
        switch (c) {
        case '/': return "contains '/'";
        case '{': return "contains '{'";
        case '}': return "contains '}'";
        case ',': return "contains ','";
        case '=': return "contains '='";
        default: break;
        }
    }
    if (s[0] == ' ' || s[len - 1] == ' ')
        return "starts or ends with a space";
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return "is '.' or '..'";
    return NULL;
}
