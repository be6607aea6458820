/* test_proto_malformed.c - hostile and broken inputs: each is rejected with
 * the expected error code and a `why` naming the key and the reason, and
 * nothing leaks or crashes (run under ASan/UBSan with -DVMSEAL_SANITIZE=ON). */
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
#include "wire.h"

#define U_TPL  "0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6f"
#define U_JOB  "7f3e2d1c-0b9a-4876-8543-210fedcba987"
#define U_SD   "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a"
#define U_IMG  "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
#define U_VOL  "3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e"
#define REF    "{sd_id:'" U_SD "', img_id:'" U_IMG "', vol_id:'" U_VOL "'}"
#define CANCEL "v:1, type:'template.cancel', template_id:'" U_TPL "'"
#define JOB(kind)                                                                     \
    "v:1, type:'job', job_id:'" U_JOB "', template_id:'" U_TPL "', kind:'" kind "', " \
    "attempt:1, timeout_s:60, "
#define UPDATE(extra)                                                       \
    "{" JOB("volume.update") "args:{sd_id:'" U_SD "', img_id:'" U_IMG "', " \
                             "vol_id:'" U_VOL "', generation:4" extra "}}"
#define COPY(dst_vol)                                                                                         \
    "{" JOB("volume.copy") "args:{sd_id:'" U_SD "', src:{img_id:'" U_IMG "', "                                \
                           "vol_id:'" U_VOL "'}, dst:{sd_id:'" U_SD "', img_id:'" U_IMG "', vol_id:'" dst_vol \
                           "'}, "                                                                             \
                           "format:'COW'}}"
#define SEAL(disks, sysprep) "{" JOB("vm.seal") "args:{disks:[" disks "], sysprep:{" sysprep "}}}"
#define EVENT(extra)                                                                          \
    "{v:1, type:'event', event_id:'" U_JOB "', job_id:'" U_JOB "', template_id:'" U_TPL "', " \
    "worker_id:'w1', ts_ms:1" extra "}"
#define HB(extra)                                                                               \
    "{v:1, type:'worker.heartbeat', worker_id:'w1', version:'0.1', libguestfs_version:'1.48', " \
    "slots:2" extra "}"
#define HB_OK_POOLS ", pools:['default'], sd_ids:[], running:[]"

static int n_cases;

/* Decode buf with proto_decode, or with proto_decode_job when as_job, and
 * expect rejection with `code` and `why` containing want. */
static void expect_reject(const char *name, const void *buf, size_t len, bool as_job, int code, const char *want) {
    char why[ERR_WHY_LEN] = "";
    int r;
    if (as_job) {
        struct proto_job j;
        r = proto_decode_job(buf, len, &j, why);
        proto_job_free(&j);
    } else {
        struct proto_msg m;
        r = proto_decode(buf, len, &m, why);
        proto_msg_free(&m);
    }
    if (r != code || !strstr(why, want))
        fail_msg("case \"%s\": got %s (%s) why \"%s\"; want %s with \"%s\"", name, err_name(r), err_str(r), why,
                 err_name(code), want);
    n_cases++;
}

static void expect_text(const char *name, const char *text, int code, const char *want) {
    size_t len;
    _cleanup_free_ char *buf = mp(text, &len);
    expect_reject(name, buf, len, false, code, want);
}

/* The bytes of `text` (which must end in a nil value) with that nil replaced
 * by raw bytes: a way to put a hostile header where a value belongs. */
static char *with_tail(const char *text, const void *tail, size_t tail_len, size_t *ret_len) {
    size_t len;
    char *buf = mp(text, &len);
    assert_int_equal((uint8_t)buf[len - 1], 0xc0);
    buf = xrealloc(buf, len - 1 + tail_len);
    memcpy(buf + len - 1, tail, tail_len);
    *ret_len = len - 1 + tail_len;
    return buf;
}

static void expect_tail(const char *name, const void *tail, size_t tail_len, int code, const char *want) {
    size_t len;
    _cleanup_free_ char *buf = with_tail("{" CANCEL ", x:nil}", tail, tail_len, &len);
    expect_reject(name, buf, len, false, code, want);
}

static char *repeat(char c, size_t n) {
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* "{CANCEL, x: [[[ ... ]]]}" with `levels` nested arrays */
static char *nested(size_t levels) {
    _cleanup_free_ char *open = repeat('[', levels), *close = repeat(']', levels);
    return xasprintf("{" CANCEL ", x:%s%s}", open, close);
}

/* A cancel padded with a bin so that the whole message is `total` bytes. */
static char *padded(size_t total, size_t *ret_len) {
    size_t base_len;
    _cleanup_free_ char *base = mp("{" CANCEL ", pad:nil}", &base_len);
    size_t bin = total - (base_len - 1) - 5; /* bin32 header */
    char *buf = xmalloc(total);
    memcpy(buf, base, base_len - 1);
    buf[base_len - 1] = (char)0xc6;
    buf[base_len] = (char)(bin >> 24);
    buf[base_len + 1] = (char)(bin >> 16);
    buf[base_len + 2] = (char)(bin >> 8);
    buf[base_len + 3] = (char)bin;
    memset(buf + base_len + 4, 'p', bin);
    *ret_len = total;
    return buf;
}

static void structural_cases(void) {
    static const uint8_t array_2g[] = { 0xdd, 0x80, 0x00, 0x00, 0x00 };
    static const uint8_t str_4g[] = { 0xdb, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t bin_4g[] = { 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00 };
    static const uint8_t map_huge[] = { 0xdf, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t reserved[] = { 0xc1 };
    static const uint8_t cut_header[] = { 0xcd, 0x01 };
    size_t len;

    expect_reject("empty", "", 0, false, -VMS_E_MSG_TRUNCATED, "message: empty");
    _cleanup_free_ char *cancel = mp("{" CANCEL "}", &len);
    expect_reject("truncated by one byte", cancel, len - 1, false, -VMS_E_MSG_TRUNCATED,
                  "message.template_id: string of 36 bytes but only 35 bytes remain");
    _cleanup_free_ char *trailing = xmalloc(len + 3);
    memcpy(trailing, cancel, len);
    memcpy(trailing + len, "\x01\x02\x03", 3);
    expect_reject("trailing bytes", trailing, len + 3, false, -VMS_E_MSG_TRAILING, "message: 3 trailing bytes");

    _cleanup_free_ char *big = padded(PROTO_MAX_BYTES + 1, &len);
    expect_reject("over 1 MiB", big, len, false, -VMS_E_MSG_TOO_BIG, "1048577 bytes, more than the 1048576");

    _cleanup_free_ char *deep = nested(16); /* the root map is level 1 */
    expect_text("depth 17", deep, -VMS_E_MSG_TOO_DEEP, "nested deeper than 16");

    expect_tail("array32 claiming 2^31 elements", array_2g, sizeof(array_2g), -VMS_E_MSG_TRUNCATED,
                "message.x: array claims 2147483648 elements but only 0 bytes remain");
    expect_tail("str32 claiming 4 GB", str_4g, sizeof(str_4g), -VMS_E_MSG_TRUNCATED,
                "message.x: string of 4294967295 bytes but only 0 bytes remain");
    expect_tail("bin32 claiming 4 GB", bin_4g, sizeof(bin_4g), -VMS_E_MSG_TRUNCATED,
                "message.x: bin of 4294967295 bytes but only 1 bytes remain");
    expect_reject("map32 claiming 2^32-1 pairs", map_huge, sizeof(map_huge), false, -VMS_E_MSG_TRUNCATED,
                  "message: map claims 4294967295 pairs");
    expect_tail("reserved byte 0xc1", reserved, sizeof(reserved), -VMS_E_INVALID, "message.x: reserved byte 0xc1");
    expect_reject("header cut short", cut_header, sizeof(cut_header), false, -VMS_E_MSG_TRUNCATED,
                  "message: truncated: the value at byte 0 is cut short");
}

static void envelope_cases(void) {
    expect_text("not a map", "['template.cancel', 1]", -VMS_E_MSG_BAD_TYPE, "message: expected a map, got array");
    expect_text("non-string key", "{" CANCEL ", 7:'x'}", -VMS_E_INVALID,
                "message: map key #4 is not a string (int)");
    expect_text("non-string nested key", "{" CANCEL ", ext:{a:1, true:2}}", -VMS_E_INVALID,
                "message.ext: map key #2 is not a string (bool)");
    expect_text("duplicate key", "{" CANCEL ", template_id:'" U_TPL "'}", -VMS_E_INVALID,
                "message.template_id: duplicate key");
    expect_text("missing v", "{type:'template.cancel', template_id:'" U_TPL "'}", -VMS_E_MSG_MISSING_KEY,
                "template.cancel.v: missing");
    expect_text("v = 2", "{v:2, type:'template.cancel', template_id:'" U_TPL "'}", -VMS_E_MSG_VERSION,
                "template.cancel.v: version 2 is not supported");
    expect_text("v = 2 with an unknown type", "{v:2, type:'template.pause'}", -VMS_E_MSG_VERSION,
                "message.v: version 2 is not supported");
    expect_text("v as a string", "{v:'1', type:'template.cancel', template_id:'" U_TPL "'}", -VMS_E_MSG_BAD_TYPE,
                "template.cancel.v: expected an integer, got string");
    expect_text("missing type", "{v:1, template_id:'" U_TPL "'}", -VMS_E_MSG_MISSING_KEY, "message.type: missing");
    expect_text("unknown type", "{v:1, type:'template.delete'}", -VMS_E_MSG_BAD_VALUE,
                "message.type: unknown value \"template.delete\"");
    expect_text("type nil", "{v:1, type:nil}", -VMS_E_MSG_BAD_TYPE, "message.type: expected a string, got nil");
    expect_text("uuid uppercase",
                "{v:1, type:'template.cancel', template_id:'0B6C9C43-5D1E-4A77-9B1F-1A2B3C4D5E6F'}",
                -VMS_E_BAD_UUID, "template.cancel.template_id: not a canonical UUID");
    expect_text("uuid short", "{v:1, type:'template.cancel', template_id:'0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6'}",
                -VMS_E_BAD_UUID, "template.cancel.template_id: not a canonical UUID");
    expect_text("uuid in braces", "{v:1, type:'template.cancel', template_id:'{" U_TPL "}'}", -VMS_E_BAD_UUID,
                "template.cancel.template_id: not a canonical UUID");
    expect_text("uuid without dashes",
                "{v:1, type:'template.cancel', template_id:'0b6c9c435d1e4a779b1f1a2b3c4d5e6f'}", -VMS_E_BAD_UUID,
                "template.cancel.template_id: not a canonical UUID");
    expect_text("uuid as an integer", "{v:1, type:'template.cancel', template_id:12}", -VMS_E_MSG_BAD_TYPE,
                "template.cancel.template_id: expected a string, got int");
    size_t len;
    _cleanup_free_ char *cancel = mp("{" CANCEL "}", &len);
    expect_reject("job decoder given a cancel", cancel, len, true, -VMS_E_MSG_BAD_VALUE,
                  "template.cancel.type: expected \"job\", got \"template.cancel\"");
}

static void job_cases(void) {
    expect_text("unknown kind", "{" JOB("volume.resize") "args:{}}", -VMS_E_MSG_BAD_VALUE,
                "job.kind: unknown value \"volume.resize\"");
    expect_text("nested bad uuid", COPY("3B4C5D6E-7F80-4B9C-8D1E-2F3A4B5C6D7E"), -VMS_E_BAD_UUID,
                "job.args.dst.vol_id: not a canonical UUID");
    expect_text("attempt as a string",
                "{v:1, type:'job', job_id:'" U_JOB "', template_id:'" U_TPL "', kind:'volume.delete', "
                "attempt:'1', timeout_s:60, args:" REF "}",
                -VMS_E_MSG_BAD_TYPE, "job.attempt: expected an integer, got string");
    expect_text("negative attempt",
                "{v:1, type:'job', job_id:'" U_JOB "', template_id:'" U_TPL "', kind:'volume.delete', "
                "attempt:-1, timeout_s:60, args:" REF "}",
                -VMS_E_MSG_BAD_VALUE, "job.attempt: -1 out of range");
    expect_text("attempt 0",
                "{v:1, type:'job', job_id:'" U_JOB "', template_id:'" U_TPL "', kind:'volume.delete', "
                "attempt:0, timeout_s:60, args:" REF "}",
                -VMS_E_MSG_BAD_VALUE, "job.attempt: 0 out of range, must be 1..");
    expect_text("timeout 0",
                "{v:1, type:'job', job_id:'" U_JOB "', template_id:'" U_TPL "', kind:'volume.delete', "
                "attempt:1, timeout_s:0, args:" REF "}",
                -VMS_E_MSG_BAD_VALUE, "job.timeout_s: 0 out of range");
    expect_text("missing args", "{" JOB("volume.delete") "x:1}", -VMS_E_MSG_MISSING_KEY, "job.args: missing");
    expect_text("args not a map", "{" JOB("volume.delete") "args:[]}", -VMS_E_MSG_BAD_TYPE,
                "job.args: expected a map, got array");
    expect_text("missing nested key",
                "{" JOB("volume.copy") "args:{sd_id:'" U_SD "', src:{img_id:'" U_IMG "', vol_id:'" U_VOL "'}, "
                                       "dst:{sd_id:'" U_SD "', vol_id:'" U_VOL "'}, format:'RAW'}}",
                -VMS_E_MSG_MISSING_KEY, "job.args.dst.img_id: missing");
    expect_text("generation 1000",
                "{" JOB("volume.update") "args:{sd_id:'" U_SD "', img_id:'" U_IMG "', vol_id:'" U_VOL "', "
                                         "generation:1000, legality:'LEGAL'}}",
                -VMS_E_MSG_BAD_VALUE, "job.args.generation: 1000 out of range, must be 0..999");
    expect_text("update with nothing to change", UPDATE(""), -VMS_E_MSG_MISSING_KEY,
                "job.args: nothing to update");
    expect_text("legality in lower case", UPDATE(", legality:'legal'"), -VMS_E_MSG_BAD_VALUE,
                "job.args.legality: unknown value \"legal\"");
    expect_text("voltype unknown", UPDATE(", voltype:'BASE'"), -VMS_E_MSG_BAD_VALUE,
                "job.args.voltype: unknown value \"BASE\"");
    _cleanup_free_ char *d211 = repeat('d', 211);
    _cleanup_free_ char *long_desc = xasprintf(UPDATE(", description:'%s'"), d211);
    expect_text("description of 211 bytes", long_desc, -VMS_E_MSG_BAD_VALUE,
                "job.args.description: 211 bytes, must be 0..210");
    expect_text("description with a newline", UPDATE(", description:'a\nGEN=5'"), -VMS_E_MSG_BAD_VALUE,
                "job.args.description: control character at byte 1");
    expect_text("seal without disks", SEAL("", ""), -VMS_E_MSG_BAD_VALUE,
                "job.args.disks: 0 elements, must be 1..64");
    _cleanup_free_ char *many = xmalloc(65 * (sizeof(REF) + 1));
    many[0] = '\0';
    for (int i = 0; i < 65; i++)
        strcat(strcat(many, i ? "," : ""), REF);
    _cleanup_free_ char *seal65 = xasprintf("{" JOB("vm.seal") "args:{disks:[%s]}}", many);
    expect_text("seal with 65 disks", seal65, -VMS_E_MSG_BAD_VALUE, "job.args.disks: 65 elements, must be 1..64");
    expect_text("disk not a map", SEAL("'" U_VOL "'", ""), -VMS_E_MSG_BAD_TYPE,
                "job.args.disks[0]: expected a map, got string");
    expect_text("second disk bad uuid", SEAL(REF ", {sd_id:'" U_SD "', img_id:'nope', vol_id:'" U_VOL "'}", ""),
                -VMS_E_BAD_UUID, "job.args.disks[1].img_id: not a canonical UUID");
    expect_text("sysprep op name", SEAL(REF, "enable:['ssh_hostkeys']"), -VMS_E_MSG_BAD_VALUE,
                "job.args.sysprep.enable[0]: invalid character at byte 3");
    expect_text("sysprep op both enabled and disabled", SEAL(REF, "enable:['tmp-files'], disable:['tmp-files']"),
                -VMS_E_MSG_BAD_VALUE, "job.args.sysprep.disable: \"tmp-files\" is also in enable");
    expect_text("sysprep op added by operations and disabled",
                SEAL(REF, "operations:['defaults', 'tmp-files'], disable:['tmp-files']"), -VMS_E_MSG_BAD_VALUE,
                "job.args.sysprep.disable: \"tmp-files\" is also in operations");
    expect_text("sysprep operations entry", SEAL(REF, "operations:['-Tmp']"), -VMS_E_MSG_BAD_VALUE,
                "job.args.sysprep.operations[0]: invalid character at byte 1");
    expect_text("sysprep operations not an array", SEAL(REF, "operations:'defaults'"), -VMS_E_MSG_BAD_TYPE,
                "job.args.sysprep.operations: expected an array, got string");
    expect_text("sysprep operations entry empty", SEAL(REF, "operations:['']"), -VMS_E_MSG_BAD_VALUE,
                "job.args.sysprep.operations[0]: must not be empty");
    expect_text("sysprep hostname", SEAL(REF, "hostname:'-bad-'"), -VMS_E_MSG_BAD_VALUE,
                "job.args.sysprep.hostname: not a valid RFC 1123 host name");
    expect_text("sysprep allow_missing relative", SEAL(REF, "allow_missing:['var']"), -VMS_E_MSG_BAD_VALUE,
                "job.args.sysprep.allow_missing: \"var\" is not an absolute mount point");
    expect_text("sysprep allow_missing not an array", SEAL(REF, "allow_missing:'/var'"), -VMS_E_MSG_BAD_TYPE,
                "job.args.sysprep.allow_missing: expected an array, got string");
    expect_text("sysprep selinux_relabel as a string", SEAL(REF, "selinux_relabel:'yes'"), -VMS_E_MSG_BAD_TYPE,
                "job.args.sysprep.selinux_relabel: expected a bool, got string");
}

static void event_cases(void) {
    expect_text("progress 101", EVENT(", state:'progress', progress:101"), -VMS_E_MSG_BAD_VALUE,
                "event.progress: 101 out of range, must be 0..100");
    expect_text("progress -1", EVENT(", state:'progress', progress:-1"), -VMS_E_MSG_BAD_VALUE,
                "event.progress: -1 out of range");
    expect_text("job event with a template state", EVENT(", state:'ready'"), -VMS_E_MSG_BAD_VALUE,
                "event.state: \"ready\" is a template state");
    expect_text("unknown state", EVENT(", state:'paused'"), -VMS_E_MSG_BAD_VALUE,
                "event.state: unknown value \"paused\"");
    expect_text("missing state", EVENT(""), -VMS_E_MSG_MISSING_KEY, "event.state: missing");
    expect_text("result value an array", EVENT(", state:'succeeded', result:{files:[1]}"), -VMS_E_MSG_BAD_TYPE,
                "event.result.files: expected a string, integer or bool, got array");
    expect_text("error without permanent", EVENT(", state:'failed', error:{code:'timeout', message:'m'}"),
                -VMS_E_MSG_MISSING_KEY, "event.error.permanent: missing");
    expect_text("error code with spaces",
                EVENT(", state:'failed', error:{code:'a b', message:'', permanent:true}"), -VMS_E_MSG_BAD_VALUE,
                "event.error.code: invalid character at byte 1");
    expect_text("ts_ms above INT64_MAX",
                "{v:1, type:'event', event_id:'" U_JOB "', template_id:'" U_TPL "', worker_id:'p', "
                "state:'ready', ts_ms:18446744073709551615}",
                -VMS_E_MSG_BAD_VALUE, "event.ts_ms: too large");
    expect_text("worker_id with a newline",
                "{v:1, type:'event', event_id:'" U_JOB "', template_id:'" U_TPL "', "
                "worker_id:'w\n1', state:'ready', ts_ms:1}",
                -VMS_E_MSG_BAD_VALUE, "event.worker_id: control character");
}

static void heartbeat_and_request_cases(void) {
    expect_text("heartbeat host name", HB(", host:'host_1'" HB_OK_POOLS), -VMS_E_MSG_BAD_VALUE,
                "worker.heartbeat.host: invalid character at byte 4");
    expect_text("heartbeat host label too long",
                HB(", host:'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b'" HB_OK_POOLS),
                -VMS_E_MSG_BAD_VALUE, "worker.heartbeat.host: not a valid RFC 1123 host name");
    expect_text("heartbeat pool name", HB(", host:'h', pools:['Default'], sd_ids:[], running:[]"),
                -VMS_E_MSG_BAD_VALUE, "worker.heartbeat.pools[0]: invalid character at byte 0");
    expect_text("heartbeat running id", HB(", host:'h', pools:['p'], sd_ids:[], running:['" U_JOB "', 'x']"),
                -VMS_E_BAD_UUID, "worker.heartbeat.running[1]: not a canonical UUID");
    expect_text("heartbeat negative slots",
                "{v:1, type:'worker.heartbeat', worker_id:'w1', version:'0.1', "
                "libguestfs_version:'', slots:-2, host:'h'" HB_OK_POOLS ", ts_ms:1}",
                -VMS_E_MSG_BAD_VALUE, "worker.heartbeat.slots: -2 out of range");
    expect_text("create: seal as an integer",
                "{v:1, type:'template.create', template_id:'" U_TPL "', name:'t', disks:[" REF "], seal:1}",
                -VMS_E_MSG_BAD_TYPE, "template.create.seal: expected a bool, got int");
    expect_text("create: no disks", "{v:1, type:'template.create', template_id:'" U_TPL "', name:'t', seal:true}",
                -VMS_E_MSG_MISSING_KEY, "template.create.disks: missing");
    expect_text("create: empty name",
                "{v:1, type:'template.create', template_id:'" U_TPL "', name:'', disks:[" REF "], seal:true}",
                -VMS_E_MSG_BAD_VALUE, "template.create.name: must not be empty");
    expect_text("create: name not UTF-8",
                "{v:1, type:'template.create', template_id:'" U_TPL "', name:'caf\xe9', disks:[" REF
                "], seal:true}",
                -VMS_E_MSG_BAD_VALUE, "template.create.name: not valid UTF-8");
    expect_text("create: bad target_sd_id",
                "{v:1, type:'template.create', template_id:'" U_TPL "', name:'t', disks:[" REF "], seal:true, "
                "target_sd_id:''}",
                -VMS_E_BAD_UUID, "template.create.target_sd_id: not a canonical UUID");
}

void test_malformed(void **state) {
    n_cases = 0;
    structural_cases();
    envelope_cases();
    job_cases();
    event_cases();
    heartbeat_and_request_cases();
    print_message("%d malformed inputs rejected as expected\n", n_cases);
    assert_true(n_cases >= 25);
}

/* Every strict prefix of a valid message is truncated; byte mutations never
 * crash or leak (whatever the verdict). */
void test_truncated_everywhere(void **state) {
    size_t len;
    _cleanup_free_ char *seal = mp(SEAL(REF "," REF, "enable:['a'], hostname:'h'"), &len);
    struct proto_msg m;
    char why[ERR_WHY_LEN];
    assert_int_equal(proto_decode(seal, len, &m, why), 0);
    proto_msg_free(&m);
    for (size_t cut = 0; cut < len; cut++) {
        int r = proto_decode(seal, cut, &m, why);
        if (r != -VMS_E_MSG_TRUNCATED)
            fail_msg("prefix of %zu bytes: %s (%s)", cut, err_name(r), why);
        proto_msg_free(&m);
    }
    static const uint8_t flips[] = { 0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xc3, 0xd3, 0xdb, 0xdd, 0xdf, 0xff };
    _cleanup_free_ char *copy = xmalloc(len);
    for (size_t i = 0; i < len; i++)
        for (size_t f = 0; f < sizeof(flips); f++) {
            memcpy(copy, seal, len);
            copy[i] = (char)flips[f];
            (void)proto_decode(copy, len, &m, why);
            proto_msg_free(&m);
        }
}

/* Random mutations (byte set, bit flip, insert, delete) of valid messages:
 * never a crash or leak, and whatever a decoder accepts its encoder can
 * write again (a fixed seed keeps failures reproducible). */
void test_mutations(void **state) {
    static const char *const seeds[] = {
        SEAL(REF "," REF, "enable:['a'], disable:['b'], hostname:'h', selinux_relabel:false"),
        SEAL(REF, "operations:['defaults', '-b'], allow_missing:['/srv']"),
        COPY(U_VOL),
        EVENT(", state:'failed', progress:3, step:'s', error:{code:'x', message:'m', permanent:true}, "
              "result:{a:1, b:'s', c:false}"),
        HB(", host:'h.example', pools:['p'], sd_ids:['" U_SD "'], running:['" U_JOB "'], ts_ms:5"),
        "{v:1, type:'template.create', template_id:'" U_TPL "', name:'t', disks:[" REF "], seal:true, "
        "sysprep:{enable:['x']}}",
    };
    unsigned rng = 12345;
    uint8_t buf[2048];
    size_t accepted = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n;
        _cleanup_free_ char *seed = mp(seeds[it % ARRAY_SIZE(seeds)], &n);
        assert_true(n < sizeof(buf) - 8);
        memcpy(buf, seed, n);
        for (int k = 0; k < 1 + it % 3; k++) {
            rng = rng * 1103515245u + 12345u;
            size_t pos = (rng >> 8) % n;
            uint8_t byte = (uint8_t)(rng >> 20);
            switch ((rng >> 4) % 4) {
            case 0: buf[pos] = byte; break;
            case 1: buf[pos] ^= (uint8_t)(1u << (byte % 8)); break;
            case 2:
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = byte;
                n++;
                break;
            case 3:
                if (n > 1) {
                    memmove(buf + pos, buf + pos + 1, n - pos - 1);
                    n--;
                }
                break;
            }
        }
        struct proto_msg m;
        char why[ERR_WHY_LEN];
        if (proto_decode(buf, n, &m, why) == 0) {
            char *out = NULL;
            size_t out_len;
            int r = proto_encode(&m, &out, &out_len);
            if (r < 0)
                fail_msg("iteration %d: decoded but cannot be encoded again: %s", it, err_name(r));
            free(out);
            accepted++;
        }
        proto_msg_free(&m);
    }
    print_message("%zu of 20000 mutated messages were still valid\n", accepted);
}

/* The limits themselves are accepted. */
void test_limits(void **state) {
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    size_t len;
    _cleanup_free_ char *deep = nested(15);
    _cleanup_free_ char *deep_buf = mp(deep, &len);
    if (proto_decode(deep_buf, len, &m, why) < 0)
        fail_msg("depth 16: %s", why);
    proto_msg_free(&m);

    _cleanup_free_ char *max = padded(PROTO_MAX_BYTES, &len);
    if (proto_decode(max, len, &m, why) < 0)
        fail_msg("exactly 1 MiB: %s", why);
    proto_msg_free(&m);

    _cleanup_free_ char *d210 = repeat('d', 210);
    _cleanup_free_ char *desc = xasprintf(UPDATE(", description:'%s'"), d210);
    _cleanup_free_ char *desc_buf = mp(desc, &len);
    if (proto_decode(desc_buf, len, &m, why) < 0)
        fail_msg("description of 210 bytes: %s", why);
    assert_int_equal(strlen(m.u.job.args.update.description), 210);
    proto_msg_free(&m);

    _cleanup_free_ char *unknown = mp("{" CANCEL ", f:1.5, b:nil, m:{a:[true, -7, 'x']}, 'k\xc3\xa9':1}", &len);
    if (proto_decode(unknown, len, &m, why) < 0)
        fail_msg("unknown keys of any type: %s", why);
    proto_msg_free(&m);

    _cleanup_free_ char *edge = mp(EVENT(", state:'progress', progress:100, result:{}"), &len);
    if (proto_decode(edge, len, &m, why) < 0)
        fail_msg("progress 100: %s", why);
    assert_int_equal(m.u.event.progress, 100);
    assert_int_equal(m.u.event.n_result, 0);
    proto_msg_free(&m);
}
