/* test_proto_sysprep_ops.c - the sysprep operation vocabulary of wire v1
 * (proto/sysprep_ops.h): every name found, unknown names and names both
 * turned on and off refused with the list and the name in the reason (wire
 * and command-line naming), the resolution of enable / operations / disable
 * into a selection as virt-sysprep resolves --enable and --operations, the
 * spelled-out form of a job, and the worker's operations table
 * (worker/seal/seal_ops.c) the same list in the same order. */
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
#include "util.h"

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

/* "-OP", meta-names and empty entries: only operations takes them; the
 * reason names the list, the entry and what is wrong. */
static void test_operations_entries(void **state) {
    (void)state;
    char why[ERR_WHY_LEN];
    char *good[] = { "defaults", "-all", "all", "-defaults", "firewall-rules", "-tmp-files" };
    struct proto_sysprep s = { .operations = good, .n_operations = 6 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), 0);

    char *empty[] = { "defaults", "-" };
    s = (struct proto_sysprep){ .operations = empty, .n_operations = 2 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_MSG_BAD_VALUE);
    assert_string_equal(why, "sysprep.operations[1]: empty operation name");
    char *empty2[] = { "" };
    s = (struct proto_sysprep){ .operations = empty2, .n_operations = 1 };
    assert_int_equal(proto_sysprep_check_named(&s, PROTO_SYSPREP_NAMING_CLI, why, sizeof why),
                     -VMS_E_MSG_BAD_VALUE);
    assert_string_equal(why, "--operations: empty operation name");

    char *unknown[] = { "all", "-tmp-file" };
    s = (struct proto_sysprep){ .operations = unknown, .n_operations = 2 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(
        why, "sysprep.operations[1]: unknown sysprep operation '-tmp-file' (did you mean 'tmp-files'?)");
    char *foo[] = { "foo" };
    s = (struct proto_sysprep){ .operations = foo, .n_operations = 1 };
    assert_int_equal(proto_sysprep_check_named(&s, PROTO_SYSPREP_NAMING_CLI, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "--operations: unknown sysprep operation 'foo'");

    /* enable and disable take operation names only (virt-sysprep's
     * --enable refuses "defaults" and "-OP" too) */
    char *meta[] = { "defaults" }, *minus[] = { "-utmp" };
    s = (struct proto_sysprep){ .enable = meta, .n_enable = 1 };
    assert_int_equal(proto_sysprep_check_named(&s, PROTO_SYSPREP_NAMING_CLI, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "--enable: unknown sysprep operation 'defaults' (\"-OP\", \"defaults\" and \"all\" "
                             "belong in --operations)");
    s = (struct proto_sysprep){ .disable = minus, .n_disable = 1 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "sysprep.disable[0]: unknown sysprep operation '-utmp' (\"-OP\", \"defaults\" and "
                             "\"all\" belong in sysprep.operations)");
}

/* Overlap rules: a name in disable may be neither in enable nor added by
 * an operations entry; "-OP" and meta-names in operations do not count,
 * and operations may turn one name on and off (a later entry wins). */
static void test_overlaps(void **state) {
    (void)state;
    char why[ERR_WHY_LEN];
    char *ops[] = { "defaults", "firewall-rules" }, *disable[] = { "firewall-rules" };
    struct proto_sysprep s = { .operations = ops, .n_operations = 2, .disable = disable, .n_disable = 1 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), -VMS_E_MSG_BAD_VALUE);
    assert_string_equal(why, "sysprep.disable[0]: \"firewall-rules\" is also in operations");
    assert_int_equal(proto_sysprep_check_named(&s, PROTO_SYSPREP_NAMING_CLI, why, sizeof why),
                     -VMS_E_MSG_BAD_VALUE);
    assert_string_equal(why, "--disable: 'firewall-rules' is also in --operations");

    char *enable[] = { "utmp" }, *disable2[] = { "utmp" };
    s = (struct proto_sysprep){ .enable = enable, .n_enable = 1, .disable = disable2, .n_disable = 1 };
    assert_int_equal(proto_sysprep_check_named(&s, PROTO_SYSPREP_NAMING_CLI, why, sizeof why),
                     -VMS_E_MSG_BAD_VALUE);
    assert_string_equal(why, "--disable: 'utmp' is also in --enable");

    char *fine[] = { "all", "-firewall-rules", "tmp-files", "-tmp-files" };
    s = (struct proto_sysprep){ .operations = fine, .n_operations = 4, .disable = disable, .n_disable = 1 };
    assert_int_equal(proto_sysprep_check(&s, why, sizeof why), 0);
}

/* The command-line options, read as virt-sysprep reads them. */
static void test_options(void **state) {
    (void)state;
    char why[ERR_WHY_LEN];
    struct proto_sysprep s = { .selinux_relabel = true };
    assert_int_equal(proto_sysprep_option_add(&s, PROTO_SYSPREP_OPT_ENABLE, "utmp,,tmp-files", why, sizeof why),
                     0);
    assert_int_equal(s.n_enable, 3);
    assert_string_equal(s.enable[1], ""); /* kept, so that the check names it */
    assert_int_equal(proto_sysprep_check_named(&s, PROTO_SYSPREP_NAMING_CLI, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "--enable: unknown sysprep operation ''");
    /* --enable once, before any --operations */
    assert_int_equal(proto_sysprep_option_add(&s, PROTO_SYSPREP_OPT_ENABLE, "utmp", why, sizeof why),
                     -VMS_E_INVALID);
    assert_string_equal(why, "--enable may be given once, before any --operations (as virt-sysprep); use "
                             "--operations to add more");
    assert_int_equal(proto_sysprep_option_add(&s, PROTO_SYSPREP_OPT_OPERATIONS, "defaults", why, sizeof why), 0);
    assert_int_equal(proto_sysprep_option_add(&s, PROTO_SYSPREP_OPT_OPERATIONS, "-utmp,", why, sizeof why), 0);
    assert_int_equal(s.n_operations, 3);
    assert_string_equal(s.operations[2], "");
    struct proto_sysprep t = { .selinux_relabel = true };
    assert_int_equal(proto_sysprep_option_add(&t, PROTO_SYSPREP_OPT_OPERATIONS, "all", why, sizeof why), 0);
    assert_int_equal(proto_sysprep_option_add(&t, PROTO_SYSPREP_OPT_ENABLE, "utmp", why, sizeof why),
                     -VMS_E_INVALID);
    assert_int_equal(proto_sysprep_option_add(&t, PROTO_SYSPREP_OPT_ENABLE, "", NULL, 0), -VMS_E_INVALID);
    struct proto_sysprep u = { .selinux_relabel = true };
    assert_int_equal(proto_sysprep_option_add(&u, PROTO_SYSPREP_OPT_ENABLE, "", why, sizeof why), -VMS_E_INVALID);
    assert_string_equal(why, "--enable: empty argument");
    /* at most what the wire carries: 64 entries a list */
    for (int i = 0; i < 64; i++)
        assert_int_equal(proto_sysprep_option_add(&u, PROTO_SYSPREP_OPT_DISABLE, "utmp", why, sizeof why), 0);
    assert_int_equal(proto_sysprep_option_add(&u, PROTO_SYSPREP_OPT_DISABLE, "utmp", why, sizeof why),
                     -VMS_E_INVALID);
    assert_string_equal(why, "--disable: more than 64 entries");
    proto_sysprep_free(&s);
    proto_sysprep_free(&t);
    proto_sysprep_free(&u);
}

/* ---- resolution ---- */

/* The selection as a sorted, comma-joined list of names ("" = none). */
static char *names_of(const bool *sel) {
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++)
        if (sel[i])
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? "," : "",
                     proto_sysprep_op_get(i)->name);
    return buf;
}

static size_t n_selected(const bool *sel) {
    size_t n = 0;
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++)
        n += sel[i];
    return n;
}

static size_t n_defaults(void) {
    size_t n = 0;
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++)
        n += proto_sysprep_op_get(i)->default_on;
    return n;
}

static bool is_default(enum proto_sysprep_op_id id) { return proto_sysprep_op_get(id)->default_on; }

#define SELECT_OK(s, sel)                                                  \
    do {                                                                   \
        char why_[ERR_WHY_LEN];                                            \
        int r_ = proto_sysprep_select((s), (sel), why_, sizeof why_);      \
        if (r_ != 0)                                                       \
            fail_msg("proto_sysprep_select: %s (%s)", err_name(r_), why_); \
    } while (0)

static void test_select_defaults(void **state) {
    (void)state;
    bool sel[PROTO_SYSPREP_N_OPS];
    SELECT_OK(NULL, sel);
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++)
        assert_int_equal(sel[i], proto_sysprep_op_get(i)->default_on);
    assert_true(n_defaults() > 30 && n_defaults() < PROTO_SYSPREP_N_OPS); /* both kinds exist */
    struct proto_sysprep none = { .selinux_relabel = true, .hostname = "h" };
    SELECT_OK(&none, sel);
    assert_int_equal(n_selected(sel), n_defaults());
}

/* enable = ONLY these (virt-sysprep --enable), not "these besides the
 * defaults": nothing else runs. */
static void test_select_enable_only(void **state) {
    (void)state;
    bool sel[PROTO_SYSPREP_N_OPS];
    char *enable[] = { "ssh-hostkeys", "firewall-rules" };
    struct proto_sysprep s = { .enable = enable, .n_enable = 2 };
    SELECT_OK(&s, sel);
    assert_string_equal(names_of(sel), "ssh-hostkeys,firewall-rules");
    assert_int_equal(n_selected(sel), 2);
    assert_false(sel[PROTO_SYSPREP_OP_TMP_FILES]); /* a default, not asked for */
}

/* operations: from nothing, in order, as virt-sysprep --operations. */
static void test_select_operations(void **state) {
    (void)state;
    bool sel[PROTO_SYSPREP_N_OPS];
    /* the example of virt-sysprep(1) */
    char *ex[] = { "firewall-rules", "defaults", "-tmp-files" };
    struct proto_sysprep s = { .operations = ex, .n_operations = 3 };
    SELECT_OK(&s, sel);
    assert_int_equal(n_selected(sel), n_defaults()); /* + firewall-rules - tmp-files */
    assert_true(sel[PROTO_SYSPREP_OP_FIREWALL_RULES]);
    assert_false(sel[PROTO_SYSPREP_OP_TMP_FILES]);
    assert_true(sel[PROTO_SYSPREP_OP_LOGFILES]);
    assert_false(sel[PROTO_SYSPREP_OP_KERBEROS_DATA]);

    char *one[] = { "utmp" };
    s = (struct proto_sysprep){ .operations = one, .n_operations = 1 };
    SELECT_OK(&s, sel);
    assert_string_equal(names_of(sel), "utmp");

    char *all[] = { "all" };
    s = (struct proto_sysprep){ .operations = all, .n_operations = 1 };
    SELECT_OK(&s, sel);
    assert_int_equal(n_selected(sel), PROTO_SYSPREP_N_OPS);

    char *extras[] = { "all", "-defaults" };
    s = (struct proto_sysprep){ .operations = extras, .n_operations = 2 };
    SELECT_OK(&s, sel);
    assert_int_equal(n_selected(sel), PROTO_SYSPREP_N_OPS - n_defaults());
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++)
        assert_int_equal(sel[i], !proto_sysprep_op_get(i)->default_on);

    char *nothing[] = { "-all" };
    s = (struct proto_sysprep){ .operations = nothing, .n_operations = 1 };
    SELECT_OK(&s, sel);
    assert_int_equal(n_selected(sel), 0);

    /* a later entry wins */
    char *on_off[] = { "tmp-files", "-tmp-files" }, *off_on[] = { "-tmp-files", "tmp-files" };
    s = (struct proto_sysprep){ .operations = on_off, .n_operations = 2 };
    SELECT_OK(&s, sel);
    assert_string_equal(names_of(sel), "");
    s = (struct proto_sysprep){ .operations = off_on, .n_operations = 2 };
    SELECT_OK(&s, sel);
    assert_string_equal(names_of(sel), "tmp-files");
    char *defaults_after[] = { "-utmp", "defaults" };
    s = (struct proto_sysprep){ .operations = defaults_after, .n_operations = 2 };
    SELECT_OK(&s, sel);
    assert_true(sel[PROTO_SYSPREP_OP_UTMP]);

    /* enable first, then operations: virt-sysprep --enable A --operations B */
    char *enable[] = { "firewall-rules", "utmp" }, *more[] = { "-utmp", "kerberos-data" };
    s = (struct proto_sysprep){ .enable = enable, .n_enable = 2, .operations = more, .n_operations = 2 };
    SELECT_OK(&s, sel);
    assert_string_equal(names_of(sel), "firewall-rules,kerberos-data");
}

/* disable: removed last; alone it is "the defaults minus these". */
static void test_select_disable(void **state) {
    (void)state;
    bool sel[PROTO_SYSPREP_N_OPS];
    char *disable[] = { "tmp-files", "logfiles" };
    struct proto_sysprep s = { .disable = disable, .n_disable = 2 };
    SELECT_OK(&s, sel);
    assert_int_equal(n_selected(sel), n_defaults() - 2);
    assert_false(sel[PROTO_SYSPREP_OP_TMP_FILES]);
    assert_false(sel[PROTO_SYSPREP_OP_LOGFILES]);
    assert_true(sel[PROTO_SYSPREP_OP_SSH_HOSTKEYS]);

    char *enable[] = { "ssh-hostkeys", "utmp" };
    s = (struct proto_sysprep){ .enable = enable, .n_enable = 2, .disable = disable, .n_disable = 2 };
    SELECT_OK(&s, sel);
    assert_string_equal(names_of(sel), "ssh-hostkeys,utmp");

    char *all[] = { "all" };
    s = (struct proto_sysprep){ .operations = all, .n_operations = 1, .disable = disable, .n_disable = 2 };
    SELECT_OK(&s, sel);
    assert_int_equal(n_selected(sel), PROTO_SYSPREP_N_OPS - 2);
    assert_false(sel[PROTO_SYSPREP_OP_LOGFILES]);
}

/* A list that does not check selects nothing. */
static void test_select_refuses(void **state) {
    (void)state;
    bool sel[PROTO_SYSPREP_N_OPS];
    char why[ERR_WHY_LEN];
    char *bad[] = { "defaults", "-no-such-op" };
    struct proto_sysprep s = { .operations = bad, .n_operations = 2 };
    memset(sel, 1, sizeof sel);
    assert_int_equal(proto_sysprep_select(&s, sel, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "sysprep.operations[1]: unknown sysprep operation '-no-such-op'");
    assert_int_equal(n_selected(sel), 0);
    char *enable[] = { "utmp" };
    s = (struct proto_sysprep){ .enable = enable, .n_enable = 1, .disable = enable, .n_disable = 1 };
    assert_int_equal(proto_sysprep_select(&s, sel, why, sizeof why), -VMS_E_MSG_BAD_VALUE);
    assert_int_equal(n_selected(sel), 0);
}

/* What a worker built before enable meant "only these" runs: the defaults,
 * plus enable, minus disable; names it does not know are errors. */
static void select_old_meaning(const struct proto_sysprep *s, bool *sel) {
    for (size_t i = 0; i < PROTO_SYSPREP_N_OPS; i++)
        sel[i] = proto_sysprep_op_get(i)->default_on;
    assert_int_equal(s->n_operations, 0); /* an old worker ignores the key: it must not be there */
    for (size_t i = 0; i < s->n_enable; i++)
        sel[proto_sysprep_op_find(s->enable[i])] = true;
    for (size_t i = 0; i < s->n_disable; i++)
        sel[proto_sysprep_op_find(s->disable[i])] = false;
}

/* The spelled-out form of a job: old and new workers select the same set,
 * the request's own set; it checks, encodes and decodes. */
static void test_spelled_out(void **state) {
    (void)state;
    char *e1[] = { "ssh-hostkeys" }, *o1[] = { "firewall-rules", "defaults", "-tmp-files" }, *o2[] = { "-all" },
         *o3[] = { "all" }, *d1[] = { "logfiles" }, *o4[] = { "kerberos-data" }, *am[] = { "/srv" };
    const struct proto_sysprep reqs[] = {
        { .selinux_relabel = true },
        { .disable = d1, .n_disable = 1, .hostname = "tpl", .selinux_relabel = false },
        { .enable = e1, .n_enable = 1, .selinux_relabel = true, .allow_missing = am, .n_allow_missing = 1 },
        { .operations = o1, .n_operations = 3, .disable = d1, .n_disable = 1 },
        { .operations = o2, .n_operations = 1 },
        { .operations = o3, .n_operations = 1 },
        { .enable = e1, .n_enable = 1, .operations = o4, .n_operations = 1 },
    };
    for (size_t k = 0; k < ARRAY_SIZE(reqs); k++) {
        struct proto_sysprep out;
        bool want[PROTO_SYSPREP_N_OPS], got_new[PROTO_SYSPREP_N_OPS], got_old[PROTO_SYSPREP_N_OPS];
        char why[ERR_WHY_LEN];
        SELECT_OK(&reqs[k], want);
        assert_int_equal(proto_sysprep_spelled_out(&reqs[k], &out, why, sizeof why), 0);
        assert_int_equal(out.n_operations, 0);
        assert_int_equal(proto_sysprep_check(&out, why, sizeof why), 0);
        SELECT_OK(&out, got_new);
        select_old_meaning(&out, got_old);
        char w[4096];
        snprintf(w, sizeof w, "%s", names_of(want));
        if (strcmp(w, names_of(got_new)) != 0)
            fail_msg("request %zu: spelled out, a worker runs %s, not %s", k, names_of(got_new), w);
        if (strcmp(w, names_of(got_old)) != 0)
            fail_msg("request %zu: spelled out, an older worker runs %s, not %s", k, names_of(got_old), w);
        if (reqs[k].n_enable == 0 && reqs[k].n_operations == 0) /* copied as it is */
            assert_int_equal(out.n_disable, reqs[k].n_disable);
        assert_int_equal(out.selinux_relabel, reqs[k].selinux_relabel);
        assert_int_equal(out.n_allow_missing, reqs[k].n_allow_missing);
        assert_int_equal(out.hostname != NULL, reqs[k].hostname != NULL);

        /* within the wire's limits: a vm.seal job carrying it encodes */
        struct proto_vol_ref disk = { "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a",
                                      "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
                                      "3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e" };
        struct proto_job j = { .job_id = "7f3e2d1c-0b9a-4876-8543-210fedcba987",
                               .template_id = "0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6f",
                               .kind = JOB_VM_SEAL,
                               .attempt = 1,
                               .timeout_s = 60 };
        j.args.seal.disks = &disk;
        j.args.seal.n_disks = 1;
        j.args.seal.sysprep = out;
        char *buf;
        size_t len;
        assert_int_equal(proto_encode_job(&j, &buf, &len), 0);
        free(buf);
        proto_sysprep_free(&out);
    }
    /* a request that does not check is not spelled out */
    char *bad[] = { "nope" };
    struct proto_sysprep s = { .operations = bad, .n_operations = 1 }, out;
    char why[ERR_WHY_LEN];
    assert_int_equal(proto_sysprep_spelled_out(&s, &out, why, sizeof why), -VMS_E_UNKNOWN_OP);
    assert_null(out.enable);
    assert_int_equal(out.n_disable, 0);
    /* the sets: both kinds of list are spelled out */
    char *only[] = { "ssh-hostkeys" };
    s = (struct proto_sysprep){ .enable = only, .n_enable = 1 };
    assert_int_equal(proto_sysprep_spelled_out(&s, &out, why, sizeof why), 0);
    assert_int_equal(out.n_enable, 1);
    assert_int_equal(out.n_disable, n_defaults() - 1);
    assert_true(is_default(PROTO_SYSPREP_OP_SSH_HOSTKEYS));
    proto_sysprep_free(&out);
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
    assert_true(selected[PROTO_SYSPREP_OP_FIREWALL_RULES]); /* enable: only these */
    assert_false(selected[PROTO_SYSPREP_OP_LOGFILES]);
    assert_false(selected[PROTO_SYSPREP_OP_TMP_FILES]);
    s = (struct proto_sysprep){ .disable = disable, .n_disable = 1 };
    assert_int_equal(seal_ops_select(&s, selected, why), 0);
    assert_false(selected[PROTO_SYSPREP_OP_LOGFILES]); /* disable alone: the defaults minus these */
    assert_true(selected[PROTO_SYSPREP_OP_TMP_FILES]);
    s = (struct proto_sysprep){ .disable = bad, .n_disable = 1 };
    assert_int_equal(seal_ops_select(&s, selected, why), -VMS_E_UNKNOWN_OP);
    assert_string_equal(why, "sysprep.disable[0]: unknown sysprep operation 'ssh-hostkey' (did you mean "
                             "'ssh-hostkeys'?)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_name_found),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_enabled_and_disabled),
        cmocka_unit_test(test_valid_sets),
        cmocka_unit_test(test_decoder_accepts_unknown_names),
        cmocka_unit_test(test_operations_entries),
        cmocka_unit_test(test_overlaps),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_select_defaults),
        cmocka_unit_test(test_select_enable_only),
        cmocka_unit_test(test_select_operations),
        cmocka_unit_test(test_select_disable),
        cmocka_unit_test(test_select_refuses),
        cmocka_unit_test(test_spelled_out),
        cmocka_unit_test(test_worker_table_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
