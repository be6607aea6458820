/* test_proto_compat.c - the compatibility rules of docs/protocol.md, as the C
 * decoders apply them (clients/python/tests/test_compat.py checks the same
 * rules in the Python client):
 *
 *   1. unknown keys are ignored, at every level and whatever their type;
 *   2. a message whose "v" is not 1 is refused (VMS_E_MSG_VERSION), whatever
 *      else it holds;
 *   3. an unknown value of a closed enum (type, kind, state, legality,
 *      voltype, format, a volume's state) refuses the message
 *      (VMS_E_MSG_BAD_VALUE);
 *   4. an absent optional key takes its documented default.
 * Also the engine fields: new_img_id / new_vol_id and template volumes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proto.h"
#include "test_proto.h"
#include "util.h"

#define U_TPL "0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6f"
#define U_JOB "7f3e2d1c-0b9a-4876-8543-210fedcba987"
#define U_SD  "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a"
#define U_IMG "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
#define U_VOL "3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e"
#define U_NEW "6e7f8091-a2b3-4cdf-9a4b-5c6d7e8f9012"
#define IDS   "sd_id:'" U_SD "', img_id:'" U_IMG "', vol_id:'" U_VOL "'"
#define CREATE(disk_extra, extra)                                                  \
    "{v:1, type:'template.create', template_id:'" U_TPL "', name:'t', seal:true, " \
    "disks:[{" IDS disk_extra "}]" extra "}"
#define TEVENT(state, extra)                                              \
    "{v:1, type:'event', event_id:'" U_JOB "', template_id:'" U_TPL "', " \
    "worker_id:'producer', state:'" state "', ts_ms:1" extra "}"
#define VOLUME(extra) "{" IDS ", state:'present', legality:'LEGAL', voltype:'SHARED'" extra "}"
#define JOB(kind, args)                                                                \
    "{v:1, type:'job', job_id:'" U_JOB "', template_id:'" U_TPL "', kind:'" kind "', " \
    "attempt:1, timeout_s:60, args:" args "}"

static int decode_text(const char *text, struct proto_msg *ret, char *why) {
    size_t len;
    _cleanup_free_ char *buf = mp(text, &len);
    return proto_decode(buf, len, ret, why);
}

static void expect_ok(const char *text, struct proto_msg *ret) {
    char why[ERR_WHY_LEN] = "";
    if (decode_text(text, ret, why) < 0)
        fail_msg("refused: %s\n  %s", why, text);
}

static void expect_refused(const char *text, int code, const char *want) {
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    int r = decode_text(text, &m, why);
    proto_msg_free(&m);
    if (r != code || !strstr(why, want))
        fail_msg("got %s \"%s\", want %s \"%s\"\n  %s", err_name(r), why, err_name(code), want, text);
}

/* Rule 1: unknown keys at the top, in a disk, in sysprep, in args, in a
 * template volume, in an error: ignored, and the known ones still read. */
static void test_unknown_keys_ignored(void **state) {
    struct proto_msg m;
    expect_ok(CREATE(", colour:'blue', new_img_id:'" U_NEW "', new_vol_id:'" U_IMG "', x:{y:[1.5e0, nil]}",
                     ", priority:7, sysprep:{hostname:'h', later:true}, z:nil"),
              &m);
    assert_int_equal(m.type, PROTO_TEMPLATE_CREATE);
    assert_non_null(m.u.create.new_vols);
    assert_string_equal(m.u.create.new_vols[0].img_id, U_NEW);
    assert_string_equal(m.u.create.sysprep.hostname, "h");
    proto_msg_free(&m);

    expect_ok(TEVENT("ready",
                     ", volumes:[" VOLUME(", size:1, tags:['a']") "], error:{code:'c', message:'m', "
                                                                  "permanent:false, hint:'x'}, origin:'engine'"),
              &m);
    assert_int_equal(m.u.event.n_volumes, 1);
    assert_int_equal(m.u.event.volumes[0].voltype, VOLTYPE_SHARED);
    assert_string_equal(m.u.event.error.code, "c");
    proto_msg_free(&m);

    expect_ok(JOB("volume.delete", "{" IDS ", force:true}"), &m);
    assert_string_equal(m.u.job.args.del.vol.vol_id, U_VOL);
    proto_msg_free(&m);
}

/* Rule 2: any "v" but 1 refuses the message, even one otherwise valid. */
static void test_other_version_refused(void **state) {
    static const char *const versions[] = { "2", "0", "-1", "1000" };
    for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
        _cleanup_free_ char *create =
            xasprintf("{v:%s, type:'template.create', template_id:'" U_TPL "', name:'t', "
                      "seal:true, disks:[{" IDS "}]}",
                      versions[i]);
        expect_refused(create, -VMS_E_MSG_VERSION, "template.create.v: version");
        _cleanup_free_ char *ev = xasprintf("{v:%s, type:'event', event_id:'" U_JOB "', template_id:'" U_TPL "', "
                                            "worker_id:'p', state:'ready', ts_ms:1}",
                                            versions[i]);
        expect_refused(ev, -VMS_E_MSG_VERSION, "event.v: version");
    }
    /* a newer version may change anything, the type included */
    expect_refused("{v:2, type:'template.clone'}", -VMS_E_MSG_VERSION, "message.v: version 2 is not supported");
}

/* Rule 3: closed enums - an unknown value refuses the message. */
static void test_unknown_enum_refused(void **state) {
    expect_refused("{v:1, type:'template.pause', template_id:'" U_TPL "'}", -VMS_E_MSG_BAD_VALUE,
                   "message.type: unknown value \"template.pause\"");
    expect_refused(TEVENT("paused", ""), -VMS_E_MSG_BAD_VALUE, "event.state: unknown value \"paused\"");
    expect_refused(TEVENT("ready", ", volumes:[{" IDS ", state:'moving', legality:'LEGAL', voltype:'LEAF'}]"),
                   -VMS_E_MSG_BAD_VALUE, "event.volumes[0].state: unknown value \"moving\"");
    expect_refused(TEVENT("ready", ", volumes:[{" IDS ", state:'present', legality:'FAKE', voltype:'LEAF'}]"),
                   -VMS_E_MSG_BAD_VALUE, "event.volumes[0].legality: unknown value \"FAKE\"");
    expect_refused(TEVENT("ready", ", volumes:[{" IDS ", state:'present', legality:'LEGAL', voltype:'BASE'}]"),
                   -VMS_E_MSG_BAD_VALUE, "event.volumes[0].voltype: unknown value \"BASE\"");
    expect_refused(JOB("volume.resize", "{}"), -VMS_E_MSG_BAD_VALUE, "job.kind: unknown value \"volume.resize\"");
    expect_refused(JOB("volume.copy", "{sd_id:'" U_SD "', src:{img_id:'" U_IMG "', vol_id:'" U_VOL "'}, "
                                      "dst:{" IDS "}, format:'VMDK'}"),
                   -VMS_E_MSG_BAD_VALUE, "job.args.format: unknown value \"VMDK\"");
}

/* Rule 4: absent optional keys take their defaults. */
static void test_absent_optional_defaults(void **state) {
    struct proto_msg m;
    expect_ok(CREATE("", ""), &m);
    assert_null(m.u.create.new_vols);
    assert_string_equal(m.u.create.target_sd_id, "");
    assert_false(m.u.create.has_sysprep);
    proto_msg_free(&m);
    expect_ok(TEVENT("creating", ""), &m);
    assert_null(m.u.event.volumes);
    assert_int_equal(m.u.event.progress, -1);
    assert_null(m.u.event.step);
    assert_false(m.u.event.has_error);
    proto_msg_free(&m);
}

/* The engine fields: both new ids or neither, canonical UUIDs; volumes are
 * maps with every key. */
static void test_engine_fields_checked(void **state) {
    expect_refused(CREATE(", new_img_id:'" U_NEW "'", ""), -VMS_E_MSG_MISSING_KEY,
                   "template.create.disks[0].new_vol_id: missing");
    expect_refused(CREATE(", new_vol_id:'" U_NEW "'", ""), -VMS_E_MSG_MISSING_KEY,
                   "template.create.disks[0].new_img_id: missing");
    expect_refused(CREATE(", new_img_id:'" U_NEW "', new_vol_id:'6E7F8091-A2B3-4CDF-9A4B-5C6D7E8F9012'", ""),
                   -VMS_E_BAD_UUID, "template.create.disks[0].new_vol_id: not a canonical UUID");
    expect_refused(TEVENT("ready", ", volumes:[{" IDS ", legality:'LEGAL', voltype:'LEAF'}]"),
                   -VMS_E_MSG_MISSING_KEY, "event.volumes[0].state: missing");
    expect_refused(TEVENT("ready", ", volumes:{}"), -VMS_E_MSG_BAD_TYPE, "event.volumes: expected an array");
    /* at most 64 volumes, like disks */
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    _cleanup_free_ char *max = xstrdup("{v:1, type:'event', event_id:'" U_JOB "', template_id:'" U_TPL "', "
                                       "worker_id:'p', state:'ready', ts_ms:1, volumes:[");
    for (int i = 0; i < 65; i++) {
        char *next = xasprintf("%s%s" VOLUME(""), max, i ? "," : "");
        free(max);
        max = next;
    }
    char *text = xasprintf("%s]}", max);
    int r = decode_text(text, &m, why);
    free(text);
    proto_msg_free(&m);
    assert_int_equal(r, -VMS_E_MSG_BAD_VALUE);
    assert_non_null(strstr(why, "event.volumes"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_keys_ignored),  cmocka_unit_test(test_other_version_refused),
        cmocka_unit_test(test_unknown_enum_refused),  cmocka_unit_test(test_absent_optional_defaults),
        cmocka_unit_test(test_engine_fields_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
