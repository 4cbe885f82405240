/*
 * Unit tests of the ClickHouse backend's pure parts (no server needed): the RowBinary encoder,
 * the TabSeparated reader, string quoting, URL parsing, error lines and their statuses, the
 * console's SELECT check, the persisted content hash; the transport's "unreachable" error against
 * a loopback port nobody listens on; and the tree's content-based tie order, which is what lets
 * two backends with different stack ids draw the same flame graph (checked on SQLite, whose ids
 * follow arrival order).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../store/clickhouse/fw_ch.h"
#include "../../store/sqlite/fw_store_sqlite.h"

static void test_rowbinary(void **state)
{
    (void)state;
    fw_ch_buf b = {0};
    fw_ch_rb_u8(&b, 7);
    fw_ch_rb_i32(&b, -2);
    fw_ch_rb_u64(&b, 0x0102030405060708ull);
    fw_ch_rb_i64(&b, -1);
    fw_ch_rb_varuint(&b, 300);        /* LEB128: 0xac 0x02 */
    fw_ch_rb_str(&b, "ab", 2);
    fw_ch_rb_str(&b, "", 0);
    static const unsigned char want[] = {
        7, 0xfe, 0xff, 0xff, 0xff, 8, 7, 6, 5, 4, 3, 2, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xac, 0x02, 2, 'a', 'b', 0};
    assert_int_equal(fw_ch_buf_failed(&b), 0);
    assert_int_equal(b.n, sizeof want);
    assert_memory_equal(b.p, want, sizeof want);
    /* A string longer than 127 bytes takes a two-byte length. */
    fw_ch_buf_reset(&b);
    char big[200];
    memset(big, 'x', sizeof big);
    fw_ch_rb_str(&b, big, sizeof big);
    assert_int_equal(b.n, 2 + sizeof big);
    assert_int_equal((unsigned char)b.p[0], 0xc8);
    assert_int_equal((unsigned char)b.p[1], 0x01);
    fw_ch_buf_free(&b);
}

static void test_tsv_reader(void **state)
{
    (void)state;
    char body[] = "a\\tb\t12\t[1,-2,3]\n\\\\x\\n\t-5\t[]\nlast\t\t[9]";
    fw_ch_tsv t = {body, body + strlen(body)};
    char *f[3];
    size_t len[3];
    assert_int_equal(fw_ch_tsv_row(&t, f, len, 3), 3);
    assert_string_equal(f[0], "a\tb");
    assert_int_equal(len[0], 3);
    int64_t v;
    assert_int_equal(fw_ch_parse_i64(f[1], &v), 0);
    assert_int_equal(v, 12);
    int64_t arr[4];
    size_t n;
    assert_int_equal(fw_ch_parse_array(f[2], 1, arr, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(arr[1], -2);
    assert_int_equal(fw_ch_tsv_row(&t, f, len, 3), 3);
    assert_string_equal(f[0], "\\x\n");
    assert_int_equal(fw_ch_parse_array(f[2], 1, arr, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(fw_ch_tsv_row(&t, f, len, 3), 3);   /* last line without a newline */
    assert_string_equal(f[1], "");
    assert_int_equal(fw_ch_tsv_row(&t, f, len, 3), 0);
    /* Too many fields, bad numbers, bad arrays. */
    char wide[] = "1\t2\t3\t4\n";
    t = (fw_ch_tsv){wide, wide + strlen(wide)};
    assert_int_equal(fw_ch_tsv_row(&t, f, len, 3), -1);
    uint64_t u;
    assert_int_equal(fw_ch_parse_u64("18446744073709551615", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(fw_ch_parse_u64("-1", &u), -1);
    assert_int_equal(fw_ch_parse_i64("12x", &v), -1);
    assert_int_equal(fw_ch_parse_i64("", &v), -1);
    assert_int_equal(fw_ch_parse_array("[1,2", 1, arr, 4, &n), -1);
    assert_int_equal(fw_ch_parse_array("[1,2,3,4,5]", 1, arr, 4, &n), -1);   /* over max */
    assert_int_equal(fw_ch_parse_array("[-1]", 0, arr, 4, &n), -1);          /* unsigned */
    assert_int_equal(fw_ch_parse_array("1,2", 1, arr, 4, &n), -1);
}

static void test_quote(void **state)
{
    (void)state;
    fw_ch_buf b = {0};
    fw_ch_quote(&b, "it's a \\ test\n\t\x01");
    char *s = fw_ch_buf_take(&b);
    assert_string_equal(s, "'it\\'s a \\\\ test\\n\\t\\x01'");
    free(s);
    fw_ch_printf(&b, "%s-%d-%s", "x", 42, "a long argument that does not fit in the first try of the "
                 "formatter because it is well over two hundred and fifty six bytes long, which is the "
                 "size of the stack buffer the printf helper tries first before it grows the buffer and "
                 "formats a second time straight into it");
    s = fw_ch_buf_take(&b);
    assert_true(strncmp(s, "x-42-a long", 11) == 0);
    assert_true(strlen(s) > 256);
    free(s);
}

static void test_url(void **state)
{
    (void)state;
    fw_ch_url u;
    char err[256];
    assert_int_equal(fw_ch_url_parse("clickhouse://h.example-1:9000/fw_db?cluster=two_shards", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "h.example-1");
    assert_int_equal(u.port, 9000);
    assert_string_equal(u.db, "fw_db");
    assert_string_equal(u.cluster, "two_shards");
    assert_string_equal(u.user, "");
    assert_int_equal(fw_ch_url_parse("clickhouse://bob:s3cret@127.0.0.1/fw", &u, err, sizeof err), 0);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "s3cret");
    assert_int_equal(u.port, 8123);
    assert_string_equal(u.cluster, "");
    static const char *const bad[] = {
        "clickhouse://h", "clickhouse:///db", "clickhouse://h:x/db", "clickhouse://h:70000/db",
        "clickhouse://h/1db", "clickhouse://h/db?cluster=", "clickhouse://h/db?cluster=a b",
        "clickhouse://h/db?x=1", "clickhouse://h y/db", "clickhouse://:p@h/db", "sqlite://x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (fw_ch_url_parse(bad[i], &u, err, sizeof err) != -1)
            fail_msg("URL %s was accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
}

static void test_error_lines(void **state)
{
    (void)state;
    char out[256];
    int code;
    const char *old = "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1: SELEC 1."
                      " Expected one of: X, e.what() = DB::Exception\n";
    fw_ch_error_line(old, strlen(old), &code, out, sizeof out);
    assert_int_equal(code, 62);
    assert_string_equal(out, "ClickHouse: Syntax error: failed at position 1: SELEC 1. Expected one of: X");
    const char *cur = "Code: 159. DB::Exception: Timeout exceeded: elapsed 1.0 seconds, maximum: 1. (TIMEOUT_EXCEEDED)"
                      " (version 23.8.1.1)\n";
    fw_ch_error_line(cur, strlen(cur), &code, out, sizeof out);
    assert_int_equal(code, 159);
    assert_string_equal(out, "ClickHouse: Timeout exceeded: elapsed 1.0 seconds, maximum: 1. (TIMEOUT_EXCEEDED)");
    fw_ch_error_line("", 0, &code, out, sizeof out);
    assert_int_equal(code, 0);
    assert_string_equal(out, "ClickHouse error (code 0)");
    assert_int_equal(fw_ch_code_status(159), FW_STORE_ERR_TIMEOUT);
    assert_int_equal(fw_ch_code_status(396), FW_STORE_ERR_TOOBIG);
    assert_int_equal(fw_ch_code_status(164), FW_STORE_ERR_DENIED);
    assert_int_equal(fw_ch_code_status(62), FW_STORE_ERR_INVALID);
    assert_int_equal(fw_ch_code_status(60), FW_STORE_ERR_INVALID);
    assert_int_equal(fw_ch_code_status(202), FW_STORE_ERR_BUSY);
    assert_int_equal(fw_ch_code_status(999999), FW_STORE_ERR_IO);
}

static void test_select_check(void **state)
{
    (void)state;
    assert_int_equal(fw_ch_sql_is_select("SELEC 1"), -1);      /* ClickHouse's syntax error answers */
    assert_int_equal(fw_ch_sql_is_select("SELECT 1"), 1);
    assert_int_equal(fw_ch_sql_is_select("SHOW TABLES"), 0);
    assert_int_equal(fw_ch_sql_is_select("optimize table samples"), 0);
    assert_int_equal(1, fw_ch_sql_is_select("  -- note\n /* c */ select 1;  -- end"));
    assert_int_equal(1, fw_ch_sql_is_select("WITH 1 AS x SELECT x"));
    assert_int_equal(1, fw_ch_sql_is_select("SELECT ';' AS a, 'x\\';' AS b"));
    assert_int_equal(0, fw_ch_sql_is_select("SELECT 1; DROP TABLE samples"));
    assert_int_equal(0, fw_ch_sql_is_select("INSERT INTO samples SELECT * FROM samples"));
    assert_int_equal(0, fw_ch_sql_is_select("DROP TABLE samples"));
    assert_int_equal(0, fw_ch_sql_is_select("SET readonly = 0"));
    assert_int_equal(0, fw_ch_sql_is_select("/* SELECT */ ALTER TABLE samples DROP PARTITION 1"));
    assert_int_equal(fw_ch_sql_is_select(""), -1);
}

static void test_hash_is_stable(void **state)
{
    (void)state;
    /* Ids in every ClickHouse store are this hash: a change would split old and new data. */
    assert_true(fw_ch_hash("", 0, 0) != 0);   /* 0 is never an id */
    uint64_t a = fw_ch_hash("main\0app.py", 11, 0x66756e63ull);
    assert_true(a == fw_ch_hash("main\0app.py", 11, 0x66756e63ull));
    assert_true(a != fw_ch_hash("main\0app.pz", 11, 0x66756e63ull));
    assert_true(a != fw_ch_hash("main\0app.py", 11, 0x66756e64ull));
    char golden[32];
    snprintf(golden, sizeof golden, "%016llx", (unsigned long long)fw_ch_hash("flamewatch", 10, 0));
    assert_string_equal(golden, "aa46338a47deb5df");
}

static void test_unreachable(void **state)
{
    (void)state;
    /* A loopback port that was free a moment ago: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    int port = ntohs(sa.sin_port);
    close(fd);
    char url[128], err[256] = "", want[64];
    snprintf(url, sizeof url, "clickhouse://127.0.0.1:%d/fw", port);
    snprintf(want, sizeof want, "ClickHouse unreachable at 127.0.0.1:%d", port);
    fw_store *s = NULL;
    assert_int_equal(fw_store_open(url, NULL, &s, err, sizeof err), FW_STORE_ERR_IO);
    assert_null(s);
    if (!strstr(err, want))
        fail_msg("error '%s' does not say '%s'", err, want);
}

/* Two sibling functions of equal weight: the graph lists them by name whatever their ids. */
static void test_tree_ties_by_content(void **state)
{
    (void)state;
    char dir[] = "/tmp/fw_ch_ties_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/fw.db", dir);
    fw_store *s = NULL;
    assert_int_equal(fw_store_open_sqlite(path, NULL, &s, err, sizeof err), FW_STORE_OK);
    fw_sample_type ty[] = {{"cpu", "nanoseconds"}};
    /* zeta arrives first (smaller stack id), alpha second, same value. */
    static const char *const order[] = {"zeta", "alpha"};
    for (int k = 0; k < 2; k++) {
        fw_profile *p = fw_profile_new(ty, 1);
        uint64_t f0, f1, l0, l1;
        assert_int_equal(fw_profile_function(p, "main", "a.py", 1, &f0), FW_OK);
        assert_int_equal(fw_profile_function(p, order[k], "a.py", 1, &f1), FW_OK);
        assert_int_equal(fw_profile_location(p, f0, 1, &l0), FW_OK);
        assert_int_equal(fw_profile_location(p, f1, 2, &l1), FW_OK);
        uint64_t locs[] = {l1, l0};
        int64_t v[] = {50};
        assert_int_equal(fw_profile_add(p, locs, 2, NULL, 0, v), FW_OK);
        fw_store_ingest_req req = {"ties", p, 1700000000 + 10 * k, NULL, 0, 0};
        assert_int_equal(fw_store_ingest(s, &req, NULL, err, sizeof err), FW_STORE_OK);
        fw_profile_free(p);
    }
    fw_store_query q = {"ties", "cpu", 1700000000, 1700000100, NULL, 0};
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nnodes, 4);
    assert_string_equal(t.nodes[1].name, "main");
    assert_string_equal(t.nodes[2].name, "alpha");
    assert_string_equal(t.nodes[3].name, "zeta");
    fw_store_tree_free(&t);
    /* With a cut at 3 nodes (root, main, other) neither is kept; at 4 both. With a budget that
     * keeps one of two equal children, the one first by name is kept. */
    fw_store_tree_opts o = {FW_STORE_GRAN_FUNCTION, 4};
    assert_int_equal(fw_store_tree_query(s, &q, &o, &t), FW_STORE_OK);
    assert_string_equal(t.nodes[2].name, "alpha");
    fw_store_tree_free(&t);
    fw_store_close(s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rowbinary),
        cmocka_unit_test(test_tsv_reader),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_error_lines),
        cmocka_unit_test(test_select_check),
        cmocka_unit_test(test_hash_is_stable),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_tree_ties_by_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
