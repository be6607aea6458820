/* test_volume.c - volume update / delete / copy / import (worker/volume.h)
 * against real files and a real qemu-img. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "sd.h"
#include "sd_fixture.h"
#include "testutil.h"
#include "util.h"
#include "volume.h"

#define IMG  "1a000000-0000-4000-8000-000000000001"
#define IMG2 "1a000000-0000-4000-8000-000000000002"
#define VOL  "7b000000-0000-4000-8000-000000000001"
#define VOL2 "7b000000-0000-4000-8000-000000000002"
#define BASE "7b000000-0000-4000-8000-0000000000ba"
#define TOP  "7b000000-0000-4000-8000-00000000000f"
#define MIB  (1024 * 1024)

static ino_t meta_ino(const struct fx *f, const char *img, const char *vol) {
    char *name = xasprintf("%s.meta", vol);
    char *p = fx_path(f, img, name);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    free(p);
    free(name);
    return st.st_ino;
}

static struct vol_meta volume_at_gen(const struct fx *f, int gen, enum vol_type t, const char *puuid) {
    struct vol_meta m;
    fx_meta_default(f, IMG, &m);
    m.gen = gen;
    m.voltype = t;
    strcpy(m.puuid, puuid);
    m.mtime_s = 0;
    fx_volume_make(f, IMG, VOL, &m);
    return m;
}

static int update(const struct fx *f, int gen, enum vol_legality l, enum vol_type t, const char *desc,
                  struct vol_meta *ret) {
    struct volume_change c = { .generation = gen, .legality = l, .voltype = t, .description = desc };
    char why[ERR_WHY_LEN] = "";
    return volume_update(f->sd, IMG, VOL, &c, NULL, NULL, ret, why);
}

/* ---- update ---- */

static void test_update_applies(void **state) {
    struct fx *f = *state;
    volume_at_gen(f, 0, VOLTYPE_LEAF, uuid_nil);
    struct vol_meta m, disk;
    assert_int_equal(update(f, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, &m), 0);
    assert_int_equal(m.gen, 1);
    assert_int_equal(m.legality, LEGALITY_ILLEGAL);
    assert_int_equal(m.voltype, VOLTYPE_LEAF);
    assert_true(m.mtime_s > 0);
    assert_int_equal(m.ctime_s, 1700000000);
    char why[ERR_WHY_LEN];
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &disk, why), 0);
    assert_memory_equal(&disk, &m, sizeof m);
    /* LEGAL and SHARED in one write (the last sealing step). */
    assert_int_equal(update(f, 1, LEGALITY_LEGAL, VOLTYPE_SHARED, NULL, &m), 0);
    assert_int_equal(m.gen, 2);
    assert_int_equal(m.legality, LEGALITY_LEGAL);
    assert_int_equal(m.voltype, VOLTYPE_SHARED);
    /* Its retry succeeds although the volume is SHARED now. */
    ino_t ino = meta_ino(f, IMG, VOL);
    assert_int_equal(update(f, 1, LEGALITY_LEGAL, VOLTYPE_SHARED, NULL, &m), 0);
    assert_int_equal(m.gen, 2);
    assert_int_equal(meta_ino(f, IMG, VOL), ino);
}

static void test_update_description(void **state) {
    struct fx *f = *state;
    volume_at_gen(f, 3, VOLTYPE_LEAF, uuid_nil);
    struct vol_meta m;
    assert_int_equal(update(f, 3, LEGALITY_NONE, VOLTYPE_NONE, "template disk 1", &m), 0);
    assert_string_equal(m.description, "template disk 1");
    assert_int_equal(m.gen, 4);
    char big[SD_DESCRIPTION_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(update(f, 4, LEGALITY_NONE, VOLTYPE_NONE, big, NULL), -VMS_E_INVALID);
    assert_int_equal(update(f, 4, LEGALITY_NONE, VOLTYPE_NONE, "a\nb", NULL), -VMS_E_INVALID);
    assert_int_equal(update(f, 1000, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, NULL), -VMS_E_INVALID);
    assert_int_equal(update(f, -1, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, NULL), -VMS_E_INVALID);
    big[SD_DESCRIPTION_MAX] = '\0';
    assert_int_equal(update(f, 4, LEGALITY_NONE, VOLTYPE_NONE, big, &m), 0);
    assert_int_equal(m.gen, 5);
}

static void test_update_wrap(void **state) {
    struct fx *f = *state;
    volume_at_gen(f, 999, VOLTYPE_LEAF, uuid_nil);
    struct vol_meta m;
    assert_int_equal(update(f, 999, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, &m), 0);
    assert_int_equal(m.gen, 0);
    /* The retry of 999 -> 0 is recognised across the wrap. */
    ino_t ino = meta_ino(f, IMG, VOL);
    assert_int_equal(update(f, 999, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, &m), 0);
    assert_int_equal(m.gen, 0);
    assert_int_equal(meta_ino(f, IMG, VOL), ino);
    /* ... but not when the state differs. */
    assert_int_equal(update(f, 999, LEGALITY_LEGAL, VOLTYPE_NONE, NULL, NULL), -VMS_E_GENERATION_MISMATCH);
    assert_int_equal(update(f, 0, LEGALITY_LEGAL, VOLTYPE_NONE, NULL, &m), 0);
    assert_int_equal(m.gen, 1);
}

static void test_update_idempotent_retry(void **state) {
    struct fx *f = *state;
    volume_at_gen(f, 41, VOLTYPE_LEAF, uuid_nil);
    struct vol_meta m;
    assert_int_equal(update(f, 41, LEGALITY_ILLEGAL, VOLTYPE_NONE, "x", &m), 0);
    assert_int_equal(m.gen, 42);
    int64_t mtime = m.mtime_s;
    ino_t ino = meta_ino(f, IMG, VOL);
    for (int i = 0; i < 3; i++) {
        struct vol_meta again;
        assert_int_equal(update(f, 41, LEGALITY_ILLEGAL, VOLTYPE_NONE, "x", &again), 0);
        assert_int_equal(again.gen, 42);
        assert_int_equal(again.mtime_s, mtime);
        assert_int_equal(meta_ino(f, IMG, VOL), ino); /* nothing written */
    }
    /* A retry that asks for a subset of what was applied is the same retry. */
    assert_int_equal(update(f, 41, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, &m), 0);
    assert_int_equal(m.gen, 42);
}

static void test_update_mismatch(void **state) {
    struct fx *f = *state;
    volume_at_gen(f, 5, VOLTYPE_LEAF, uuid_nil);
    char why[ERR_WHY_LEN] = "";
    struct volume_change c = { .generation = 3, .legality = LEGALITY_ILLEGAL };
    /* behind */
    assert_int_equal(volume_update(f->sd, IMG, VOL, &c, NULL, NULL, NULL, why), -VMS_E_GENERATION_MISMATCH);
    assert_non_null(strstr(why, "generation 5"));
    assert_true(err_permanent(-VMS_E_GENERATION_MISMATCH));
    /* GEN = expected+1 but the state is not as asked (another update won) */
    assert_int_equal(update(f, 4, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, NULL), -VMS_E_GENERATION_MISMATCH);
    assert_int_equal(update(f, 4, LEGALITY_LEGAL, VOLTYPE_SHARED, NULL, NULL), -VMS_E_GENERATION_MISMATCH);
    assert_int_equal(update(f, 4, LEGALITY_NONE, VOLTYPE_NONE, "other", NULL), -VMS_E_GENERATION_MISMATCH);
    /* ahead */
    assert_int_equal(update(f, 6, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, NULL), -VMS_E_GENERATION_MISMATCH);
    assert_int_equal(update(f, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, NULL), -VMS_E_GENERATION_MISMATCH);
    /* nothing changed on disk */
    struct vol_meta m;
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), 0);
    assert_int_equal(m.gen, 5);
    assert_int_equal(m.legality, LEGALITY_LEGAL);
    /* an absent volume */
    struct volume_change c2 = { .generation = 0, .legality = LEGALITY_ILLEGAL };
    assert_int_equal(volume_update(f->sd, IMG, VOL2, &c2, NULL, NULL, NULL, why), -VMS_E_NO_VOLUME);
    assert_int_equal(volume_update(f->sd, IMG2, VOL2, &c2, NULL, NULL, NULL, why), -VMS_E_NO_VOLUME);
}

static void test_update_shared_rules(void **state) {
    struct fx *f = *state;
    /* LEAF -> SHARED with a parent: refused, nothing written. */
    volume_at_gen(f, 0, VOLTYPE_LEAF, BASE);
    assert_int_equal(update(f, 0, LEGALITY_NONE, VOLTYPE_SHARED, NULL, NULL), -VMS_E_HAS_PARENT);
    struct vol_meta m;
    char why[ERR_WHY_LEN];
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), 0);
    assert_int_equal(m.gen, 0);
    assert_int_equal(m.voltype, VOLTYPE_LEAF);
    /* Other changes of a volume with a parent are fine. */
    assert_int_equal(update(f, 0, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, &m), 0);
    assert_int_equal(m.gen, 1);

    /* Without a parent it may become SHARED; then every change is refused. */
    volume_at_gen(f, 10, VOLTYPE_LEAF, uuid_nil);
    assert_int_equal(update(f, 10, LEGALITY_NONE, VOLTYPE_SHARED, NULL, &m), 0);
    assert_int_equal(m.voltype, VOLTYPE_SHARED);
    assert_int_equal(m.gen, 11);
    assert_int_equal(update(f, 11, LEGALITY_ILLEGAL, VOLTYPE_NONE, NULL, NULL), -VMS_E_VOLUME_SHARED);
    assert_int_equal(update(f, 11, LEGALITY_NONE, VOLTYPE_LEAF, NULL, NULL), -VMS_E_VOLUME_SHARED);
    assert_int_equal(update(f, 11, LEGALITY_NONE, VOLTYPE_NONE, "new", NULL), -VMS_E_VOLUME_SHARED);
    assert_int_equal(update(f, 11, LEGALITY_NONE, VOLTYPE_SHARED, NULL, NULL), -VMS_E_VOLUME_SHARED);
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), 0);
    assert_int_equal(m.gen, 11);
    /* ... but delete. */
    assert_int_equal(volume_delete(f->sd, IMG, VOL, NULL, NULL, NULL, why), 0);
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), -VMS_E_NO_VOLUME);
}

/* ---- delete ---- */

static void test_delete(void **state) {
    struct fx *f = *state;
    struct vol_meta m;
    char why[ERR_WHY_LEN] = "";
    fx_meta_default(f, IMG, &m);
    fx_volume_make(f, IMG, VOL, &m);
    fx_volume_make(f, IMG, VOL2, &m);
    char *vol2_tmp = fx_path(f, IMG, VOL2 ".tmp");
    fx_file_write(vol2_tmp, "partial", 7);
    char *img_dir = xasprintf("%s/images/%s", f->sd_path, IMG);

    assert_int_equal(volume_delete(f->sd, IMG, VOL, NULL, NULL, NULL, why), 0);
    char *data = fx_path(f, IMG, VOL), *meta = fx_path(f, IMG, VOL ".meta");
    assert_false(fx_exists(data));
    assert_false(fx_exists(meta));
    assert_true(fx_exists(img_dir)); /* VOL2 still there */
    /* idempotent */
    assert_int_equal(volume_delete(f->sd, IMG, VOL, NULL, NULL, NULL, why), 0);
    /* a half-deleted volume (crash after the .meta went) is finished */
    char *meta2 = fx_path(f, IMG, VOL2 ".meta");
    assert_int_equal(unlink(meta2), 0);
    free(meta2);
    assert_int_equal(volume_delete(f->sd, IMG, VOL2, NULL, NULL, NULL, why), 0);
    assert_false(fx_exists(vol2_tmp));
    assert_false(fx_exists(img_dir)); /* the emptied image dir goes */
    /* absent image */
    assert_int_equal(volume_delete(f->sd, IMG2, VOL2, NULL, NULL, NULL, why), 0);
    free(vol2_tmp);
    free(img_dir);
    free(data);
    free(meta);
}

/* ---- copy (real qemu-img, a real backing chain) ---- */

static void run_ok(const char *const argv[]) {
    char *out = NULL;
    int r = fx_run(argv, &out);
    if (r != 0)
        fail_msg("%s %s: exit %d: %s", argv[0], argv[1], r, out ? out : "");
    free(out);
}

/* images/IMG/BASE (INTERNAL, 0xaa in the first MiB) <- TOP (LEAF, 0xbb in
 * the second MiB), 4 MiB, qcow2, the backing file named relatively. */
static void chain_make(const struct fx *f) {
    int img_fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, IMG, true, &img_fd), 0);
    char *base = fx_path(f, IMG, BASE), *top = fx_path(f, IMG, TOP);
    run_ok((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", base, "4M", NULL });
    run_ok((const char *[]){ "qemu-io", "-f", "qcow2", "-c", "write -P 0xaa 0 1M", base, NULL });
    run_ok((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", "-b", BASE, "-F", "qcow2", top, NULL });
    run_ok((const char *[]){ "qemu-io", "-f", "qcow2", "-c", "write -P 0xbb 1M 1M", top, NULL });
    struct vol_meta m;
    fx_meta_default(f, IMG, &m);
    m.cap_bytes = 4 * MIB;
    m.voltype = VOLTYPE_INTERNAL;
    char why[ERR_WHY_LEN] = "";
    assert_int_equal(sd_volume_meta_writeat(f->sd, img_fd, BASE, &m, why), 0);
    m.voltype = VOLTYPE_LEAF;
    strcpy(m.puuid, BASE);
    strcpy(m.description, "vm disk");
    assert_int_equal(sd_volume_meta_writeat(f->sd, img_fd, TOP, &m, why), 0);
    close(img_fd);
    free(base);
    free(top);
}

static void assert_same_data(const struct fx *f, const char *dst_img, const char *dst_vol, const char *dst_fmt) {
    char *top = fx_path(f, IMG, TOP), *dst = fx_path(f, dst_img, dst_vol);
    run_ok((const char *[]){ "qemu-img", "compare", "-f", "qcow2", "-F", dst_fmt, top, dst, NULL });
    free(top);
    free(dst);
}

struct progress_log {
    int n, last;
    int copying_max; /* highest percent seen with step "copying" */
    bool monotonic;
    char step[32];
};

static void progress_log_cb(int percent, const char *step, void *userdata) {
    struct progress_log *p = userdata;
    if (p->n > 0 && percent < p->last)
        p->monotonic = false;
    p->n++;
    p->last = percent;
    if (strcmp(step, "copying") == 0 && percent > p->copying_max)
        p->copying_max = percent;
    snprintf(p->step, sizeof p->step, "%s", step);
}

static void copy_ok(const struct fx *f, enum vol_format fmt, struct progress_log *p) {
    char why[ERR_WHY_LEN] = "";
    *p = (struct progress_log){ .monotonic = true };
    int r = volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL, fmt, NULL, progress_log_cb, p, why);
    if (r != 0)
        fail_msg("volume_copy: %s: %s", err_str(r), why);
}

static void test_copy_chain(void **state) {
    struct fx *f = *state;
    chain_make(f);
    struct progress_log p;
    copy_ok(f, FORMAT_COW, &p);
    assert_true(p.n >= 2);
    assert_true(p.monotonic);
    assert_int_equal(p.last, 100);
    assert_string_equal(p.step, "committed");
    assert_int_equal(p.copying_max, 99); /* qemu-img's "(100.00/100%)" was parsed */
    assert_same_data(f, IMG2, VOL, "qcow2");
    struct vol_meta m;
    char why[ERR_WHY_LEN];
    assert_int_equal(sd_volume_meta_read(f->sd, IMG2, VOL, &m, why), 0);
    assert_int_equal(m.voltype, VOLTYPE_LEAF);
    assert_int_equal(m.legality, LEGALITY_LEGAL);
    assert_int_equal(m.gen, 0);
    assert_int_equal(m.format, FORMAT_COW);
    assert_int_equal(m.cap_bytes, 4 * MIB);
    assert_string_equal(m.puuid, uuid_nil);
    assert_string_equal(m.image, IMG2);
    assert_string_equal(m.description, "vm disk");
    /* The copy is standalone: no backing file. */
    char *dst = fx_path(f, IMG2, VOL), *out = NULL;
    assert_int_equal(fx_run((const char *[]){ "qemu-img", "info", "-U", dst, NULL }, &out), 0);
    assert_null(strstr(out, "backing file"));
    free(out);
    char *tmp = fx_path(f, IMG2, VOL ".tmp");
    assert_false(fx_exists(tmp));
    free(tmp);

    /* Re-run: committed and complete -> success without copying. */
    struct stat before, after;
    assert_int_equal(stat(dst, &before), 0);
    copy_ok(f, FORMAT_COW, &p);
    assert_string_equal(p.step, "already copied");
    assert_int_equal(stat(dst, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    /* The same ids with another format is not this copy. */
    assert_int_equal(volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL, FORMAT_RAW, NULL, NULL, NULL, why),
                     -VMS_E_VOLUME_EXISTS);
    free(dst);

    /* A volume is not copied onto itself. */
    assert_int_equal(volume_copy(f->sd, IMG, TOP, f->sd, IMG, TOP, FORMAT_COW, NULL, NULL, NULL, why),
                     -VMS_E_INVALID);

    /* To RAW as well. */
    assert_int_equal(volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL2, FORMAT_RAW, NULL, NULL, NULL, why), 0);
    assert_same_data(f, IMG2, VOL2, "raw");
    assert_int_equal(sd_volume_meta_read(f->sd, IMG2, VOL2, &m, why), 0);
    assert_int_equal(m.format, FORMAT_RAW);
    assert_int_equal(m.cap_bytes, 4 * MIB);
}

static void test_copy_partial_redo(void **state) {
    struct fx *f = *state;
    chain_make(f);
    struct progress_log p;
    char *dst = fx_path(f, IMG2, VOL), *meta = fx_path(f, IMG2, VOL ".meta");
    char *tmp = fx_path(f, IMG2, VOL ".tmp"), *meta_tmp = fx_path(f, IMG2, VOL ".meta.tmp");

    /* 1. A crash mid-convert: only a garbage .tmp (and a stale .meta.tmp). */
    int fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, IMG2, true, &fd), 0);
    close(fd);
    fx_file_write(tmp, "garbage", 7);
    fx_file_write(meta_tmp, "CAP=1\n", 6);
    copy_ok(f, FORMAT_COW, &p);
    assert_string_equal(p.step, "committed");
    assert_same_data(f, IMG2, VOL, "qcow2");
    assert_false(fx_exists(tmp));
    assert_false(fx_exists(meta_tmp));

    /* 2. A crash after the rename, before .meta: data without .meta, cut short. */
    assert_int_equal(unlink(meta), 0);
    assert_int_equal(truncate(dst, 1000), 0);
    copy_ok(f, FORMAT_COW, &p);
    assert_string_equal(p.step, "committed");
    assert_same_data(f, IMG2, VOL, "qcow2");
    assert_true(fx_exists(meta));

    /* 3. A committed destination that is another volume: refused, untouched. */
    char why[ERR_WHY_LEN] = "";
    struct vol_meta m;
    fx_meta_default(f, IMG2, &m);
    m.cap_bytes = 2 * MIB;
    fx_volume_make(f, IMG2, VOL2, &m);
    assert_int_equal(volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL2, FORMAT_COW, NULL, NULL, NULL, why),
                     -VMS_E_VOLUME_EXISTS);
    assert_int_equal(sd_volume_meta_read(f->sd, IMG2, VOL2, &m, why), 0);
    assert_int_equal(m.cap_bytes, 2 * MIB);

    /* 4. An absent source. */
    assert_int_equal(volume_copy(f->sd, IMG, VOL2, f->sd, IMG2, BASE, FORMAT_COW, NULL, NULL, NULL, why),
                     -VMS_E_NO_VOLUME);
    free(dst);
    free(meta);
    free(tmp);
    free(meta_tmp);
}

/* A source whose backing file lies outside its image (outside the domain, or
 * another image of it) is refused. */
static void test_copy_chain_escape(void **state) {
    struct fx *f = *state;
    int img_fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, IMG, true, &img_fd), 0);
    char *outside = xasprintf("%s/outside.qcow2", f->dir), *top = fx_path(f, IMG, TOP);
    run_ok((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", outside, "4M", NULL });
    struct vol_meta other; /* another image's volume: inside the domain, outside the chain */
    fx_meta_default(f, IMG2, &other);
    fx_volume_make(f, IMG2, VOL2, &other);
    const char *backings[] = { outside, "../../../outside.qcow2", "../" IMG2 "/" VOL2 };
    for (size_t i = 0; i < ARRAY_SIZE(backings); i++) {
        run_ok((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", "-b", backings[i], "-F", "qcow2", top,
                                 NULL });
        struct vol_meta m;
        fx_meta_default(f, IMG, &m);
        m.cap_bytes = 4 * MIB;
        char why[ERR_WHY_LEN] = "";
        assert_int_equal(sd_volume_meta_writeat(f->sd, img_fd, TOP, &m, why), 0);
        int r = volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL, FORMAT_COW, NULL, NULL, NULL, why);
        if (r != -VMS_E_PATH_ESCAPE)
            fail_msg("backing %s: %s: %s", backings[i], err_str(r), why);
        assert_int_equal(sd_volume_meta_read(f->sd, IMG2, VOL, &m, why), -VMS_E_NO_VOLUME);
    }
    close(img_fd);
    free(outside);
    free(top);
}

/* A source whose data does not match its FORMAT is damaged, not copied. */
static void test_copy_format_lie(void **state) {
    struct fx *f = *state;
    struct vol_meta m;
    fx_meta_default(f, IMG, &m);
    m.format = FORMAT_RAW;
    fx_volume_make(f, IMG, VOL, &m); /* raw data */
    char *meta = fx_path(f, IMG, VOL ".meta");
    int img_fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, IMG, false, &img_fd), 0);
    m.format = FORMAT_COW;
    char why[ERR_WHY_LEN] = "";
    assert_int_equal(sd_volume_meta_writeat(f->sd, img_fd, VOL, &m, why), 0);
    assert_int_equal(volume_copy(f->sd, IMG, VOL, f->sd, IMG2, VOL2, FORMAT_COW, NULL, NULL, NULL, why),
                     -VMS_E_BAD_META);
    close(img_fd);
    free(meta);
}

#define TPL  "3c000000-0000-4000-8000-000000000001"
#define TPL2 "3c000000-0000-4000-8000-000000000002"

static mode_t mode_of(const char *path) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

/* A job deletes only a volume its workflow's copy created (TEMPLATE in the
 * .meta), never a SHARED one; a refused delete leaves every file.  What a
 * copy creates gets explicit modes whatever the umask. */
static void test_delete_owner(void **state) {
    struct fx *f = *state;
    char why[ERR_WHY_LEN] = "";
    chain_make(f);
    mode_t old = umask(077);
    int r = volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL, FORMAT_COW, TPL, NULL, NULL, why);
    umask(old);
    if (r < 0)
        fail_msg("volume_copy: %s", why);
    struct vol_meta m;
    assert_int_equal(sd_volume_meta_read(f->sd, IMG2, VOL, &m, why), 0);
    assert_string_equal(m.template_id, TPL);
    /* the same copy again: done; another workflow's copy to the same ids
     * (an engine that chose them twice): refused, the volume untouched */
    assert_int_equal(volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL, FORMAT_COW, TPL, NULL, NULL, why), 0);
    assert_int_equal(volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL, FORMAT_COW, TPL2, NULL, NULL, why),
                     -VMS_E_VOLUME_EXISTS);
    assert_non_null(strstr(why, "was not made by template " TPL2));
    char *data = fx_path(f, IMG2, VOL), *meta = fx_path(f, IMG2, VOL ".meta");
    char *dir = xasprintf("%s/images/%s", f->sd_path, IMG2);
    assert_int_equal(mode_of(data), SD_FILE_MODE);
    assert_int_equal(mode_of(meta), SD_FILE_MODE);
    assert_int_equal(mode_of(dir), SD_DIR_MODE);
    /* the source VM's disk (no TEMPLATE) and another workflow's volume */
    assert_int_equal(volume_delete(f->sd, IMG, TOP, TPL, NULL, NULL, why), -VMS_E_NOT_OWNER);
    assert_int_equal(volume_delete(f->sd, IMG2, VOL, TPL2, NULL, NULL, why), -VMS_E_NOT_OWNER);
    assert_non_null(strstr(why, "not created by template " TPL2));
    assert_true(fx_exists(data) && fx_exists(meta));
    /* SHARED: never, even for its own workflow */
    struct volume_change c = { .generation = 0, .voltype = VOLTYPE_SHARED };
    assert_int_equal(volume_update(f->sd, IMG2, VOL, &c, NULL, NULL, NULL, why), 0);
    assert_int_equal(volume_delete(f->sd, IMG2, VOL, TPL, NULL, NULL, why), -VMS_E_VOLUME_SHARED);
    assert_true(fx_exists(data) && fx_exists(meta));
    /* the owner deletes its LEAF copy */
    assert_int_equal(volume_copy(f->sd, IMG, TOP, f->sd, IMG2, VOL2, FORMAT_RAW, TPL, NULL, NULL, why), 0);
    assert_int_equal(volume_delete(f->sd, IMG2, VOL2, TPL, NULL, NULL, why), 0);
    assert_int_equal(sd_volume_meta_read(f->sd, IMG2, VOL2, &m, why), -VMS_E_NO_VOLUME);
    free(data);
    free(meta);
    free(dir);
}

/* A RAW volume whose data begins with a qcow2 header naming a backing file
 * outside the domain (a guest can write that to its own disk) is copied as
 * the raw bytes it is: qemu-img gets -f raw and never opens the backing file. */
static void test_copy_raw_with_qcow2_header(void **state) {
    struct fx *f = *state;
    char why[ERR_WHY_LEN] = "";
    struct vol_meta m;
    fx_meta_default(f, IMG, &m);
    m.format = FORMAT_RAW;
    fx_volume_make(f, IMG, VOL, &m);
    char *data = fx_path(f, IMG, VOL), *hdr = xasprintf("%s/hdr.qcow2", f->sd_path);
    char *dd_if = xasprintf("if=%s", hdr), *dd_of = xasprintf("of=%s", data);
    run_ok((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", hdr,
                             "1M", NULL });
    run_ok((const char *[]){ "dd", "conv=notrunc", "status=none", dd_if, dd_of, NULL });
    int r = volume_copy(f->sd, IMG, VOL, f->sd, IMG2, VOL2, FORMAT_RAW, TPL, NULL, NULL, why);
    if (r < 0)
        fail_msg("volume_copy: %s: %s", err_str(r), why);
    char *dst = fx_path(f, IMG2, VOL2);
    run_ok((const char *[]){ "qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", data, dst, NULL });
    free(dst);
    free(dd_if);
    free(dd_of);
    free(data);
    free(hdr);
}

static void test_import(void **state) {
    struct fx *f = *state;
    chain_make(f);
    char *top = fx_path(f, IMG, TOP);
    proto_uuid img, vol;
    char why[ERR_WHY_LEN] = "";
    int r = volume_create_from_file(f->sd, top, FORMAT_COW, NULL, NULL, img, vol, why);
    if (r < 0)
        fail_msg("import: %s: %s", err_str(r), why);
    assert_true(uuid_is_canonical(img));
    assert_true(uuid_is_canonical(vol));
    struct vol_meta m;
    assert_int_equal(sd_volume_meta_read(f->sd, img, vol, &m, why), 0);
    assert_int_equal(m.voltype, VOLTYPE_LEAF);
    assert_int_equal(m.legality, LEGALITY_LEGAL);
    assert_int_equal(m.gen, 0);
    assert_int_equal(m.cap_bytes, 4 * MIB);
    assert_same_data(f, img, vol, "qcow2");
    /* A file whose backing file lies outside its directory is refused. */
    char *sub = xasprintf("%s/sub", f->dir), *outside = xasprintf("%s/outside.qcow2", f->dir);
    char *overlay = xasprintf("%s/overlay.qcow2", sub);
    assert_int_equal(mkdir(sub, 0755), 0);
    run_ok((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", outside, "4M", NULL });
    run_ok((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", "-b", "../outside.qcow2", "-F", "qcow2",
                             overlay, NULL });
    assert_int_equal(volume_create_from_file(f->sd, overlay, FORMAT_COW, NULL, NULL, img, vol, why),
                     -VMS_E_PATH_ESCAPE);
    free(sub);
    free(outside);
    free(overlay);
    /* Not an image at all: a directory. */
    assert_int_equal(volume_create_from_file(f->sd, f->dir, FORMAT_COW, NULL, NULL, img, vol, why),
                     -VMS_E_INVALID);
    assert_int_equal(volume_create_from_file(f->sd, "/nonexistent", FORMAT_RAW, NULL, NULL, img, vol, why),
                     -ENOENT);
    free(top);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_update_applies, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_description, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_wrap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_idempotent_retry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_mismatch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_shared_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_chain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_partial_redo, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_chain_escape, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_format_lie, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_import, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_owner, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_raw_with_qcow2_header, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
