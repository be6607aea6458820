/* test_proto.c - round trips and golden byte vectors of every v1 message.
 *
 * The golden vectors in golden/NAME.hex pin the wire format: the encoders must
 * produce exactly these bytes (fixed key order, smallest encodings), and the
 * decoders must read them back into the same structs.  A deliberate format
 * change regenerates them with VMSEAL_GOLDEN_WRITE=1 (see proto/README.md);
 * the new files are then reviewed in the diff like code. */
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
#define U_EVT "c0ffee00-1234-4abc-8def-0123456789ab"
#define U_SD1 "5d0a4c2e-8f3b-4e1d-9c7a-6b5e4d3c2b1a"
#define U_SD2 "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4"
#define U_IMG "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
#define U_VOL "3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e"
#define U_IM2 "4c5d6e7f-8091-4cad-9e2f-3a4b5c6d7e8f"
#define U_VO2 "5d6e7f80-91a2-4dbe-8f3a-4b5c6d7e8f90"

static char *ops_enable[] = { "ssh-hostkeys", "machine-id" };
static char *ops_disable[] = { "tmp-files" };
static char *allow_missing1[] = { "/srv/data" };
static char *operations3[] = { "defaults", "firewall-rules", "-tmp-files" };

static struct proto_vol_ref disks2[] = {
    { U_SD1, U_IMG, U_VOL },
    { U_SD2, U_IM2, U_VO2 },
};

/* engine-chosen ids of the new volumes: the second disk leaves them to the producer */
static struct proto_new_vol new_vols2[] = {
    { "6e7f8091-a2b3-4cdf-9a4b-5c6d7e8f9012", "7f8091a2-b3c4-4de0-8b5c-6d7e8f901234" },
    { "", "" },
};

static struct proto_event_volume volumes2[] = {
    { { U_SD2, "6e7f8091-a2b3-4cdf-9a4b-5c6d7e8f9012", "7f8091a2-b3c4-4de0-8b5c-6d7e8f901234" },
      VOL_STATE_PRESENT,
      LEGALITY_LEGAL,
      VOLTYPE_SHARED },
    { { U_SD2, U_IM2, U_VO2 }, VOL_STATE_PRESENT, LEGALITY_LEGAL, VOLTYPE_SHARED },
};

/* ---- samples ------------------------------------------------------------ */

static void sample_create(struct proto_template_create *m, bool full) {
    memset(m, 0, sizeof(*m));
    strcpy(m->template_id, U_TPL);
    m->name = "rhel9-golden";
    m->disks = disks2;
    m->n_disks = full ? 2 : 1;
    m->seal = full;
    if (full) {
        strcpy(m->target_sd_id, U_SD2);
        m->has_sysprep = true;
        m->sysprep = (struct proto_sysprep){ ops_enable, 2, ops_disable, 1, "tpl-host", false, NULL, 0, NULL, 0 };
    }
}

static void sample_job(struct proto_job *m, enum job_kind kind) {
    memset(m, 0, sizeof(*m));
    strcpy(m->job_id, U_JOB);
    strcpy(m->template_id, U_TPL);
    m->kind = kind;
    m->attempt = 2;
    m->timeout_s = 3600;
    switch (kind) {
    case JOB_VOLUME_COPY:
        strcpy(m->args.copy.sd_id, U_SD1);
        strcpy(m->args.copy.src_img_id, U_IMG);
        strcpy(m->args.copy.src_vol_id, U_VOL);
        m->args.copy.dst = disks2[1];
        m->args.copy.format = FORMAT_COW;
        break;
    case JOB_VOLUME_UPDATE:
        m->args.update.vol = disks2[0];
        m->args.update.generation = 999;
        m->args.update.legality = LEGALITY_LEGAL;
        m->args.update.voltype = VOLTYPE_SHARED;
        m->args.update.description = "sealed template disk";
        break;
    case JOB_VOLUME_DELETE: m->args.del.vol = disks2[1]; break;
    case JOB_VM_SEAL:
        m->args.seal.disks = disks2;
        m->args.seal.n_disks = 2;
        m->args.seal.sysprep =
            (struct proto_sysprep){ ops_enable, 2, NULL, 0, NULL, true, allow_missing1, 1, NULL, 0 };
        break;
    }
}

static struct proto_kv result3[] = {
    { "cap_bytes", KV_INT, NULL, 10737418240 },
    { "format", KV_STR, "COW", 0 },
    { "sparse", KV_BOOL, NULL, 1 },
};

/* What a seal did: a hostile name (escaped), a path on /home, a cut list. */
static struct proto_file_op files_ops[] = { { "tmp-files", 3, 0 }, { "hostname", 0, 1 } };
static struct proto_file files_paths[] = {
    { "tmp-files", FILE_REMOVED, "/", "/var/tmp/two\\x0alines \\x1b[2J" },
    { "tmp-files", FILE_REMOVED, "/home", "/home/bob/caf\xc3\xa9 \\xff" },
    { "hostname", FILE_CHANGED, "/", "/etc/hostname" },
};
static struct proto_files files4 = { files_ops, 2, files_paths, 3, 0, true };

/* variant 0: job progress event; 1: job failed with error and result;
 * 2: template event (no job_id); 3: template ready with its volumes;
 * 4: a seal's final event with its files */
static void sample_event(struct proto_event *m, int variant) {
    memset(m, 0, sizeof(*m));
    strcpy(m->event_id, U_EVT);
    strcpy(m->template_id, U_TPL);
    bool job = variant < 2 || variant == 4;
    m->worker_id = job ? "host1.example.com" : "producer-1";
    m->ts_ms = 1764201600123;
    m->progress = -1;
    if (job)
        strcpy(m->job_id, U_JOB);
    if (variant == 0) {
        m->state = EV_PROGRESS;
        m->progress = 42;
        m->step = "ssh-hostkeys";
    } else if (variant == 1) {
        m->state = EV_FAILED;
        m->has_error = true;
        m->error.code = "generation_mismatch";
        m->error.message = "volume generation mismatch: expected 4, found 6";
        m->error.permanent = true;
        m->result = result3;
        m->n_result = 3;
    } else if (variant == 2) {
        m->state = EV_ROLLING_BACK;
        m->step = "volume.update";
    } else if (variant == 3) {
        m->state = EV_READY;
        m->step = "done";
        m->volumes = volumes2;
        m->n_volumes = 2;
    } else {
        m->state = EV_SUCCEEDED;
        m->files = &files4;
    }
}

static proto_uuid running1[] = { U_JOB };
static proto_uuid sds2[] = { U_SD1, U_SD2 };
static char *pools1[] = { "default" };

static void sample_heartbeat(struct proto_heartbeat *m) {
    memset(m, 0, sizeof(*m));
    m->worker_id = "host1";
    m->host = "host1.example.com";
    m->version = "0.1.0";
    m->libguestfs_version = "1.48.6";
    m->pools = pools1;
    m->n_pools = 1;
    m->sd_ids = sds2;
    m->n_sd_ids = 2;
    m->slots = 2;
    m->running = running1;
    m->n_running = 1;
    m->ts_ms = 1764201600456;
}

/* ---- comparisons ---------------------------------------------------------- */

static void assert_strv(char *const *a, size_t na, char *const *b, size_t nb) {
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], b[i]);
}

static void assert_refs(const struct proto_vol_ref *a, const struct proto_vol_ref *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].sd_id, b[i].sd_id);
        assert_string_equal(a[i].img_id, b[i].img_id);
        assert_string_equal(a[i].vol_id, b[i].vol_id);
    }
}

static void assert_sysprep(const struct proto_sysprep *a, const struct proto_sysprep *b) {
    assert_strv(a->enable, a->n_enable, b->enable, b->n_enable);
    assert_strv(a->disable, a->n_disable, b->disable, b->n_disable);
    if (a->hostname || b->hostname) {
        assert_non_null(a->hostname);
        assert_non_null(b->hostname);
        assert_string_equal(a->hostname, b->hostname);
    }
    assert_int_equal(a->selinux_relabel, b->selinux_relabel);
    assert_strv(a->allow_missing, a->n_allow_missing, b->allow_missing, b->n_allow_missing);
    assert_strv(a->operations, a->n_operations, b->operations, b->n_operations);
}

static void assert_opt_str(const char *a, const char *b) {
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_create(const struct proto_template_create *a, const struct proto_template_create *b) {
    assert_string_equal(a->template_id, b->template_id);
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->n_disks, b->n_disks);
    assert_refs(a->disks, b->disks, a->n_disks);
    assert_int_equal(a->new_vols != NULL, b->new_vols != NULL);
    for (size_t i = 0; a->new_vols && i < a->n_disks; i++) {
        assert_string_equal(a->new_vols[i].img_id, b->new_vols[i].img_id);
        assert_string_equal(a->new_vols[i].vol_id, b->new_vols[i].vol_id);
    }
    assert_string_equal(a->target_sd_id, b->target_sd_id);
    assert_int_equal(a->seal, b->seal);
    assert_int_equal(a->has_sysprep, b->has_sysprep);
    if (a->has_sysprep)
        assert_sysprep(&a->sysprep, &b->sysprep);
}

static void assert_job(const struct proto_job *a, const struct proto_job *b) {
    assert_string_equal(a->job_id, b->job_id);
    assert_string_equal(a->template_id, b->template_id);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->timeout_s, b->timeout_s);
    switch (a->kind) {
    case JOB_VOLUME_COPY:
        assert_string_equal(a->args.copy.sd_id, b->args.copy.sd_id);
        assert_string_equal(a->args.copy.src_img_id, b->args.copy.src_img_id);
        assert_string_equal(a->args.copy.src_vol_id, b->args.copy.src_vol_id);
        assert_refs(&a->args.copy.dst, &b->args.copy.dst, 1);
        assert_int_equal(a->args.copy.format, b->args.copy.format);
        break;
    case JOB_VOLUME_UPDATE:
        assert_refs(&a->args.update.vol, &b->args.update.vol, 1);
        assert_int_equal(a->args.update.generation, b->args.update.generation);
        assert_int_equal(a->args.update.legality, b->args.update.legality);
        assert_int_equal(a->args.update.voltype, b->args.update.voltype);
        assert_opt_str(a->args.update.description, b->args.update.description);
        break;
    case JOB_VOLUME_DELETE: assert_refs(&a->args.del.vol, &b->args.del.vol, 1); break;
    case JOB_VM_SEAL:
        assert_int_equal(a->args.seal.n_disks, b->args.seal.n_disks);
        assert_refs(a->args.seal.disks, b->args.seal.disks, a->args.seal.n_disks);
        assert_sysprep(&a->args.seal.sysprep, &b->args.seal.sysprep);
        break;
    }
}

static void assert_files(const struct proto_files *a, const struct proto_files *b) {
    assert_int_equal(a->n_ops, b->n_ops);
    for (size_t i = 0; i < a->n_ops; i++) {
        assert_string_equal(a->ops[i].name, b->ops[i].name);
        assert_int_equal(a->ops[i].removed, b->ops[i].removed);
        assert_int_equal(a->ops[i].changed, b->ops[i].changed);
    }
    assert_int_equal(a->n_paths, b->n_paths);
    for (size_t i = 0; i < a->n_paths; i++) {
        assert_string_equal(a->paths[i].op, b->paths[i].op);
        assert_int_equal(a->paths[i].action, b->paths[i].action);
        assert_string_equal(a->paths[i].mountpoint, b->paths[i].mountpoint);
        assert_string_equal(a->paths[i].path, b->paths[i].path);
    }
    assert_int_equal(a->truncated, b->truncated);
}

static void assert_event(const struct proto_event *a, const struct proto_event *b) {
    assert_string_equal(a->event_id, b->event_id);
    assert_string_equal(a->job_id, b->job_id);
    assert_string_equal(a->template_id, b->template_id);
    assert_string_equal(a->worker_id, b->worker_id);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->progress, b->progress);
    assert_opt_str(a->step, b->step);
    assert_int_equal(a->has_error, b->has_error);
    if (a->has_error) {
        assert_string_equal(a->error.code, b->error.code);
        assert_string_equal(a->error.message, b->error.message);
        assert_int_equal(a->error.permanent, b->error.permanent);
    }
    assert_int_equal(a->n_result, b->n_result);
    for (size_t i = 0; i < a->n_result; i++) {
        assert_string_equal(a->result[i].key, b->result[i].key);
        assert_int_equal(a->result[i].type, b->result[i].type);
        if (a->result[i].type == KV_STR)
            assert_string_equal(a->result[i].s, b->result[i].s);
        else
            assert_int_equal(a->result[i].i, b->result[i].i);
    }
    assert_int_equal(a->volumes != NULL, b->volumes != NULL);
    assert_int_equal(a->n_volumes, b->n_volumes);
    for (size_t i = 0; i < a->n_volumes; i++) {
        assert_refs(&a->volumes[i].vol, &b->volumes[i].vol, 1);
        assert_int_equal(a->volumes[i].state, b->volumes[i].state);
        assert_int_equal(a->volumes[i].legality, b->volumes[i].legality);
        assert_int_equal(a->volumes[i].voltype, b->volumes[i].voltype);
    }
    assert_int_equal(a->files != NULL, b->files != NULL);
    if (a->files)
        assert_files(a->files, b->files);
    assert_int_equal(a->ts_ms, b->ts_ms);
}

static void assert_heartbeat(const struct proto_heartbeat *a, const struct proto_heartbeat *b) {
    assert_string_equal(a->worker_id, b->worker_id);
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->version, b->version);
    assert_string_equal(a->libguestfs_version, b->libguestfs_version);
    assert_strv(a->pools, a->n_pools, b->pools, b->n_pools);
    assert_int_equal(a->n_sd_ids, b->n_sd_ids);
    for (size_t i = 0; i < a->n_sd_ids; i++)
        assert_string_equal(a->sd_ids[i], b->sd_ids[i]);
    assert_int_equal(a->slots, b->slots);
    assert_int_equal(a->n_running, b->n_running);
    for (size_t i = 0; i < a->n_running; i++)
        assert_string_equal(a->running[i], b->running[i]);
    assert_int_equal(a->ts_ms, b->ts_ms);
}

/* ---- golden files ------------------------------------------------------------ */

static char *golden_path(const char *name) {
    const char *src = getenv("VMSEAL_SOURCE_DIR");
    if (!src)
        fail_msg("VMSEAL_SOURCE_DIR is not set: run the test through ctest");
    return xasprintf("%s/tests/proto/golden/%s.hex", src, name);
}

char *test_hex(const void *buf, size_t len) {
    const uint8_t *p = buf;
    char *s = xmalloc(len * 2 + len / 32 + 2), *o = s;
    for (size_t i = 0; i < len; i++) {
        o += sprintf(o, "%02x", p[i]);
        if (i % 32 == 31 || i + 1 == len)
            *o++ = '\n';
    }
    *o = '\0';
    return s;
}

/* Compare the encoding with golden/<name>.hex, then check the decoder reads
 * the golden bytes as a message of the expected type. */
static void check_golden(const char *name, const char *buf, size_t len, enum proto_type type) {
    _cleanup_free_ char *path = golden_path(name), *hex = test_hex(buf, len);
    if (getenv("VMSEAL_GOLDEN_WRITE")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(hex, f);
        fclose(f);
        print_message("rewrote %s: review it with git diff\n", path);
    }
    _cleanup_free_ char *want = NULL;
    size_t want_len;
    int r = read_file_all(path, 1 << 20, &want, &want_len);
    if (r < 0)
        fail_msg("cannot read %s: %s", path, err_str(r));
    if (strcmp(want, hex) != 0)
        fail_msg("encoding of %s differs from %s:\n--- golden\n%s--- now\n%s", name, path, want, hex);
    struct proto_msg m;
    char why[ERR_WHY_LEN] = "";
    r = proto_decode(buf, len, &m, why);
    if (r < 0)
        fail_msg("golden %s does not decode: %s", name, why);
    assert_int_equal(m.type, type);
    proto_msg_free(&m);
}

/* ---- tests ----------------------------------------------------------------- */

static void roundtrip_create(bool full, bool new_ids, bool operations, const char *golden) {
    struct proto_template_create in, out;
    char *buf, *buf2, why[ERR_WHY_LEN] = "";
    size_t len, len2;
    sample_create(&in, full);
    in.new_vols = new_ids ? new_vols2 : NULL;
    if (operations) { /* virt-sysprep --operations, the optional key last */
        in.sysprep.enable = NULL;
        in.sysprep.n_enable = 0;
        in.sysprep.operations = operations3;
        in.sysprep.n_operations = 3;
    }
    assert_int_equal(proto_encode_template_create(&in, &buf, &len), 0);
    if (proto_decode_template_create(buf, len, &out, why) < 0)
        fail_msg("%s", why);
    assert_create(&in, &out);
    assert_int_equal(proto_encode_template_create(&out, &buf2, &len2), 0);
    assert_memory_equal(buf, buf2, len);
    assert_int_equal(len, len2);
    check_golden(golden, buf, len, PROTO_TEMPLATE_CREATE);
    proto_template_create_free(&out);
    free(buf);
    free(buf2);
}

static void test_template_create(void **state) {
    roundtrip_create(true, false, false, "template_create");
    roundtrip_create(false, false, false, "template_create_minimal");
    roundtrip_create(true, true, false, "template_create_new_ids");
    roundtrip_create(true, false, true, "template_create_operations");
}

static void test_template_create_defaults(void **state) {
    struct proto_template_create out;
    char why[ERR_WHY_LEN] = "";
    size_t len;
    _cleanup_free_ char *buf = mp("{v:1, type:'template.create', template_id:'" U_TPL "', name:'t', seal:true,"
                                  " disks:[{sd_id:'" U_SD1 "', img_id:'" U_IMG "', vol_id:'" U_VOL "'}],"
                                  " sysprep:{}, future_key:[1.5e0]}",
                                  &len);
    (void)buf;
    assert_int_equal(proto_decode_template_create(buf, len, &out, why), 0);
    assert_true(out.has_sysprep);
    assert_null(out.sysprep.hostname);
    assert_true(out.sysprep.selinux_relabel);
    assert_int_equal(out.sysprep.n_enable, 0);
    assert_int_equal(out.sysprep.n_operations, 0);
    assert_null(out.sysprep.operations);
    assert_string_equal(out.target_sd_id, "");
    proto_template_create_free(&out);
}

static void test_template_cancel(void **state) {
    struct proto_template_cancel in = { U_TPL }, out;
    char *buf, why[ERR_WHY_LEN] = "";
    size_t len;
    assert_int_equal(proto_encode_template_cancel(&in, &buf, &len), 0);
    assert_int_equal(proto_decode_template_cancel(buf, len, &out, why), 0);
    assert_string_equal(out.template_id, U_TPL);
    check_golden("template_cancel", buf, len, PROTO_TEMPLATE_CANCEL);
    free(buf);
}

static void test_job_kinds(void **state) {
    static const char *golden[] = { "job_volume_copy", "job_volume_update", "job_volume_delete", "job_vm_seal" };
    for (int k = JOB_VOLUME_COPY; k <= JOB_VM_SEAL; k++) {
        struct proto_job in, out;
        struct proto_msg any;
        char *buf, *buf2, why[ERR_WHY_LEN] = "";
        size_t len, len2;
        sample_job(&in, (enum job_kind)k);
        assert_int_equal(proto_encode_job(&in, &buf, &len), 0);
        if (proto_decode_job(buf, len, &out, why) < 0)
            fail_msg("%s: %s", golden[k], why);
        assert_job(&in, &out);
        assert_int_equal(proto_encode_job(&out, &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        assert_int_equal(proto_decode(buf, len, &any, why), 0);
        assert_int_equal(any.type, PROTO_JOB);
        assert_job(&in, &any.u.job);
        check_golden(golden[k], buf, len, PROTO_JOB);
        proto_msg_free(&any);
        proto_job_free(&out);
        free(buf);
        free(buf2);
    }
}

static void test_job_update_partial(void **state) {
    /* only legality: voltype and description stay NONE / NULL */
    struct proto_job in, out;
    char *buf, why[ERR_WHY_LEN] = "";
    size_t len;
    sample_job(&in, JOB_VOLUME_UPDATE);
    in.args.update.voltype = VOLTYPE_NONE;
    in.args.update.description = NULL;
    in.args.update.generation = 0;
    in.args.update.legality = LEGALITY_ILLEGAL;
    assert_int_equal(proto_encode_job(&in, &buf, &len), 0);
    assert_int_equal(proto_decode_job(buf, len, &out, why), 0);
    assert_job(&in, &out);
    proto_job_free(&out);
    free(buf);
}

static void test_events(void **state) {
    static const char *golden[] = { "event_job_progress", "event_job_failed", "event_template",
                                    "event_template_ready", "event_job_seal_files" };
    for (int v = 0; v < (int)ARRAY_SIZE(golden); v++) {
        struct proto_event in, out;
        char *buf, *buf2, why[ERR_WHY_LEN] = "";
        size_t len, len2;
        sample_event(&in, v);
        assert_int_equal(proto_encode_event(&in, &buf, &len), 0);
        if (proto_decode_event(buf, len, &out, why) < 0)
            fail_msg("%s: %s", golden[v], why);
        assert_event(&in, &out);
        assert_int_equal(proto_encode_event(&out, &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        check_golden(golden[v], buf, len, PROTO_EVENT);
        proto_event_free(&out);
        free(buf);
        free(buf2);
    }
}

static void test_heartbeat(void **state) {
    struct proto_heartbeat in, out;
    char *buf, *buf2, why[ERR_WHY_LEN] = "";
    size_t len, len2;
    sample_heartbeat(&in);
    assert_int_equal(proto_encode_heartbeat(&in, &buf, &len), 0);
    if (proto_decode_heartbeat(buf, len, &out, why) < 0)
        fail_msg("%s", why);
    assert_heartbeat(&in, &out);
    assert_int_equal(proto_encode_heartbeat(&out, &buf2, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    check_golden("worker_heartbeat", buf, len, PROTO_HEARTBEAT);
    /* an idle worker: nothing running */
    in.n_running = 0;
    in.running = NULL;
    free(buf);
    assert_int_equal(proto_encode_heartbeat(&in, &buf, &len), 0);
    proto_heartbeat_free(&out);
    assert_int_equal(proto_decode_heartbeat(buf, len, &out, why), 0);
    assert_int_equal(out.n_running, 0);
    proto_heartbeat_free(&out);
    free(buf);
    free(buf2);
}

/* Encoders refuse what decoders would refuse. */
static void test_encode_refuses_invalid(void **state) {
    char *buf = NULL;
    size_t len = 0;
    struct proto_job j;
    sample_job(&j, JOB_VOLUME_COPY);
    strcpy(j.args.copy.dst.vol_id, "NOT-A-UUID");
    assert_int_equal(proto_encode_job(&j, &buf, &len), -VMS_E_BAD_UUID);
    assert_null(buf);
    sample_job(&j, JOB_VOLUME_UPDATE);
    j.args.update.generation = 1000;
    assert_int_equal(proto_encode_job(&j, &buf, &len), -VMS_E_MSG_BAD_VALUE);
    struct proto_event e;
    sample_event(&e, 0);
    e.progress = 101;
    assert_int_equal(proto_encode_event(&e, &buf, &len), -VMS_E_MSG_BAD_VALUE);
    struct proto_heartbeat h;
    sample_heartbeat(&h);
    h.host = "bad_host!";
    assert_int_equal(proto_encode_heartbeat(&h, &buf, &len), -VMS_E_MSG_BAD_VALUE);
    sample_heartbeat(&h);
    h.pools = NULL; /* n_pools stays 1: packs as [], which needs >= 1 pool */
    assert_int_equal(proto_encode_heartbeat(&h, &buf, &len), -VMS_E_MSG_BAD_VALUE);
    struct proto_job seal;
    sample_job(&seal, JOB_VM_SEAL);
    seal.args.seal.disks = NULL;
    assert_int_equal(proto_encode_job(&seal, &buf, &len), -VMS_E_MSG_BAD_VALUE);
    struct proto_template_create c;
    sample_create(&c, true);
    c.name = NULL;
    assert_int_equal(proto_encode_template_create(&c, &buf, &len), -VMS_E_MSG_BAD_VALUE);
    assert_null(buf);
}

static void test_enum_strings(void **state) {
    enum job_kind k;
    enum vol_legality l;
    enum vol_type t;
    enum vol_format f;
    enum event_state s;
    for (int i = JOB_VOLUME_COPY; i <= JOB_VM_SEAL; i++) {
        assert_int_equal(job_kind_from_string(job_kind_to_string((enum job_kind)i), &k), 0);
        assert_int_equal(k, i);
    }
    for (int i = EV_RUNNING; i <= EV_READY; i++) {
        assert_int_equal(event_state_from_string(event_state_to_string((enum event_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(proto_type_to_string(PROTO_HEARTBEAT), "worker.heartbeat");
    assert_string_equal(event_state_to_string(EV_ROLLING_BACK), "rolling_back");
    assert_int_equal(vol_legality_from_string("ILLEGAL", &l), 0);
    assert_int_equal(l, LEGALITY_ILLEGAL);
    assert_int_equal(vol_type_from_string("INTERNAL", &t), 0);
    assert_int_equal(t, VOLTYPE_INTERNAL);
    assert_int_equal(vol_format_from_string("RAW", &f), 0);
    assert_int_equal(f, FORMAT_RAW);
    assert_int_equal(vol_format_from_string("raw", &f), -VMS_E_MSG_BAD_VALUE);
    assert_int_equal(job_kind_from_string("volume.resize", &k), -VMS_E_MSG_BAD_VALUE);
    assert_int_equal(vol_type_from_string(NULL, &t), -VMS_E_MSG_BAD_VALUE);
}

static void test_sysprep_copy(void **state) {
    struct proto_sysprep src = { ops_enable, 2, ops_disable, 1, "h", false, allow_missing1, 1, operations3, 3 },
                         dst;
    proto_sysprep_copy(&dst, &src);
    assert_sysprep(&src, &dst);
    assert_ptr_not_equal(dst.enable, src.enable);
    assert_ptr_not_equal(dst.operations, src.operations);
    proto_sysprep_free(&dst);
    proto_sysprep_free(NULL);
    proto_job_free(NULL);
    proto_event_free(NULL);
    proto_heartbeat_free(NULL);
    proto_template_create_free(NULL);
    proto_msg_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_create),
        cmocka_unit_test(test_template_create_defaults),
        cmocka_unit_test(test_template_cancel),
        cmocka_unit_test(test_job_kinds),
        cmocka_unit_test(test_job_update_partial),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_encode_refuses_invalid),
        cmocka_unit_test(test_enum_strings),
        cmocka_unit_test(test_sysprep_copy),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_files_builder),
        cmocka_unit_test(test_files_hostile),
        cmocka_unit_test(test_files_bounds),
        cmocka_unit_test(test_files_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
