/*
 * fw_units: numbers for humans, exactly as the web console prints them (web/src/util.js
 * fmtValue, fmtPct, fmtSignedPct), so that `flamewatch query --format table`, `flamewatch diff`,
 * the SVG export and the console show a value with the same characters.
 */
#ifndef FW_UNITS_H
#define FW_UNITS_H

#include <stddef.h>

/* Longest text any of these functions writes, terminator included. */
#define FW_UNITS_MAX 48

/* A value in its profile unit: "1.97 s", "312 MB" (1024-based, as the console), "12.3k". */
void fw_units_value(double v, const char *unit, char *out, size_t outlen);
/* A share (0.2475) as "24.75%". */
void fw_units_pct(double share, char *out, size_t outlen);
/* A change of share as "+1.23 pp", "−0.50 pp" or "±0.00 pp". */
void fw_units_signed_pct(double delta, char *out, size_t outlen);
/* JavaScript's Number.prototype.toFixed for 0 <= x < 1e21: ties go up, from the exact value. */
void fw_units_to_fixed(double x, int digits, char *out, size_t outlen);
/* Number of characters (UTF-8 code points) in s, for aligning columns. */
size_t fw_units_width(const char *s);

#endif
