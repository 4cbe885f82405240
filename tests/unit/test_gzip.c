/*
 * Unit tests for common/fw_gzip.c: round trips, the decompression cap (gzip bombs),
 * truncated and corrupt input, concatenated members, and buffer hygiene on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fw_gunzip.h"

static void test_round_trip(void **state)
{
    (void)state;
    size_t n = 300000;
    uint8_t *data = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(i % 3 ? x >> 24 : 'a');   /* partly compressible */
    }
    for (int level = -1; level <= 9; level += 5) {
        fw_buf gz = {0}, out = {0};
        assert_int_equal(fw_gzip_compress(data, n, level, &gz), FW_GZIP_OK);
        assert_true(fw_gzip_is_gzip(gz.data, gz.len));
        assert_int_equal(fw_gunzip(gz.data, gz.len, n, &out), FW_GZIP_OK);
        assert_int_equal(out.len, n);
        assert_memory_equal(out.data, data, n);
        fw_buf_free(&gz);
        fw_buf_free(&out);
    }
    fw_buf gz = {0}, out = {0};
    assert_int_equal(fw_gzip_compress(NULL, 0, 6, &gz), FW_GZIP_OK);
    assert_int_equal(fw_gunzip(gz.data, gz.len, 0, &out), FW_GZIP_OK);
    assert_int_equal(out.len, 0);
    assert_int_equal(fw_gzip_compress(data, 10, 10, &gz), FW_GZIP_CORRUPT);  /* bad level */
    fw_buf_free(&gz);
    fw_buf_free(&out);
    free(data);
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    size_t n = 10u << 20;
    uint8_t *zeros = calloc(1, n);
    fw_buf gz = {0}, out = {0};
    assert_int_equal(fw_gzip_compress(zeros, n, 9, &gz), FW_GZIP_OK);
    assert_true(gz.len < 64 * 1024);
    assert_int_equal(fw_gunzip(gz.data, gz.len, 1u << 20, &out), FW_GZIP_TOO_LARGE);
    assert_int_equal(out.len, 0);
    /* The cap bounds memory too: far less than the 10 MB the stream expands to. */
    assert_true(out.cap <= (2u << 20));
    fw_buf_free(&out);
    assert_int_equal(fw_gunzip(gz.data, gz.len, n - 1, &out), FW_GZIP_TOO_LARGE);
    fw_buf_free(&out);
    assert_int_equal(fw_gunzip(gz.data, gz.len, n, &out), FW_GZIP_OK);
    assert_int_equal(out.len, n);
    fw_buf_free(&out);
    fw_buf_free(&gz);
    free(zeros);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    const char *text = "the quick brown fox jumps over the lazy dog, again and again and again";
    fw_buf gz = {0}, out = {0};
    assert_int_equal(fw_gzip_compress((const uint8_t *)text, strlen(text), 6, &gz), FW_GZIP_OK);
    for (size_t cut = 0; cut < gz.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, gz.data, cut);
        assert_int_equal(fw_gunzip(copy, cut, 1 << 20, &out), FW_GZIP_CORRUPT);
        assert_int_equal(out.len, 0);
        free(copy);
    }
    /* A wrong CRC (trailer) or a damaged body is caught. */
    for (size_t i = 10; i < gz.len; i++) {
        uint8_t *copy = malloc(gz.len);
        memcpy(copy, gz.data, gz.len);
        copy[i] ^= 0x55;
        fw_gzip_status st = fw_gunzip(copy, gz.len, 1 << 20, &out);
        assert_true(st == FW_GZIP_CORRUPT || st == FW_GZIP_TOO_LARGE);
        assert_int_equal(out.len, 0);
        free(copy);
    }
    assert_int_equal(fw_gunzip((const uint8_t *)"plain", 5, 100, &out), FW_GZIP_CORRUPT);
    assert_false(fw_gzip_is_gzip((const uint8_t *)"\x1f", 1));
    assert_false(fw_gzip_is_gzip(NULL, 0));
    fw_buf_free(&gz);
    fw_buf_free(&out);
}

static void test_members_and_trailing_data(void **state)
{
    (void)state;
    fw_buf a = {0}, out = {0};
    assert_int_equal(fw_gzip_compress((const uint8_t *)"hello ", 6, 6, &a), FW_GZIP_OK);
    assert_int_equal(fw_gzip_compress((const uint8_t *)"world", 5, 1, &a), FW_GZIP_OK);
    assert_int_equal(fw_gunzip(a.data, a.len, 100, &out), FW_GZIP_OK);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "hello world", 11);
    /* The cap counts all members together. */
    out.len = 0;
    assert_int_equal(fw_gunzip(a.data, a.len, 10, &out), FW_GZIP_TOO_LARGE);
    assert_int_equal(fw_buf_append(&a, "junk", 4), 0);
    assert_int_equal(fw_gunzip(a.data, a.len, 100, &out), FW_GZIP_CORRUPT);
    fw_buf_free(&a);
    fw_buf_free(&out);
}

static void test_appends_and_restores(void **state)
{
    (void)state;
    fw_buf gz = {0}, out = {0};
    assert_int_equal(fw_buf_append(&gz, "PRE", 3), 0);
    assert_int_equal(fw_gzip_compress((const uint8_t *)"abc", 3, 6, &gz), FW_GZIP_OK);
    assert_memory_equal(gz.data, "PRE", 3);
    assert_int_equal(fw_buf_append(&out, "xyz", 3), 0);
    assert_int_equal(fw_gunzip(gz.data + 3, gz.len - 3, 10, &out), FW_GZIP_OK);
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "xyzabc", 6);
    assert_int_equal(fw_gunzip(gz.data + 3, gz.len - 4, 10, &out), FW_GZIP_CORRUPT);
    assert_int_equal(out.len, 6);
    assert_int_equal(fw_gunzip(gz.data + 3, gz.len - 3, 2, &out), FW_GZIP_TOO_LARGE);
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "xyzabc", 6);
    fw_buf_free(&gz);
    fw_buf_free(&out);
}

static void test_strerror(void **state)
{
    (void)state;
    const fw_gzip_status all[] = {FW_GZIP_OK, FW_GZIP_NOMEM, FW_GZIP_CORRUPT, FW_GZIP_TOO_LARGE};
    for (size_t i = 0; i < 4; i++)
        assert_true(strlen(fw_gzip_strerror(all[i])) > 0);
    assert_string_not_equal(fw_gzip_strerror(FW_GZIP_CORRUPT), fw_gzip_strerror(FW_GZIP_TOO_LARGE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_members_and_trailing_data),
        cmocka_unit_test(test_appends_and_restores),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
