/*
 * fw_utf8: the one UTF-8 validator (server, agent, CLI). Strict RFC 3629: overlong forms,
 * UTF-16 surrogates (U+D800-DFFF) and code points past U+10FFFF are invalid. A leaf module.
 */
#ifndef FW_UTF8_H
#define FW_UTF8_H

#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence that starts at s (at most len > 0 bytes), or 0. */
size_t fw_utf8_seq(const unsigned char *s, size_t len);

/* Length of the longest valid UTF-8 prefix of s[0..len); equals len when all is valid. */
size_t fw_utf8_valid_prefix(const char *s, size_t len);

/* 1 if s[0..len) is all valid UTF-8, else 0. */
int fw_utf8_valid(const char *s, size_t len);

/* The number of characters in s[0..len), or -1 if it is not valid UTF-8. */
long fw_utf8_chars(const char *s, size_t len);

#endif
