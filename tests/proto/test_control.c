/* test_control.c - the job.cancel message of vmseal.control
 * (proto/control.h): golden bytes, round trip, refusals.  Label: unit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control.h"
#include "err.h"
#include "util.h"

#define JOB "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
#define TPL "11111111-2222-4333-8444-555555555555"

/* {"v":1,"type":"job.cancel","job_id":JOB,"template_id":TPL}, keys in
 * the encoder's fixed order. */
static const char golden[] = "\x84"
                             "\xa1"
                             "v"
                             "\x01"
                             "\xa4"
                             "type"
                             "\xaa"
                             "job.cancel"
                             "\xa6"
                             "job_id"
                             "\xd9\x24" JOB "\xab"
                             "template_id"
                             "\xd9\x24" TPL;

static void test_golden(void **state) {
    struct proto_job_cancel m = { .job_id = JOB, .template_id = TPL }, d;
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(proto_encode_job_cancel(&m, &buf, &len), 0);
    assert_int_equal(len, sizeof(golden) - 1);
    assert_memory_equal(buf, golden, len);
    assert_int_equal(proto_decode_job_cancel(buf, len, &d, NULL), 0);
    assert_string_equal(d.job_id, JOB);
    assert_string_equal(d.template_id, TPL);
    free(buf);
}

static void test_refusals(void **state) {
    struct proto_job_cancel m = { .job_id = "not-a-uuid", .template_id = TPL }, d;
    char *buf = NULL, why[ERR_WHY_LEN];
    size_t len;
    assert_int_equal(proto_encode_job_cancel(&m, &buf, &len), -VMS_E_BAD_UUID);

    /* trailing byte */
    char t[sizeof(golden)];
    memcpy(t, golden, sizeof(golden) - 1);
    t[sizeof(golden) - 1] = '\x00';
    assert_int_equal(proto_decode_job_cancel(t, sizeof(golden), &d, why), -VMS_E_MSG_TRAILING);
    /* truncated */
    assert_true(proto_decode_job_cancel(golden, sizeof(golden) - 2, &d, why) < 0);
    /* another version */
    memcpy(t, golden, sizeof(golden) - 1);
    t[3] = '\x02';
    assert_int_equal(proto_decode_job_cancel(t, sizeof(golden) - 1, &d, why), -VMS_E_MSG_VERSION);
    /* another type ("job.cancel" -> "job.cancex") */
    memcpy(t, golden, sizeof(golden) - 1);
    t[19] = 'x';
    assert_int_equal(proto_decode_job_cancel(t, sizeof(golden) - 1, &d, why), -VMS_E_MSG_BAD_VALUE);
    assert_non_null(strstr(why, "type"));
    /* an uppercase uuid */
    memcpy(t, golden, sizeof(golden) - 1);
    char *p = memmem(t, sizeof(golden) - 1, "0f1e", 4);
    p[1] = 'F';
    assert_int_equal(proto_decode_job_cancel(t, sizeof(golden) - 1, &d, why), -VMS_E_BAD_UUID);
    assert_non_null(strstr(why, "job_id"));
    /* template_id missing: a map of 3 without the last pair */
    size_t cut = sizeof(golden) - 1 - (1 + 11 + 2 + 36);
    memcpy(t, golden, cut);
    t[0] = '\x83';
    assert_int_equal(proto_decode_job_cancel(t, cut, &d, why), -VMS_E_MSG_MISSING_KEY);
    assert_non_null(strstr(why, "template_id"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
