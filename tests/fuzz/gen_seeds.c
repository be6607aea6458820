/* gen_seeds - write the seed inputs that have no golden vector elsewhere:
 * rpc.request / rpc.reply messages, a seal's files on their own, job.cancel
 * and .meta files, encoded by
 * the project's own encoders.  Used once to fill tests/fuzz/corpus (see
 * tests/fuzz/README.md); run again after a wire change:
 *     gen_seeds tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control.h"
#include "rpc.h"
#include "sd.h"

#define U1 "0b6c9c43-5d1e-4a77-9b1f-1a2b3c4d5e6f"
#define U2 "5a4e7c1e-2f2b-4c1f-9d51-0d8f4b7c2a11"
#define U3 "8b1f6a2c-3d4e-4f50-8a61-7b2c9d0e1f32"
#define U4 "c0ffee00-1234-4abc-8def-0123456789ab"

static const char *root;

static void put(const char *target, const char *name, const char *buf, size_t len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void put_encoded(const char *target, const char *name, int r, char *buf, size_t len) {
    if (r < 0) {
        fprintf(stderr, "gen_seeds: encoding %s failed (%d)\n", name, r);
        exit(1);
    }
    put(target, name, buf, len);
    free(buf);
}

static void rpc_seeds(void) {
    char *buf;
    size_t len;
    struct rpc_request rq = { .method = RPC_STATUS, .template_id = U1 };
    put_encoded("rpc", "request_status", rpc_encode_request(&rq, &buf, &len), buf, len);
    rq = (struct rpc_request){ .method = RPC_LIST, .state = "ready", .limit = 10 };
    put_encoded("rpc", "request_list", rpc_encode_request(&rq, &buf, &len), buf, len);
    rq = (struct rpc_request){ .method = RPC_WORKERS };
    put_encoded("rpc", "request_workers", rpc_encode_request(&rq, &buf, &len), buf, len);

    struct rpc_reply rp = {
        .method = RPC_STATUS, .ok = false, .error_code = "not_found", .error_message = "no template " U1
    };
    put_encoded("rpc", "reply_error", rpc_encode_reply(&rp, &buf, &len), buf, len);

    struct rpc_disk disk = { .index = 0,
                             .source = { U2, U3, U4 },
                             .target = { U2, U1, U3 },
                             .state = "present",
                             .legality = LEGALITY_LEGAL,
                             .voltype = VOLTYPE_SHARED,
                             .generation = 2 };
    struct rpc_job job = { .job_id = U4,
                           .kind = JOB_VM_SEAL,
                           .step = "seal",
                           .disk = -1,
                           .attempt = 1,
                           .state = "failed",
                           .created_ms = 1,
                           .started_ms = 2,
                           .finished_ms = 3,
                           .progress = 40,
                           .worker_id = "host1",
                           .error_code = "guest_unsupported",
                           .error_message = "no Linux root" };
    struct proto_file_op ops[] = { { "tmp-files", 2, 0 } };
    struct proto_file paths[] = { { "tmp-files", FILE_REMOVED, "/", "/var/tmp/two\\x0alines \\x1b[2J" } };
    struct proto_files files = { ops, 1, paths, 1, 0, true };
    job.files = &files;
    struct proto_vol_ref left = { U2, U3, U1 };
    rp = (struct rpc_reply){ .method = RPC_STATUS, .ok = true };
    rp.tpl = (struct rpc_template){ .id = U1,
                                    .name = "tpl",
                                    .state = "failed",
                                    .step = "done",
                                    .seal = true,
                                    .created_ms = 1700000000000,
                                    .updated_ms = 1700000001000,
                                    .error_step = "seal",
                                    .error_code = "guest_unsupported",
                                    .error_message = "no Linux root",
                                    .disks = &disk,
                                    .n_disks = 1,
                                    .jobs = &job,
                                    .n_jobs = 1,
                                    .leftovers = &left,
                                    .n_leftovers = 1 };
    put_encoded("rpc", "reply_status", rpc_encode_reply(&rp, &buf, &len), buf, len);

    struct rpc_summary sum = { .id = U1, .name = "tpl", .state = "ready", .step = "done", .updated_ms = 5 };
    rp = (struct rpc_reply){ .method = RPC_LIST, .ok = true, .templates = &sum, .n_templates = 1 };
    put_encoded("rpc", "reply_list", rpc_encode_reply(&rp, &buf, &len), buf, len);

    char *pools[] = { "default" };
    proto_uuid sds[] = { U2 }, running[] = { U4 };
    struct rpc_worker w = { .hb = { .worker_id = "host1",
                                    .host = "host1",
                                    .version = "0.1.0",
                                    .libguestfs_version = "1.48.6",
                                    .pools = pools,
                                    .n_pools = 1,
                                    .sd_ids = sds,
                                    .n_sd_ids = 1,
                                    .slots = 2,
                                    .running = running,
                                    .n_running = 1,
                                    .ts_ms = 1700000000000 },
                            .received_ms = 1700000000001 };
    rp = (struct rpc_reply){ .method = RPC_WORKERS, .ok = true, .workers = &w, .n_workers = 1 };
    put_encoded("rpc", "reply_workers", rpc_encode_reply(&rp, &buf, &len), buf, len);
}

static void files_seeds(void) {
    char *buf;
    size_t len;
    struct proto_files f = { 0 };
    proto_files_add(&f, "tmp-files", FILE_REMOVED, "/", "/var/tmp/two\\x0alines \\x1b[2J");
    proto_files_add(&f, "hostname", FILE_CHANGED, "/", "/etc/hostname");
    proto_files_add(&f, "logfiles", FILE_REMOVED, "/var", "");
    put_encoded("proto", "files", proto_files_encode(&f, &buf, &len), buf, len);
    proto_files_free(&f);
}

static void control_seeds(void) {
    char *buf;
    size_t len;
    struct proto_job_cancel c = { U1, U4 };
    put_encoded("control", "job_cancel", proto_encode_job_cancel(&c, &buf, &len), buf, len);
}

static void meta_seeds(void) {
    char *buf, why[ERR_WHY_LEN] = "";
    size_t len;
    struct vol_meta m = { .cap_bytes = 1 << 30,
                          .ctime_s = 1700000000,
                          .mtime_s = 1700000100,
                          .description = "debian 12 root disk",
                          .domain = U2,
                          .format = FORMAT_COW,
                          .gen = 0,
                          .image = U3,
                          .legality = LEGALITY_LEGAL,
                          .puuid = "00000000-0000-0000-0000-000000000000",
                          .voltype = VOLTYPE_LEAF };
    put_encoded("sd_meta", "leaf_legal.meta", sd_meta_format(&m, &buf, &len, why), buf, len);
    m.legality = LEGALITY_ILLEGAL;
    m.gen = 1;
    m.format = FORMAT_RAW;
    m.description[0] = '\0';
    put_encoded("sd_meta", "leaf_illegal_raw.meta", sd_meta_format(&m, &buf, &len, why), buf, len);
    m.legality = LEGALITY_LEGAL;
    m.voltype = VOLTYPE_SHARED;
    m.gen = 999;
    put_encoded("sd_meta", "shared_gen999.meta", sd_meta_format(&m, &buf, &len, why), buf, len);
    snprintf(m.puuid, sizeof m.puuid, "%s", U1);
    m.voltype = VOLTYPE_INTERNAL;
    put_encoded("sd_meta", "internal_parent.meta", sd_meta_format(&m, &buf, &len, why), buf, len);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
        return 2;
    }
    root = argv[1];
    rpc_seeds();
    files_seeds();
    control_seeds();
    meta_seeds();
    return 0;
}
