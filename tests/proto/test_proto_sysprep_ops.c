/* test_proto_sysprep_ops.c - the sysprep operation vocabulary of wire v1
 * (proto/sysprep_ops.h): every name found, unknown names and names both
 * enabled and disabled refused with the name in the reason, and the worker's
 * operations table (worker/seal_ops.c) the same list in the same order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proto.h"
#include "seal.h"
#include "sysprep_ops.h"

static void must_contain(const char *text, const char *needle) {
    if (!strstr(text, needle))
        fail_msg("\"%s\" does not contain \"%s\"", text, needle);
}

static void test_every_name_found(void **state) {
    (void)state;
    assert_true(PROTO_SYSPREP_N_OPS > 40);
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++) {
        const struct proto_sysprep_op *op = proto_sysprep_op_get(i);
        assert_non_null(op);
        assert_int_equal(proto_sysprep_op_find(op->name), (int)i);
        /* what the wire decoder accepts as a name: 1..64 of [a-z0-9-] */
        assert_true(strlen(op->name) >= 1 && strlen(op->name) <= 64);
        assert_int_equal(strspn(op->name, "abcdefghijklmnopqrstuvwxyz0123456789-"), strlen(op->name));
        assert_true(op->description && op->description[0]);
    }
    assert_null(proto_sysprep_op_get(PROTO_SYSPREP_N_OPS));
    assert_int_equal(proto_sysprep_op_find("ssh-hostkeys"), PROTO_SYSPREP_OP_SSH_HOSTKEYS);
    assert_int_equal(proto_sysprep_op_find("machine-id"), PROTO_SYSPREP_OP_MACHINE_ID);
    assert_false(proto_sysprep_op_get(PROTO_SYSPREP_OP_FIREWALL_RULES)->default_on);
}

static void test_unknown_names(void **state) {
    (void)state;
    assert_int_equal(proto_sysprep_op_find("ssh-hostkey"), -VMS_E_UNKNOWN_OP);
    assert_int_equal(proto_sysprep_op_find(""), -VMS_E_UNKNOWN_OP);
    assert_int_equal(proto_sysprep_op_find(NULL), -VMS_E_UNKNOWN_OP);
    assert_int_equal(proto_sysprep_op_find("SSH-HOSTKEYS"), -VMS_E_UNKNOWN_OP);

    char why[ERR_WHY_LEN];
    char *enable[] = { "logfiles", "ssh-hostkey" }, *disable[] = { "tmp-files", "format-disk" };
    struct proto_sysprep s = { .enable = enable, .n_enable = 2, .selinux_relabel = true };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(
        why, "sysprep.enable[1]: unknown sysprep operation 'ssh-hostkey' (did you mean 'ssh-hostkeys'?)");

    s = (struct proto_sysprep){ .disable = disable, .n_disable = 2 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "sysprep.disable[1]: unknown sysprep operation 'format-disk'"); /* no near name */

    /* the first problem wins: enable before disable */
    s = (struct proto_sysprep){ .enable = enable, .n_enable = 2, .disable = disable, .n_disable = 2 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_UNKNOWN_OP);
    must_contain(why, "'ssh-hostkey'");

    /* short buffers are truncated, NULL is allowed */
    char small[12];
    assert_int_equal(proto_sysprep_check(&s, small, sizeof small), -VMS_E_UNKNOWN_OP);
    assert_string_equal(small, "sysprep.ena");
    assert_int_equal(proto_sysprep_check(&s, NULL, 0), -VMS_E_UNKNOWN_OP);
}

static void test_enabled_and_disabled(void **state) {
    (void)state;
    char why[ERR_WHY_LEN];
    char *enable[] = { "logfiles", "firewall-rules" }, *disable[] = { "tmp-files", "logfiles" };
    struct proto_sysprep s = { .enable = enable, .n_enable = 2, .disable = disable, .n_disable = 2 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_MSG_BAD_VALUE);
    assert_string_equal(why, "sysprep.disable[1]: \"logfiles\" is also in enable");
}

static void test_valid_sets(void **state) {
    (void)state;
    char why[ERR_WHY_LEN] = "stale";
    assert_int_equal(proto_sysprep_check(NULL, why, sizeof why), 0);
    assert_string_equal(why, "");
    struct proto_sysprep none = { .selinux_relabel = true };
    assert_int_equal(proto_sysprep_check(&none, why, sizeof why), 0);
    char *enable[] = { "firewall-rules", "kerberos-data" }, *disable[] = { "tmp-files", "machine-id" };
    struct proto_sysprep s = { .enable = enable, .n_enable = 2, .disable = disable, .n_disable = 2 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), 0);
    assert_string_equal(why, "");
}

/* The decoders stay open: a name this build does not know still decodes
 * (adding an operation is a compatible change); the check is at intake. */
static void test_decoder_accepts_unknown_names(void **state) {
    (void)state;
    char *enable[] = { "op-from-the-future" };
    struct proto_vol_ref disk = { "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a", "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
                                  "3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e" };
    struct proto_template_create m = { .template_id = "0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6f",
                                       .name = "t",
                                       .disks = &disk,
                                       .n_disks = 1,
                                       .seal = true,
                                       .has_sysprep = true,
                                       .sysprep = { .enable = enable, .n_enable = 1, .selinux_relabel = true } };
    char *buf;
    size_t len;
    assert_int_equal(proto_encode_template_create(&m, &buf, &len), 0);
    struct proto_template_create back;
    assert_int_equal(proto_decode_template_create(buf, len, &back, NULL), 0);
    assert_string_equal(back.sysprep.enable[0], "op-from-the-future");
    char why[ERR_WHY_LEN];
    assert_int_equal(proto_sysprep_check(&back.sysprep, why, sizeof why), -VMS_E_UNKNOWN_OP);
    proto_template_create_free(&back);
    free(buf);
}

/* The worker's table is the vocabulary, entry for entry, in the same order;
 * its own check of a job keeps its message. */
static void test_worker_table_matches(void **state) {
    (void)state;
    assert_int_equal(seal_ops_count(), PROTO_SYSPREP_N_OPS);
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++) {
        const struct proto_sysprep_op *p = proto_sysprep_op_get(i);
        const struct seal_op_info *w = seal_op_info_get(i);
        assert_non_null(w);
        assert_string_equal(w->name, p->name);
        assert_int_equal(w->default_on, p->default_on);
        assert_string_equal(w->description, p->description);
        assert_true(w->families != 0 && (w->families & ~(unsigned)SEAL_FAMILY_ALL) == 0);
    }
    assert_null(seal_op_info_get(PROTO_SYSPREP_N_OPS));

    bool selected[PROTO_SYSPREP_N_OPS];
    char why[ERR_WHY_LEN];
    assert_int_equal(seal_ops_select(NULL, selected, why), 0);
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++)
        assert_int_equal(selected[i], proto_sysprep_op_get(i)->default_on);
    char *enable[] = { "firewall-rules" }, *disable[] = { "logfiles" }, *bad[] = { "ssh-hostkey" };
    struct proto_sysprep s = { .enable = enable, .n_enable = 1, .disable = disable, .n_disable = 1 };
    assert_int_equal(seal_ops_select(&s, selected, why), 0);
    assert_true(selected[PROTO_SYSPREP_OP_FIREWALL_RULES]);
    assert_false(selected[PROTO_SYSPREP_OP_LOGFILES]);
    assert_true(selected[PROTO_SYSPREP_OP_TMP_FILES]);
    s = (struct proto_sysprep){ .disable = bad, .n_disable = 1 };
    assert_int_equal(seal_ops_select(&s, selected, why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "unknown sysprep operation 'ssh-hostkey'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_name_found),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_enabled_and_disabled),
        cmocka_unit_test(test_valid_sets),
        cmocka_unit_test(test_decoder_accepts_unknown_names),
        cmocka_unit_test(test_worker_table_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
