/*
 * fw_py_objects: strings, class names, code objects and line tables, read without the GIL.
 *
 * Design. Strings are decoded by hand from the PEP 393 representation (compact ASCII, compact
 * 1/2/4-byte kinds, and legacy strings whose characters live in a separate block), because
 * calling PyUnicode_AsUTF8 needs the GIL and may allocate. Lone surrogates (surrogateescape
 * filenames) become U+FFFD so the output is always valid UTF-8. Code objects: co_qualname exists
 * from 3.11; before that the walker derives Class.name from a first argument named self/cls; the
 * line table is co_lnotab (3.9), the PEP 626 table (3.10) or the PEP 657 location table (3.11+).
 * On 3.13+ a code object's names, first line and line table are read at the offsets its
 * interpreter publishes (fw_lay). Validation is by type pointer, and sizes are capped so that a
 * torn read cannot make us allocate or loop without bound.
 */
#include "pyversion/fw_py_internal.h"

/* 64-bit mixer (the finaliser of splitmix64): spreads every input bit over the result. */
static uint64_t fw_py_mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

/* ---- strings -------------------------------------------------------------------------- */

/* Appends code point cp as UTF-8 if it fits in `cap` bytes; false when it does not. */
static bool fw_py_put_utf8(char *buf, size_t *pos, size_t cap, uint32_t cp) {
    unsigned char tmp[4];
    size_t n;
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = 0xFFFD; /* lone surrogate (surrogateescape): keep the output valid UTF-8 */
    }
    if (cp < 0x80) {
        tmp[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (unsigned char)(0xC0 | (cp >> 6));
        tmp[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (unsigned char)(0xE0 | (cp >> 12));
        tmp[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (unsigned char)(0xF0 | (cp >> 18));
        tmp[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*pos + n > cap) {
        return false;
    }
    memcpy(buf + *pos, tmp, n);
    *pos += n;
    return true;
}

bool fw_py_read_str(uintptr_t str, char *buf, size_t buflen) {
    if (buf == NULL || buflen == 0) {
        return false;
    }
    buf[0] = '\0';
    /* The largest header (legacy strings) is read first; the object may be shorter than
     * that, so on failure the plain ASCII header is tried before giving up. */
    PyUnicodeObject u;
    memset(&u, 0, sizeof u);
    /* Checked reads (fw_memread.h): the header read may go past the end of the object. */
    if (!fw_memread_checked(&u, str, sizeof u) &&
        !fw_memread_checked(&u, str, sizeof(PyASCIIObject))) {
        return false;
    }
    const PyASCIIObject *a = &u._base._base;
    if ((uintptr_t)Py_TYPE((const PyObject *)a) != fw_py_str_type) {
        return false;
    }
    if (a->length < 0 || a->length > (Py_ssize_t)(1u << 30)) {
        return false;
    }
    unsigned kind = a->state.kind;
    if (kind != PyUnicode_1BYTE_KIND && kind != PyUnicode_2BYTE_KIND &&
        kind != PyUnicode_4BYTE_KIND) {
        return false;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (!a->state.ready) {
        return false; /* a legacy wstr-only string: its characters are not in PEP 393 form */
    }
#endif
    uintptr_t data;
    if (a->state.compact) {
        data = str + (a->state.ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject));
    } else {
        data = (uintptr_t)u.data.any;
    }
    size_t cap = buflen - 1 < FW_PY_NAME_MAX ? buflen - 1 : FW_PY_NAME_MAX;
    /* Every character needs at least one UTF-8 byte, so at most `cap` characters matter. */
    size_t nchars = (size_t)a->length < cap ? (size_t)a->length : cap;
    uint8_t raw[FW_PY_NAME_MAX * 4];
    if (!fw_memread_checked(raw, data, nchars * kind)) {
        return false;
    }
    size_t pos = 0;
    for (size_t i = 0; i < nchars; i++) {
        uint32_t cp;
        if (kind == PyUnicode_1BYTE_KIND) {
            cp = raw[i];
        } else if (kind == PyUnicode_2BYTE_KIND) {
            uint16_t v;
            memcpy(&v, raw + 2 * i, 2);
            cp = v;
        } else {
            memcpy(&cp, raw + 4 * i, 4);
            if (cp > 0x10FFFF) {
                return false;
            }
        }
        if (cp == 0 || !fw_py_put_utf8(buf, &pos, cap, cp)) {
            break; /* truncated on a character boundary (or an embedded NUL) */
        }
    }
    buf[pos] = '\0';
    return true;
}

static char *fw_py_dup_str(uintptr_t str) {
    char tmp[FW_PY_NAME_MAX + 1];
    if (!fw_py_read_str(str, tmp, sizeof tmp)) {
        return NULL;
    }
    return strdup(tmp);
}

/* Reads a NUL-terminated C string whose length is unknown, a page at a time so that a string
 * ending just before an unmapped page is still read. */
bool fw_py_read_cstr(uintptr_t addr, char *buf, size_t buflen) {
    size_t pos = 0;
    if (buflen == 0 || addr == 0) {
        return false;
    }
    while (pos + 1 < buflen) {
        size_t room = FW_PY_PAGE - (size_t)((addr + pos) % FW_PY_PAGE);
        size_t want = buflen - 1 - pos < room ? buflen - 1 - pos : room;
        if (!fw_memread_checked(buf + pos, addr + pos, want)) {
            return false;
        }
        void *nul = memchr(buf + pos, '\0', want);
        if (nul != NULL) {
            return true;
        }
        pos += want;
    }
    buf[pos] = '\0';
    return true;
}

bool fw_py_read_class_name(uintptr_t obj, int first_arg, char *buf, size_t buflen) {
    uintptr_t type;
    if (buf == NULL || buflen == 0 || obj == 0) {
        return false;
    }
    buf[0] = '\0';
    if (first_arg == FW_PY_ARG_SELF) {
        type = fw_py_type_of(obj);
    } else if (first_arg == FW_PY_ARG_CLS) {
        /* cls must be a class: its own type (the metaclass) has the type-subclass flag. */
        unsigned long meta_flags = 0;
        uintptr_t meta = fw_py_type_of(obj);
        if (meta == 0 || !fw_memread(&meta_flags, meta + offsetof(PyTypeObject, tp_flags),
                                     sizeof meta_flags) ||
            (meta_flags & Py_TPFLAGS_TYPE_SUBCLASS) == 0) {
            return false;
        }
        type = obj;
    } else {
        return false;
    }
    if (type == 0) {
        return false;
    }
    PyTypeObject t;
    if (!fw_memread(&t, type, sizeof t)) {
        return false;
    }
    if (t.tp_flags & Py_TPFLAGS_HEAPTYPE) {
        /* A class statement's type: ht_name is the plain __name__ as a str. */
        uintptr_t name = 0;
        if (!fw_py_read_ptr(type + offsetof(PyHeapTypeObject, ht_name), &name)) {
            return false;
        }
        return fw_py_read_str(name, buf, buflen);
    }
    /* A static type: tp_name is "module.Name"; __name__ is the part after the last dot. */
    char tmp[FW_PY_NAME_MAX + 1];
    if (!fw_py_read_cstr((uintptr_t)t.tp_name, tmp, sizeof tmp)) {
        return false;
    }
    const char *dot = strrchr(tmp, '.');
    const char *name = dot != NULL ? dot + 1 : tmp;
    size_t n = strlen(name);
    if (n >= buflen) {
        n = buflen - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) {
            n--; /* do not cut a UTF-8 sequence */
        }
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    return true;
}

/* ---- code objects --------------------------------------------------------------------- */

#if PY_VERSION_HEX >= 0x030A0000
#define FW_PY_LINETABLE_FIELD co_linetable
#else
#define FW_PY_LINETABLE_FIELD co_lnotab
#endif

/* End of a field: all fingerprint fields are object pointers except co_firstlineno (int). */
#define FW_PY_END_OF(field) (offsetof(PyCodeObject, field) + sizeof(PyObject *))
#define FW_PY_END_OF_INT(field) (offsetof(PyCodeObject, field) + sizeof(int))
#define FW_PY_MAX(a, b) ((a) > (b) ? (a) : (b))

/* The fingerprint covers the type, the first line and the name, file and line-table pointers:
 * a new code object at a recycled address differs in at least one of them, unless it is the
 * same function with the same table, in which case the cached result is still right. */
#if PY_VERSION_HEX >= 0x030B0000
#define FW_PY_FP_SPAN                                                                        \
    FW_PY_MAX(FW_PY_MAX(FW_PY_END_OF_INT(co_firstlineno), FW_PY_END_OF(co_name)),                \
              FW_PY_MAX(FW_PY_MAX(FW_PY_END_OF(co_filename), FW_PY_END_OF(co_qualname)),     \
                        FW_PY_END_OF(FW_PY_LINETABLE_FIELD)))
#else
#define FW_PY_FP_SPAN                                                                        \
    FW_PY_MAX(FW_PY_MAX(FW_PY_END_OF_INT(co_firstlineno), FW_PY_END_OF(co_name)),                \
              FW_PY_MAX(FW_PY_END_OF(co_filename), FW_PY_END_OF(FW_PY_LINETABLE_FIELD)))
#endif

_Static_assert(FW_PY_FP_SPAN <= sizeof(PyCodeObject), "fingerprint fields inside the struct");

#if PY_VERSION_HEX >= 0x030D0000
/* 3.13+: the same fields, at the offsets the interpreter publishes. */
size_t fw_py_code_fingerprint_span(void) { return fw_lay.co_fp_span; }

uint64_t fw_py_code_fingerprint_of(const void *buf) {
    int32_t firstlineno;
    memcpy(&firstlineno, (const unsigned char *)buf + fw_lay.co_firstlineno, sizeof firstlineno);
    uint64_t h = fw_py_mix(0x666c616d65ull, fw_py_ld_ptr(buf, offsetof(PyObject, ob_type)));
    h = fw_py_mix(h, (uint64_t)(uint32_t)firstlineno);
    h = fw_py_mix(h, fw_py_ld_ptr(buf, fw_lay.co_name));
    h = fw_py_mix(h, fw_py_ld_ptr(buf, fw_lay.co_filename));
    h = fw_py_mix(h, fw_py_ld_ptr(buf, fw_lay.co_qualname));
    h = fw_py_mix(h, fw_py_ld_ptr(buf, fw_lay.co_linetable));
    return h;
}

bool fw_py_code_still_valid(uintptr_t code, uint64_t fingerprint) {
    _Alignas(16) unsigned char buf[FW_PY_CODE_MAX];
    if (fw_memread_is_direct() && fw_py_type_of(code) != fw_py_code_type) {
        return false; /* direct mode: the span may only be read from a code object */
    }
    if (!fw_memread(buf, code, fw_lay.co_fp_span)) {
        return false;
    }
    return fw_py_ld_ptr(buf, offsetof(PyObject, ob_type)) == fw_py_code_type &&
           fw_py_code_fingerprint_of(buf) == fingerprint;
}
#else
size_t fw_py_code_fingerprint_span(void) { return FW_PY_FP_SPAN; }

uint64_t fw_py_code_fingerprint_of(const void *buf) {
    /* Only the first FW_PY_FP_SPAN bytes of the struct are valid: copy them into a zeroed
     * struct so that no field is read uninitialised and the alignment is right. */
    PyCodeObject c;
    memset(&c, 0, sizeof c);
    memcpy(&c, buf, FW_PY_FP_SPAN);
    uint64_t h = fw_py_mix(0x666c616d65ull, (uint64_t)(uintptr_t)Py_TYPE((PyObject *)&c));
    h = fw_py_mix(h, (uint64_t)(uint32_t)c.co_firstlineno);
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.co_name);
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.co_filename);
#if PY_VERSION_HEX >= 0x030B0000
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.co_qualname);
#endif
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.FW_PY_LINETABLE_FIELD);
    return h;
}

bool fw_py_code_still_valid(uintptr_t code, uint64_t fingerprint) {
    _Alignas(PyCodeObject) unsigned char buf[FW_PY_FP_SPAN];
    if (fw_memread_is_direct() && fw_py_type_of(code) != fw_py_code_type) {
        return false; /* direct mode: the span may only be read from a code object */
    }
    if (!fw_memread(buf, code, sizeof buf)) {
        return false;
    }
    /* Type first: a fingerprint collision with a non-code object must not count as valid. */
    uintptr_t type;
    memcpy(&type, buf + offsetof(PyObject, ob_type), sizeof type);
    return type == fw_py_code_type && fw_py_code_fingerprint_of(buf) == fingerprint;
}
#endif

static bool fw_py_read_bytes(uintptr_t obj, uint8_t **out, size_t *len) {
    PyBytesObject b;
    *out = NULL;
    *len = 0;
    if (!fw_memread(&b, obj, offsetof(PyBytesObject, ob_sval))) {
        return false;
    }
    if ((uintptr_t)Py_TYPE((PyObject *)&b) != fw_py_bytes_type || Py_SIZE((PyObject *)&b) < 0 ||
        (size_t)Py_SIZE((PyObject *)&b) > FW_PY_LINETABLE_MAX) {
        return false;
    }
    size_t n = (size_t)Py_SIZE((PyObject *)&b);
    uint8_t *data = malloc(n + 1); /* +1: malloc(0) may return NULL */
    if (data == NULL) {
        return false;
    }
    if (!fw_memread(data, obj + offsetof(PyBytesObject, ob_sval), n)) {
        free(data);
        return false;
    }
    *out = data;
    *len = n;
    return true;
}

#if PY_VERSION_HEX < 0x030B0000
/* FW_PY_ARG_SELF/CLS if the first positional parameter is named self/cls. */
static int fw_py_first_arg_kind(const PyCodeObject *c) {
    if (c->co_argcount <= 0 || c->co_varnames == NULL) {
        return FW_PY_ARG_NONE;
    }
    PyTupleObject t;
    uintptr_t tuple = (uintptr_t)c->co_varnames;
    if (!fw_memread(&t, tuple, sizeof t) ||
        (uintptr_t)Py_TYPE((PyObject *)&t) != fw_py_tuple_type || Py_SIZE((PyObject *)&t) < 1) {
        return FW_PY_ARG_NONE;
    }
    char name[8];
    if (!fw_py_read_str((uintptr_t)t.ob_item[0], name, sizeof name)) {
        return FW_PY_ARG_NONE;
    }
    if (strcmp(name, "self") == 0) {
        return FW_PY_ARG_SELF;
    }
    if (strcmp(name, "cls") == 0) {
        return FW_PY_ARG_CLS;
    }
    return FW_PY_ARG_NONE;
}
#endif

bool fw_py_read_code(uintptr_t code, fw_py_code *out) {
    if (out == NULL) {
        return false;
    }
    memset(out, 0, sizeof *out);
#if PY_VERSION_HEX >= 0x030D0000
    /* The names, first line and line table at the offsets the interpreter publishes. */
    union {
        PyCodeObject c;
        _Alignas(16) unsigned char b[FW_PY_CODE_MAX];
    } u;
    if (!fw_memread_checked(u.b, code, fw_lay.co_size) ||
        fw_py_ld_ptr(u.b, offsetof(PyObject, ob_type)) != fw_py_code_type) {
        return false;
    }
    int32_t firstlineno;
    memcpy(&firstlineno, u.b + fw_lay.co_firstlineno, sizeof firstlineno);
    out->qualname = fw_py_dup_str(fw_py_ld_ptr(u.b, fw_lay.co_qualname));
    out->filename = fw_py_dup_str(fw_py_ld_ptr(u.b, fw_lay.co_filename));
    out->first_arg = FW_PY_ARG_NONE;
    out->firstlineno = firstlineno;
    if (u.c._co_firsttraceable < 0 || u.c._co_firsttraceable > INT32_MAX / 2) {
        fw_py_code_clear(out);
        return false;
    }
    out->first_traceable = u.c._co_firsttraceable * (int32_t)sizeof(_Py_CODEUNIT);
    if (out->qualname == NULL || out->filename == NULL ||
        !fw_py_read_bytes(fw_py_ld_ptr(u.b, fw_lay.co_linetable), &out->linetable,
                          &out->linetable_len)) {
        fw_py_code_clear(out);
        return false;
    }
    out->fingerprint = fw_py_code_fingerprint_of(u.b);
    return true;
#else
    PyCodeObject c;
    /* Checked: the object is read at a code object's size before its type is known. */
    if (!fw_memread_checked(&c, code, sizeof c)) {
        return false;
    }
    if ((uintptr_t)Py_TYPE((PyObject *)&c) != fw_py_code_type) {
        return false;
    }
#if PY_VERSION_HEX >= 0x030B0000
    out->qualname = fw_py_dup_str((uintptr_t)c.co_qualname);
    out->first_arg = FW_PY_ARG_NONE;
    if (c._co_firsttraceable < 0 || c._co_firsttraceable > INT32_MAX / 2) {
        fw_py_code_clear(out);
        return false;
    }
    out->first_traceable = c._co_firsttraceable * (int32_t)sizeof(_Py_CODEUNIT);
#else
    out->qualname = fw_py_dup_str((uintptr_t)c.co_name);
    out->first_arg = fw_py_first_arg_kind(&c);
    out->first_traceable = 0;
#endif
    out->filename = fw_py_dup_str((uintptr_t)c.co_filename);
    out->firstlineno = c.co_firstlineno;
    if (out->qualname == NULL || out->filename == NULL ||
        !fw_py_read_bytes((uintptr_t)c.FW_PY_LINETABLE_FIELD, &out->linetable,
                          &out->linetable_len)) {
        fw_py_code_clear(out);
        return false;
    }
    out->fingerprint = fw_py_code_fingerprint_of(&c);
    return true;
#endif
}

void fw_py_code_clear(fw_py_code *code) {
    if (code == NULL) {
        return;
    }
    free(code->qualname);
    free(code->filename);
    free(code->linetable);
    memset(code, 0, sizeof *code);
}

/* ---- line tables ---------------------------------------------------------------------- */

#if PY_VERSION_HEX >= 0x030B0000
/* PEP 657 location table. Each entry starts with a byte whose top bit is set:
 * bits 3-6 are the kind, bits 0-2 the number of code units covered minus one. The kind says
 * what follows: 0-9 "short" (same line, one column byte), 10-12 "one line" (line delta
 * kind-10, two column bytes), 13 "no column" (signed varint line delta), 14 "long" (signed
 * varint line delta, then end line, column and end column as varints), 15 "no location"
 * (the instructions have no line: co_lines() says None). Varints use 6-bit groups with bit 6
 * as the continuation flag, so that no byte after the first has the top bit set. */
static bool fw_py_varint(const uint8_t *t, size_t len, size_t *pos, uint32_t *out) {
    uint32_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (*pos >= len || shift > 30) {
            return false;
        }
        uint8_t b = t[(*pos)++];
        v |= (uint32_t)(b & 63) << shift;
        shift += 6;
        if ((b & 64) == 0) {
            break;
        }
    }
    *out = v;
    return true;
}

static bool fw_py_svarint(const uint8_t *t, size_t len, size_t *pos, int32_t *out) {
    uint32_t v;
    if (!fw_py_varint(t, len, pos, &v)) {
        return false;
    }
    *out = (v & 1) ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
    return true;
}

int fw_py_addr2line(const uint8_t *table, size_t len, int32_t firstlineno, int32_t instr_offset) {
    if (instr_offset < 0) {
        return firstlineno; /* not started yet: PyCode_Addr2Line answers the first line */
    }
    if (table == NULL) {
        return -1;
    }
    int64_t line = firstlineno;
    int64_t start = 0;
    size_t pos = 0;
    while (pos < len) {
        uint8_t head = table[pos++];
        if ((head & 128) == 0) {
            return -1; /* not at an entry boundary: corrupt table */
        }
        int kind = (head >> 3) & 15;
        int64_t end = start + (int64_t)((head & 7) + 1) * 2;
        int32_t delta = 0;
        bool has_line = true;
        uint32_t skip;
        switch (kind) {
        case 15:
            has_line = false;
            break;
        case 13:
            if (!fw_py_svarint(table, len, &pos, &delta)) {
                return -1;
            }
            break;
        case 14:
            if (!fw_py_svarint(table, len, &pos, &delta) ||
                !fw_py_varint(table, len, &pos, &skip) || !fw_py_varint(table, len, &pos, &skip) ||
                !fw_py_varint(table, len, &pos, &skip)) {
                return -1;
            }
            break;
        case 10:
        case 11:
        case 12:
            delta = kind - 10;
            pos += 2;
            break;
        default:
            pos += 1; /* short form: one column byte */
            break;
        }
        line += delta;
        if (instr_offset >= start && instr_offset < end) {
            return has_line && line >= INT32_MIN && line <= INT32_MAX ? (int)line : -1;
        }
        start = end;
    }
    return -1;
}
#elif PY_VERSION_HEX >= 0x030A0000
/* PEP 626 table (3.10): pairs (byte delta: unsigned, line delta: signed, -128 = no line).
 * Each pair covers [start, start + byte delta) with the running line; zero-length pairs only
 * move the line. */
int fw_py_addr2line(const uint8_t *table, size_t len, int32_t firstlineno, int32_t instr_offset) {
    if (instr_offset < 0) {
        return firstlineno;
    }
    if (table == NULL) {
        return -1;
    }
    int64_t line = firstlineno;
    int64_t start = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        int64_t end = start + table[i];
        int ldelta = (int)(int8_t)table[i + 1];
        int64_t here = -1;
        if (ldelta != -128) {
            line += ldelta;
            here = line;
        }
        if (instr_offset >= start && instr_offset < end) {
            return here >= INT32_MIN && here <= INT32_MAX ? (int)here : -1;
        }
        start = end;
    }
    return -1;
}
#else
/* co_lnotab (3.9): pairs (byte increment: unsigned, line increment: signed). The line of an
 * offset is the first line plus the line increments of every pair whose cumulative address is
 * at or before the offset: the last line start at or before it. */
int fw_py_addr2line(const uint8_t *table, size_t len, int32_t firstlineno, int32_t instr_offset) {
    int64_t line = firstlineno;
    int64_t addr = 0;
    if (table == NULL) {
        return firstlineno;
    }
    for (size_t i = 0; i + 1 < len; i += 2) {
        addr += table[i];
        if (addr > instr_offset) {
            break;
        }
        line += (int8_t)table[i + 1];
    }
    return line >= INT32_MIN && line <= INT32_MAX ? (int)line : -1;
}
#endif

int fw_py_code_unit(void) { return (int)sizeof(_Py_CODEUNIT); }
