/* test_proto_files.c - what a seal did (struct proto_files, proto.h): the
 * bounded builder, hostile guest names through the escaped form, the
 * decoders' checks (never a silent cut), and the worst case against the
 * 1 MiB message limit. */
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
#define EVENT_FILES(files)                                                                    \
    "{v:1, type:'event', event_id:'" U_JOB "', job_id:'" U_JOB "', template_id:'" U_TPL "', " \
    "worker_id:'w1', state:'succeeded', files:" files ", ts_ms:1}"

/* Encode f in a vm.seal job's final event, decode it again. */
static int event_roundtrip(const struct proto_files *f, struct proto_files *ret, size_t *ret_len) {
    struct proto_event ev = { .event_id = U_JOB, .job_id = U_JOB, .template_id = U_TPL, .worker_id = "w1" };
    ev.state = EV_SUCCEEDED;
    ev.progress = -1;
    ev.files = (struct proto_files *)f;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = proto_encode_event(&ev, &buf, &len);
    if (r < 0)
        return r;
    struct proto_event out;
    char why[ERR_WHY_LEN] = "";
    r = proto_decode_event(buf, len, &out, why);
    if (r < 0)
        fail_msg("decoding an encoded event: %s", why);
    assert_non_null(out.files);
    *ret = *out.files;
    memset(out.files, 0, sizeof *out.files);
    proto_event_free(&out);
    if (ret_len)
        *ret_len = len;
    return 0;
}

static int64_t counted(const struct proto_files *f) {
    int64_t n = 0;
    for (size_t i = 0; i < f->n_ops; i++)
        n += f->ops[i].removed + f->ops[i].changed;
    return n;
}

/* Counts always; paths as far as the bounds go, the rest marked. */
void test_files_builder(void **state) {
    (void)state;
    struct proto_files f = { 0 };
    assert_int_equal(proto_files_add(&f, "logfiles", FILE_REMOVED, "/var", "/var/log/syslog"), 0);
    assert_int_equal(proto_files_add(&f, "hostname", FILE_CHANGED, "/", "/etc/hostname"), 0);
    assert_int_equal(proto_files_add(&f, "logfiles", FILE_REMOVED, "/var", "/var/log/wtmp"), 0);
    assert_int_equal(f.n_ops, 2);
    assert_string_equal(f.ops[0].name, "logfiles"); /* first met first */
    assert_int_equal(f.ops[0].removed, 2);
    assert_int_equal(f.ops[1].changed, 1);
    assert_int_equal(f.n_paths, 3);
    assert_false(f.truncated);
    assert_int_equal(f.path_bytes, strlen("/var/var/log/syslog//etc/hostname/var/var/log/wtmp"));

    /* not an operation name, or an operation too many: nothing counted */
    assert_int_equal(proto_files_add(&f, "Logfiles", FILE_REMOVED, "/", "/x"), -VMS_E_INVALID);
    assert_int_equal(proto_files_add(&f, "", FILE_REMOVED, "/", "/x"), -VMS_E_INVALID);
    assert_int_equal(proto_files_add(&f, NULL, FILE_REMOVED, "/", "/x"), -VMS_E_INVALID);
    assert_int_equal(counted(&f), 3);
    struct proto_files many = { 0 };
    for (int i = 0; i < PROTO_FILES_OPS_MAX; i++) {
        char op[16];
        snprintf(op, sizeof op, "op-%d", i);
        assert_int_equal(proto_files_add(&many, op, FILE_CHANGED, "/", "/etc/x"), 0);
    }
    assert_int_equal(proto_files_add(&many, "one-more", FILE_CHANGED, "/", "/etc/x"), -VMS_E_INVALID);
    assert_int_equal(proto_files_add(&many, "op-0", FILE_CHANGED, "/", "/etc/x"),
                     0); /* a known one still counts */
    proto_files_free(&many);

    /* not listable: counted, truncated */
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", ""), 0);          /* too long to carry */
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", "/tmp/a\nb"), 0); /* not escaped */
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", "/tmp/a\\b"), 0); /* a lone backslash */
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, NULL, "/tmp/c"), 0);   /* no mount point */
    assert_int_equal(f.n_paths, 3);
    assert_int_equal(f.ops[2].removed, 4);
    assert_true(f.truncated);

    struct proto_files back;
    assert_int_equal(event_roundtrip(&f, &back, NULL), 0);
    assert_int_equal(back.n_ops, 3);
    assert_int_equal(back.n_paths, 3);
    assert_true(back.truncated);
    assert_int_equal(back.path_bytes, f.path_bytes);
    for (size_t i = 0; i < f.n_paths; i++) {
        assert_string_equal(back.paths[i].op, f.paths[i].op);
        assert_int_equal(back.paths[i].action, f.paths[i].action);
        assert_string_equal(back.paths[i].mountpoint, f.paths[i].mountpoint);
        assert_string_equal(back.paths[i].path, f.paths[i].path);
    }
    proto_files_free(&back);

    /* the counts stay when the paths go */
    proto_files_drop_paths(&f);
    assert_int_equal(f.n_paths, 0);
    assert_true(f.truncated);
    assert_int_equal(counted(&f), 7);
    assert_int_equal(event_roundtrip(&f, &back, NULL), 0);
    proto_files_free(&back);
    proto_files_free(&f);
    proto_files_free(NULL);

    /* nothing done is an empty list, not truncated */
    assert_int_equal(event_roundtrip(&f, &back, NULL), 0);
    assert_int_equal(back.n_ops + back.n_paths, 0);
    assert_false(back.truncated);
    proto_files_free(&back);
}

/* Every byte a guest may put in a name (all but NUL) survives the escaped
 * form: nothing raw reaches the wire, and the original bytes come back. */
void test_files_hostile(void **state) {
    (void)state;
    char raw[256], esc[4 * sizeof raw + 1];
    raw[0] = '/';
    for (int i = 1; i < 255; i++)
        raw[i] = (char)(i + 1); /* 0x02..0xff */
    raw[255] = '\0';
    struct proto_files f = { 0 }, back;
    str_escape(raw, esc, sizeof esc);
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", esc), 0);
    str_escape("/var/tmp/two\nlines \x1b[2J\x01", esc, sizeof esc);
    assert_string_equal(esc, "/var/tmp/two\\x0alines \\x1b[2J\\x01");
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/srv/My Data\\x0a", esc), 0);
    assert_int_equal(f.n_paths, 2);
    assert_false(f.truncated);

    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    assert_int_equal(proto_files_encode(&f, &buf, &len), 0);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\x1b' || buf[i] == '\n') /* (0x0a is also a fixmap header; none here) */
            fail_msg("a raw control byte at offset %zu of the encoding", i);
    char why[ERR_WHY_LEN] = "";
    assert_int_equal(proto_files_decode(buf, len, &back, why), 0);
    assert_string_equal(back.paths[1].path, "/var/tmp/two\\x0alines \\x1b[2J\\x01");
    assert_string_equal(back.paths[1].mountpoint, "/srv/My Data\\x0a");
    /* unescaping gives the guest's bytes back */
    const char *p = back.paths[0].path;
    char orig[256];
    size_t n = 0;
    while (*p) {
        unsigned v;
        if (*p == '\\' && sscanf(p, "\\x%2x", &v) == 1) {
            orig[n++] = (char)v;
            p += 4;
        } else {
            orig[n++] = *p++;
        }
    }
    orig[n] = '\0';
    assert_string_equal(orig, raw);
    proto_files_free(&back);
    proto_files_free(&f);
}

/* The bounds: at most PROTO_FILES_PATHS_MAX paths and PROTO_FILES_BYTES_MAX
 * bytes listed; the worst case stays far below the 1 MiB message limit. */
void test_files_bounds(void **state) {
    (void)state;
    struct proto_files f = { 0 }, back;
    char path[PROTO_FILE_PATH_MAX + 2], op[PROTO_FILES_OPS_MAX + 1];
    for (int i = 0; i < PROTO_FILES_PATHS_MAX + 200; i++)
        assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", "/tmp/x"), 0);
    assert_int_equal(f.n_paths, PROTO_FILES_PATHS_MAX);
    assert_int_equal(f.ops[0].removed, PROTO_FILES_PATHS_MAX + 200);
    assert_true(f.truncated);
    proto_files_free(&f);

    /* a path of the longest length is listed, one byte more is counted only */
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[PROTO_FILE_PATH_MAX] = '\0';
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", path), 0);
    assert_int_equal(f.n_paths, 1);
    path[PROTO_FILE_PATH_MAX] = 'a';
    path[PROTO_FILE_PATH_MAX + 1] = '\0';
    assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", path), 0);
    assert_int_equal(f.n_paths, 1);
    assert_true(f.truncated);
    proto_files_free(&f);

    /* the byte bound: long paths stop being listed at 128 KiB */
    path[PROTO_FILE_PATH_MAX] = '\0';
    for (int i = 0; i < 100; i++)
        assert_int_equal(proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", path), 0);
    assert_int_equal(f.n_paths, PROTO_FILES_BYTES_MAX / (PROTO_FILE_PATH_MAX + 1));
    assert_true(f.path_bytes <= PROTO_FILES_BYTES_MAX);
    assert_true(f.truncated);
    proto_files_free(&f);

    /* worst case: every operation, longest names, the bounds filled */
    size_t each = PROTO_FILES_BYTES_MAX / PROTO_FILES_PATHS_MAX - 1;
    memset(path, 'b', each);
    path[0] = '/';
    path[each] = '\0';
    for (int i = 0; i < PROTO_FILES_PATHS_MAX; i++) {
        snprintf(op, sizeof op, "%.61s-%02d", path + 1, i % PROTO_FILES_OPS_MAX); /* 64 names of 64 bytes */
        assert_int_equal(proto_files_add(&f, op, i % 2 ? FILE_CHANGED : FILE_REMOVED, "/", path), 0);
    }
    assert_int_equal(f.n_paths, PROTO_FILES_PATHS_MAX);
    assert_false(f.truncated);
    size_t len = 0;
    assert_int_equal(event_roundtrip(&f, &back, &len), 0);
    assert_true(len < PROTO_MAX_BYTES / 4);
    print_message("worst-case files event: %zu bytes\n", len);
    proto_files_free(&back);
    proto_files_free(&f);
}

static void expect_files_reject(const char *name, const char *text, int code, const char *want) {
    size_t len;
    _cleanup_free_ char *buf = mp(text, &len);
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    int r = proto_decode(buf, len, &m, why);
    proto_msg_free(&m);
    if (r != code || !strstr(why, want))
        fail_msg("case \"%s\": got %s why \"%s\"; want %s with \"%s\"", name, err_name(r), why, err_name(code),
                 want);
}

/* An event with n paths of path_len bytes each (and mount point "/"). */
static void expect_paths_reject(int n, size_t path_len, const char *want) {
    _cleanup_free_ char *path = xmalloc(path_len + 1), *paths = xstrdup("");
    memset(path, 'p', path_len);
    path[path_len] = '\0';
    for (int i = 0; i < n; i++) {
        char *more =
            xasprintf("%s%s{op:'a', action:'removed', mountpoint:'/', path:'%s'}", paths, i ? ", " : "", path);
        free(paths);
        paths = more;
    }
    _cleanup_free_ char *files =
        xasprintf("{ops:[{name:'a', removed:%d, changed:0}], paths:[%s], truncated:false}", n, paths);
    _cleanup_free_ char *text = xasprintf(EVENT_FILES("%s"), files);
    expect_files_reject("bounds", text, -VMS_E_MSG_BAD_VALUE, want);
}

#define OPS1   "ops:[{name:'tmp-files', removed:2, changed:0}]"
#define PATH_A "{op:'tmp-files', action:'removed', mountpoint:'/', path:'/tmp/a'}"

/* The decoders' checks: never a silent cut, never a raw guest byte. */
void test_files_malformed(void **state) {
    (void)state;
    size_t len;
    _cleanup_free_ char *ok = mp(EVENT_FILES("{" OPS1 ", paths:[" PATH_A "], truncated:true}"), &len);
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    if (proto_decode(ok, len, &m, why) < 0)
        fail_msg("the valid case does not decode: %s", why);
    proto_msg_free(&m);

    expect_files_reject("not a map", EVENT_FILES("[]"), -VMS_E_MSG_BAD_TYPE, "event.files: expected a map");
    expect_files_reject("no truncated", EVENT_FILES("{" OPS1 ", paths:[" PATH_A "]}"), -VMS_E_MSG_MISSING_KEY,
                        "event.files.truncated");
    expect_files_reject("silent cut", EVENT_FILES("{" OPS1 ", paths:[" PATH_A "], truncated:false}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.truncated: false, but the paths listed are fewer");
    expect_files_reject("false marker",
                        EVENT_FILES("{" OPS1 ", paths:[" PATH_A ", " PATH_A ", " PATH_A "], truncated:false}"),
                        -VMS_E_MSG_BAD_VALUE, "more paths of \"tmp-files\" than its counts");
    expect_files_reject(
        "truncated, not cut",
        EVENT_FILES("{ops:[{name:'tmp-files', removed:1, changed:0}], paths:[" PATH_A "], truncated:true}"),
        -VMS_E_MSG_BAD_VALUE, "true, but the paths listed are all of the counts");
    expect_files_reject(
        "action counted apart",
        EVENT_FILES("{ops:[{name:'tmp-files', removed:0, changed:1}], paths:[" PATH_A "], truncated:true}"),
        -VMS_E_MSG_BAD_VALUE, "more paths of \"tmp-files\"");
    expect_files_reject("unknown op",
                        EVENT_FILES("{" OPS1 ", paths:[{op:'logfiles', action:'removed', mountpoint:'/', "
                                    "path:'/x'}], truncated:true}"),
                        -VMS_E_MSG_BAD_VALUE,
                        "event.files.paths: \"logfiles\" of path 0 is not in event.files.ops");
    expect_files_reject("op twice",
                        EVENT_FILES("{ops:[{name:'a', removed:0, changed:0}, {name:'a', removed:0, changed:0}], "
                                    "paths:[], truncated:false}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.ops: \"a\" is listed twice");
    expect_files_reject("negative count",
                        EVENT_FILES("{ops:[{name:'a', removed:-1, changed:0}], paths:[], truncated:false}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.ops[0].removed");
    expect_files_reject("bad op name",
                        EVENT_FILES("{ops:[{name:'A b', removed:0, changed:0}], paths:[], truncated:false}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.ops[0].name");
    expect_files_reject("unknown action",
                        EVENT_FILES("{" OPS1 ", paths:[{op:'tmp-files', action:'moved', mountpoint:'/', "
                                    "path:'/x'}], truncated:true}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.paths[0].action");
    expect_files_reject("raw newline",
                        EVENT_FILES("{" OPS1 ", paths:[{op:'tmp-files', action:'removed', mountpoint:'/', "
                                    "path:'/tmp/a\nb'}], truncated:true}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.paths[0].path: control character");
    expect_files_reject("raw C1",
                        EVENT_FILES("{" OPS1 ", paths:[{op:'tmp-files', action:'removed', mountpoint:'/', "
                                    "path:'/tmp/a\xc2\x9b"
                                    "2J'}], truncated:true}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.paths[0].path: not in the escaped form");
    expect_files_reject("lone backslash",
                        EVENT_FILES("{" OPS1 ", paths:[{op:'tmp-files', action:'removed', mountpoint:'\\\\', "
                                    "path:'/x'}], truncated:true}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.paths[0].mountpoint: not in the escaped form");
    expect_files_reject("invalid UTF-8",
                        EVENT_FILES("{" OPS1 ", paths:[{op:'tmp-files', action:'removed', mountpoint:'/', "
                                    "path:'/tmp/\xff'}], truncated:true}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.paths[0].path: not valid UTF-8");
    expect_files_reject("empty path",
                        EVENT_FILES("{" OPS1 ", paths:[{op:'tmp-files', action:'removed', mountpoint:'/', "
                                    "path:''}], truncated:true}"),
                        -VMS_E_MSG_BAD_VALUE, "event.files.paths[0].path");

    /* more paths than PROTO_FILES_PATHS_MAX, more bytes than PROTO_FILES_BYTES_MAX */
    expect_paths_reject(PROTO_FILES_PATHS_MAX + 1, 1, "event.files.paths: 1001 elements, must be 0..1000");
    expect_paths_reject(40, 4000, "event.files.paths: 160040 bytes of mount points and paths, at most 131072");
}
