/* test_qemu_img.c - qemu_img_info_parse() on recorded `qemu-img info
 * --backing-chain --output=json` outputs of qemu 7.2 and qemu 8's shape
 * (tests/worker/sd/qemu_img/README), and qemu_img_info() on a real chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "qemu_img.h"
#include "testutil.h"
#include "util.h"

struct qfx {
    char *dir;  /* holds top.qcow2, base.qcow2, r.img (empty: only their names matter) */
    char *real; /* its realpath, the confinement root */
};

static int qfx_setup(void **state) {
    struct qfx *f = xcalloc(1, sizeof *f);
    if (!getenv("VMSEAL_SOURCE_DIR") || testutil_dir_make("qemuimg", &f->dir) < 0)
        return -1;
    f->real = realpath(f->dir, NULL);
    static const char *const names[] = { "top.qcow2", "base.qcow2", "r.img" };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *p = xasprintf("%s/%s", f->real, names[i]);
        int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        free(p);
        if (fd < 0)
            return -1;
        close(fd);
    }
    *state = f;
    return 0;
}

static int qfx_teardown(void **state) {
    struct qfx *f = *state;
    testutil_dir_remove(f->dir);
    free(f->dir);
    free(f->real);
    free(f);
    return 0;
}

/* The fixture `name` with @DIR@ replaced by the test's folder. */
static char *fixture_load(const struct qfx *f, const char *name) {
    char *path = xasprintf("%s/tests/worker/sd/qemu_img/%s", getenv("VMSEAL_SOURCE_DIR"), name);
    char *raw = NULL;
    size_t len = 0;
    assert_int_equal(read_file_all(path, 1 << 20, &raw, &len), 0);
    free(path);
    char *out = xstrdup("");
    const char *p = raw;
    for (const char *at; (at = strstr(p, "@DIR@")); p = at + strlen("@DIR@")) {
        char *next = xasprintf("%s%.*s%s", out, (int)(at - p), p, f->real);
        free(out);
        out = next;
    }
    char *all = xasprintf("%s%s", out, p);
    free(out);
    free(raw);
    return all;
}

static void expect_info(const struct qfx *f, const char *json, const char *format, int64_t size) {
    struct qemu_img_info info = { 0 };
    char why[ERR_WHY_LEN] = "";
    int r = qemu_img_info_parse(json, f->real, &info, why);
    if (r != 0)
        fail_msg("parse: %s: %s", err_str(r), why);
    assert_string_equal(info.format, format);
    assert_int_equal(info.virtual_size, size);
}

static void expect_refused(const struct qfx *f, const char *json, int code, const char *why_part) {
    struct qemu_img_info info = { .virtual_size = 42 };
    char why[ERR_WHY_LEN] = "";
    assert_int_equal(qemu_img_info_parse(json, f->real, &info, why), code);
    if (!strstr(why, why_part))
        fail_msg("why \"%s\" lacks \"%s\"", why, why_part);
    assert_int_equal(info.virtual_size, 42); /* untouched */
}

static void test_qemu72_chain(void **state) {
    char *json = fixture_load(*state, "qemu7.2-chain.json");
    expect_info(*state, json, "qcow2", 67108864);
    free(json);
}

static void test_qemu72_raw(void **state) {
    char *json = fixture_load(*state, "qemu7.2-raw.json");
    expect_info(*state, json, "raw", 1048576);
    free(json);
}

/* The first "format" in the text is the protocol child's "file" and the
 * first "virtual-size" its 262144: the top node's own keys win. */
static void test_qemu8_children(void **state) {
    char *json = fixture_load(*state, "qemu8-chain.json");
    assert_true(strstr(json, "\"format\": \"file\"") < strstr(json, "\"format\": \"qcow2\""));
    expect_info(*state, json, "qcow2", 67108864);
    free(json);
}

static void test_qemu8_data_file_outside(void **state) {
    char *json = fixture_load(*state, "qemu8-data-file-outside.json");
    expect_refused(*state, json, -VMS_E_PATH_ESCAPE, "/etc/passwd");
    free(json);
}

/* Only a child node names the escaping file: children are walked too. */
static void test_qemu8_child_outside(void **state) {
    const struct qfx *f = *state;
    char *json = fixture_load(f, "qemu8-chain.json");
    char *top = xasprintf("\"%s/top.qcow2\"", f->real);
    char *at = strstr(json, top); /* the first is the child's */
    assert_non_null(at);
    char *bad = xasprintf("%.*s\"/etc/hostname\"%s", (int)(at - json), json, at + strlen(top));
    expect_refused(f, bad, -VMS_E_PATH_ESCAPE, "/etc/hostname");
    free(bad);
    free(top);
    free(json);
}

static void test_malformed(void **state) {
    const struct qfx *f = *state;
    static const struct {
        const char *json;
        int code;
        const char *why;
    } cases[] = {
        { "", -VMS_E_QEMU_IMG, "bad JSON" },
        { "[{\"format\": \"raw\", \"virtual-size\": 1} trailing", -VMS_E_QEMU_IMG, "bad JSON" },
        { "[]", -VMS_E_QEMU_IMG, "no virtual-size or format" },
        { "[{\"format\": \"raw\"}]", -VMS_E_QEMU_IMG, "no virtual-size or format" },
        { "[{\"format\": \"raw\", \"virtual-size\": \"1\"}]", -VMS_E_QEMU_IMG, "no virtual-size" },
        { "[{\"format\": \"raw\", \"virtual-size\": -1}]", -VMS_E_QEMU_IMG, "no virtual-size" },
        { "[{\"format\": \"a-format-name-too-long\", \"virtual-size\": 1}]", -VMS_E_QEMU_IMG,
          "no virtual-size or format" },
        { "[{\"format\": \"\", \"virtual-size\": 1}]", -VMS_E_QEMU_IMG, "no virtual-size or format" },
        { "[{\"format\": \"raw\", \"virtual-size\": 1, \"format\": \"qcow2\"}]", -VMS_E_QEMU_IMG, "duplicate" },
        { "[{\"format\": \"raw\", \"virtual-size\": 1, \"filename\": 7}]", -VMS_E_PATH_ESCAPE, "not a string" },
        { "[{\"format\": \"raw\", \"virtual-size\": 1, \"filename\": \"r.img\"}]", -VMS_E_PATH_ESCAPE, "r.img" },
        { "[{\"format\": \"raw\", \"virtual-size\": 1, \"filename\": \"json:{}\"}]", -VMS_E_PATH_ESCAPE, "json:" },
        { "[{\"format\": \"raw\", \"virtual-size\": 1}, {\"format\": \"raw\", \"virtual-size\": 1, "
          "\"full-backing-filename\": \"/etc/passwd\"}]",
          -VMS_E_PATH_ESCAPE, "/etc/passwd" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        print_message("case %zu: %s\n", i, cases[i].json);
        expect_refused(f, cases[i].json, cases[i].code, cases[i].why);
    }
    /* A file name escaped in JSON is decoded before the check. */
    char *escaped =
        xasprintf("[{\"format\": \"raw\", \"virtual-size\": 1, \"filename\": \"%s\\/r.img\"}]", f->real);
    expect_info(f, escaped, "raw", 1);
    free(escaped);
}

/* The real qemu-img of this machine, through the same parser. */
static void test_real_chain(void **state) {
    const struct qfx *f = *state;
    char *base = xasprintf("%s/real-base.qcow2", f->real);
    char *top = xasprintf("%s/real-top.qcow2", f->real);
    const char *mk_base[] = { "qemu-img", "create", "-q", "-f", "qcow2", base, "8M", NULL };
    const char *mk_top[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top, NULL };
    assert_int_equal(testutil_cmd_run(mk_base, 30000, NULL), 0);
    assert_int_equal(testutil_cmd_run(mk_top, 30000, NULL), 0);
    struct qemu_img_info info = { 0 };
    char why[ERR_WHY_LEN] = "";
    int r = qemu_img_info(top, "qcow2", f->real, &info, why);
    if (r != 0)
        fail_msg("qemu_img_info: %s: %s", err_str(r), why);
    assert_string_equal(info.format, "qcow2");
    assert_int_equal(info.virtual_size, 8 << 20);
    /* Confined to a folder that does not hold the base: refused. */
    char *sub = xasprintf("%s/sub", f->real);
    char *sub_top = xasprintf("%s/top.qcow2", sub);
    const char *mk_sub[] = { "mkdir", sub, NULL };
    const char *mk_sub_top[] = { "qemu-img", "create", "-q",    "-f",    "qcow2", "-b",
                                 base,       "-F",     "qcow2", sub_top, NULL };
    assert_int_equal(testutil_cmd_run(mk_sub, 30000, NULL), 0);
    assert_int_equal(testutil_cmd_run(mk_sub_top, 30000, NULL), 0);
    assert_int_equal(qemu_img_info(sub_top, "qcow2", sub, &info, why), -VMS_E_PATH_ESCAPE);
    assert_non_null(strstr(why, "real-base.qcow2"));
    free(sub_top);
    free(sub);
    free(top);
    free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_qemu72_chain, qfx_setup, qfx_teardown),
        cmocka_unit_test_setup_teardown(test_qemu72_raw, qfx_setup, qfx_teardown),
        cmocka_unit_test_setup_teardown(test_qemu8_children, qfx_setup, qfx_teardown),
        cmocka_unit_test_setup_teardown(test_qemu8_data_file_outside, qfx_setup, qfx_teardown),
        cmocka_unit_test_setup_teardown(test_qemu8_child_outside, qfx_setup, qfx_teardown),
        cmocka_unit_test_setup_teardown(test_malformed, qfx_setup, qfx_teardown),
        cmocka_unit_test_setup_teardown(test_real_chain, qfx_setup, qfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
