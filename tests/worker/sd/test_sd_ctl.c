/* test_sd_ctl.c - the vmsealctl binary: sd create / import / list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sd.h"
#include "testutil.h"
#include "util.h"

#define SD_ID "5d000000-0000-4000-8000-0000000000c1"

struct ctl_fx {
    char *dir, *ctl, *sd_path;
};

static int ctl_setup(void **state) {
    if (!getenv("VMSEAL_BUILD_DIR")) {
        fprintf(stderr, "VMSEAL_BUILD_DIR not set: run through ctest\n");
        return -1;
    }
    struct ctl_fx *f = xcalloc(1, sizeof *f);
    if (testutil_dir_make("sdctl", &f->dir) < 0)
        return -1;
    f->ctl = testutil_build_path("bin/vmsealctl");
    f->sd_path = xasprintf("%s/sd", f->dir);
    *state = f;
    return 0;
}

static int ctl_teardown(void **state) {
    struct ctl_fx *f = *state;
    testutil_dir_remove(f->dir);
    free(f->dir);
    free(f->ctl);
    free(f->sd_path);
    free(f);
    return 0;
}

/* Run vmsealctl with args; returns the exit status, output in *out. */
static int ctl(const struct ctl_fx *f, char **out, const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5, const char *a6, const char *a7) {
    const char *argv[] = { f->ctl, a1, a2, a3, a4, a5, a6, a7, NULL };
    char *o = NULL;
    int r = testutil_cmd_run(argv, 60000, &o);
    if (out)
        *out = o;
    else
        free(o);
    return r;
}

/* The value of "key":"<36 chars>" in a JSON text, into out. */
static void json_uuid(const char *json, const char *key, char out[37]) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        fail_msg("no %s in %s", key, json);
    memcpy(out, p + strlen(pat), 36);
    out[36] = '\0';
    assert_true(uuid_is_canonical(out));
}

static void test_ctl_sd(void **state) {
    struct ctl_fx *f = *state;
    char *out = NULL;
    /* create, idempotently; another id on the same path is refused */
    assert_int_equal(ctl(f, &out, "sd", "create", "--id", SD_ID, f->sd_path, NULL, NULL), 0);
    free(out);
    assert_int_equal(ctl(f, NULL, "sd", "create", "--id", SD_ID, f->sd_path, NULL, NULL), 0);
    assert_int_equal(
        ctl(f, &out, "sd", "create", "--id", "5d000000-0000-4000-8000-0000000000c2", f->sd_path, NULL, NULL), 1);
    assert_non_null(strstr(out, "conflict"));
    free(out);
    assert_int_equal(ctl(f, &out, "sd", "create", "--id", "../../etc", f->sd_path, NULL, NULL), 1);
    free(out);
    proto_uuid id;
    assert_int_equal(sd_read_id(f->sd_path, id, NULL), 0);
    assert_string_equal(id, SD_ID);

    /* import a qcow2 (as qcow2) and a raw file (as raw) */
    char *src = xasprintf("%s/src.qcow2", f->dir);
    const char *mk[] = { "qemu-img", "create", "-q", "-f", "qcow2", src, "3M", NULL };
    assert_int_equal(testutil_cmd_run(mk, 60000, NULL), 0);
    assert_int_equal(ctl(f, &out, "sd", "import", "--sd", f->sd_path, src, "--json", NULL), 0);
    char img1[37], vol1[37];
    json_uuid(out, "img_id", img1);
    json_uuid(out, "vol_id", vol1);
    free(out);
    assert_int_equal(ctl(f, &out, "sd", "import", "--sd", f->sd_path, "--format", "raw", src), 0);
    assert_non_null(strstr(out, "vol_id="));
    free(out);
    assert_int_equal(ctl(f, &out, "sd", "import", "--sd", f->sd_path, "--format", "vmdk", src), 2);
    free(out);
    assert_int_equal(ctl(f, &out, "sd", "import", "--sd", f->dir, src, NULL, NULL), 1);
    free(out);

    /* list: both volumes with their flags, GEN and CAP */
    assert_int_equal(ctl(f, &out, "sd", "list", f->sd_path, "--json", NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, "\"sd_id\":\"" SD_ID "\""));
    assert_non_null(strstr(out, img1));
    assert_non_null(strstr(out, vol1));
    assert_non_null(strstr(out, "\"format\":\"COW\""));
    assert_non_null(strstr(out, "\"format\":\"RAW\""));
    assert_non_null(strstr(out, "\"voltype\":\"LEAF\""));
    assert_non_null(strstr(out, "\"legality\":\"LEGAL\""));
    assert_non_null(strstr(out, "\"generation\":0"));
    assert_non_null(strstr(out, "\"cap\":3145728"));
    free(out);
    assert_int_equal(ctl(f, &out, "sd", "list", f->sd_path, NULL, NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, vol1));
    assert_non_null(strstr(out, "LEAF"));
    free(out);

    /* usage errors */
    assert_int_equal(ctl(f, NULL, "sd", NULL, NULL, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(ctl(f, NULL, "sd", "frobnicate", NULL, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(ctl(f, NULL, "sd", "create", f->sd_path, NULL, NULL, NULL, NULL), 2);
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ctl_sd, ctl_setup, ctl_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
