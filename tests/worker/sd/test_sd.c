/* test_sd.c - storage domains: .meta format, damaged files, confinement,
 * scrub, listing (worker/sd.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
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
#define VOL3 "7b000000-0000-4000-8000-000000000003"
#define VOL4 "7b000000-0000-4000-8000-000000000004"

static const char good_meta[] =
    "CAP=1048576\nCTIME=1700000000\nDESCRIPTION=test volume\nDISKTYPE=DATA\n"
    "DOMAIN=" FX_SD_ID "\nFORMAT=COW\nGEN=7\nIMAGE=" IMG "\nLEGALITY=LEGAL\n"
    "MTIME=1700000001\nPUUID=00000000-0000-0000-0000-000000000000\nVOLTYPE=LEAF\nEOF\n";

/* ---- .meta format ---- */

static void test_meta_round_trip(void **state) {
    struct vol_meta m;
    char why[ERR_WHY_LEN] = "";
    assert_int_equal(sd_meta_parse(good_meta, strlen(good_meta), FX_SD_ID, IMG, &m, why), 0);
    assert_int_equal(m.cap_bytes, 1048576);
    assert_int_equal(m.ctime_s, 1700000000);
    assert_int_equal(m.mtime_s, 1700000001);
    assert_string_equal(m.description, "test volume");
    assert_int_equal(m.format, FORMAT_COW);
    assert_int_equal(m.gen, 7);
    assert_int_equal(m.legality, LEGALITY_LEGAL);
    assert_int_equal(m.voltype, VOLTYPE_LEAF);
    assert_string_equal(m.puuid, uuid_nil);
    /* Writing gives back the same bytes: keys sorted, EOF last. */
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(sd_meta_format(&m, &text, &len, why), 0);
    assert_string_equal(text, good_meta);
    assert_int_equal(len, strlen(good_meta));
    free(text);

    /* And through the file: write atomically, read back, no temp left. */
    struct fx *f = *state;
    fx_volume_make(f, IMG, VOL, &m);
    struct vol_meta back;
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &back, why), 0);
    assert_memory_equal(&back, &m, sizeof m);
    char *tmp = fx_path(f, IMG, VOL ".meta.tmp");
    assert_false(fx_exists(tmp));
    free(tmp);

    /* Boundaries that are valid: empty and 210-byte descriptions, GEN 999. */
    memset(m.description, 'd', SD_DESCRIPTION_MAX);
    m.description[SD_DESCRIPTION_MAX] = '\0';
    m.gen = 999;
    assert_int_equal(sd_meta_format(&m, &text, &len, why), 0);
    assert_int_equal(sd_meta_parse(text, len, FX_SD_ID, IMG, &back, why), 0);
    assert_memory_equal(&back, &m, sizeof m);
    free(text);
}

/* Replace the line starting with `key=` by `line` ("" = drop it). */
static char *meta_edit(const char *key, const char *line) {
    char *out = xcalloc(1, sizeof good_meta + 70000);
    const char *p = good_meta;
    size_t klen = strlen(key);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = (size_t)(nl - p) + 1;
        if (strncmp(p, key, klen) == 0 && (p[klen] == '=' || p[klen] == '\n')) {
            strcat(out, line);
        } else {
            strncat(out, p, ll);
        }
        p += ll;
    }
    return out;
}

struct damage {
    const char *key, *line, *why_part;
};

static void test_meta_damaged(void **state) {
    char longdesc[300] = "DESCRIPTION=";
    memset(longdesc + 12, 'x', 211);
    strcat(longdesc, "\n");
    const struct damage cases[] = {
        { "EOF", "", "no EOF" }, /* truncated */
        { "EOF", "EOF\nCAP=1\n", "after EOF" },
        { "EOF", "EOF\n\n", "after EOF" },
        { "CAP", "CAP=1048576\nFOO=bar\n", "FOO: unknown key" },
        { "GEN", "GEN=7\nGEN=7\n", "GEN: duplicate" },
        { "CAP", "", "CAP: missing" },
        { "PUUID", "", "PUUID: missing" },
        { "CAP", "CAP=-1\n", "CAP:" },
        { "CAP", "CAP=12ab\n", "CAP:" },
        { "CAP", "CAP=99999999999999999999\n", "CAP:" },
        { "CTIME", "CTIME=\n", "CTIME:" },
        { "MTIME", "MTIME=yesterday\n", "MTIME:" },
        { "DESCRIPTION", longdesc, "DESCRIPTION:" },
        { "DISKTYPE", "DISKTYPE=SYSTEM\n", "DISKTYPE:" },
        { "DOMAIN", "DOMAIN=5d000000-0000-4000-8000-000000000999\n", "DOMAIN: not this domain" },
        { "DOMAIN", "DOMAIN=5D000000-0000-4000-8000-000000000001\n", "DOMAIN: not a canonical" },
        { "FORMAT", "FORMAT=QCOW2\n", "FORMAT:" },
        { "GEN", "GEN=1000\n", "GEN:" },
        { "GEN", "GEN=-1\n", "GEN:" },
        { "GEN", "GEN=07\n", "GEN:" },
        { "IMAGE", "IMAGE=" IMG2 "\n", "IMAGE: not this image" },
        { "LEGALITY", "LEGALITY=FAKE\n", "LEGALITY:" },
        { "PUUID", "PUUID=none\n", "PUUID:" },
        { "VOLTYPE", "VOLTYPE=ROOT\n", "VOLTYPE:" },
        { "CAP", "CAP 1048576\n", "without '='" },
    };
    struct fx *f = *state;
    int img_fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, IMG, true, &img_fd), 0);
    char *meta_path = fx_path(f, IMG, VOL ".meta");
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *text = meta_edit(cases[i].key, cases[i].line);
        char why[ERR_WHY_LEN] = "";
        struct vol_meta m;
        int r = sd_meta_parse(text, strlen(text), FX_SD_ID, IMG, &m, why);
        if (r != -VMS_E_BAD_META || !strstr(why, cases[i].why_part))
            fail_msg("case %zu (%s): r=%d why='%s'", i, cases[i].why_part, r, why);
        /* The same file on disk is refused by the reader too. */
        fx_file_write(meta_path, text, strlen(text));
        assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), -VMS_E_BAD_META);
        assert_non_null(strstr(why, cases[i].why_part));
        free(text);
    }
    /* A NUL byte inside, and a file over 64 KiB. */
    char why[ERR_WHY_LEN] = "";
    struct vol_meta m;
    char nul[sizeof good_meta];
    memcpy(nul, good_meta, sizeof good_meta);
    nul[3] = '\0';
    assert_int_equal(sd_meta_parse(nul, sizeof good_meta - 1, FX_SD_ID, IMG, &m, why), -VMS_E_BAD_META);
    size_t big_len = SD_META_MAX_BYTES + 10;
    char *big = xmalloc(big_len);
    memset(big, '#', big_len);
    fx_file_write(meta_path, big, big_len);
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), -VMS_E_BAD_META);
    assert_non_null(strstr(why, "64 KiB"));
    free(big);
    /* Writing refuses an invalid struct. */
    fx_meta_default(f, IMG, &m);
    m.gen = 1000;
    assert_int_equal(sd_volume_meta_writeat(f->sd, img_fd, VOL, &m, why), -VMS_E_INVALID);
    fx_meta_default(f, IMG, &m);
    strcpy(m.description, "two\nlines");
    assert_int_equal(sd_volume_meta_writeat(f->sd, img_fd, VOL, &m, why), -VMS_E_INVALID);
    free(meta_path);
    close(img_fd);
}

/* ---- domains ---- */

static void test_domain_create_open(void **state) {
    struct fx *f = *state;
    char why[ERR_WHY_LEN] = "";
    /* Idempotent with the same id, a conflict with another. */
    assert_int_equal(sd_create(FX_SD_ID, f->sd_path, why), 0);
    assert_int_equal(sd_create("5d000000-0000-4000-8000-000000000002", f->sd_path, why), -VMS_E_CONFLICT);
    proto_uuid id;
    assert_int_equal(sd_read_id(f->sd_path, id, why), 0);
    assert_string_equal(id, FX_SD_ID);
    struct sd *sd = NULL;
    assert_int_equal(sd_open_path(f->sd_path, &sd, why), 0);
    assert_string_equal(sd_id(sd), FX_SD_ID);
    sd_close(sd);
    assert_int_equal(sd_open("5d000000-0000-4000-8000-000000000002", f->sd_path, &sd, why), -VMS_E_UNKNOWN_DOMAIN);
    assert_int_equal(sd_open(FX_SD_ID, "relative/path", &sd, why), -VMS_E_INVALID);
    assert_int_equal(sd_open("not-a-uuid", f->sd_path, &sd, why), -VMS_E_BAD_UUID);
    assert_int_equal(sd_create("../x", f->sd_path, why), -VMS_E_BAD_UUID);
    /* A root without images/ is not a domain; a symlinked images/ escapes. */
    char *bare = xasprintf("%s/bare", f->dir);
    assert_int_equal(mkdir(bare, 0755), 0);
    assert_int_equal(sd_open(FX_SD_ID, bare, &sd, why), -ENOENT);
    char *images = xasprintf("%s/images", bare);
    assert_int_equal(symlink(f->dir, images), 0);
    assert_int_equal(sd_open(FX_SD_ID, bare, &sd, why), -VMS_E_PATH_ESCAPE);
    free(images);
    free(bare);
}

/* ---- confinement ---- */

static void test_confine_bad_ids(void **state) {
    struct fx *f = *state;
    static const char *const bad[] = {
        "..",
        "../..",
        "/etc",
        "/etc/passwd",
        ".",
        "",
        "images",
        "1A000000-0000-4000-8000-000000000001", /* uppercase */
        "1a000000-0000-4000-8000-00000000000",  /* short */
        "1a000000-0000-4000-8000-000000000001/..",
        "../1a000000-0000-4000-8000-0000000000",
        "1a0000000000-4000-8000-000000000001xxxx",
        "{1a000000-0000-4000-8000-000000000001}",
    };
    char why[ERR_WHY_LEN];
    struct vol_meta m;
    struct volume_change chg = { .generation = 0, .legality = LEGALITY_ILLEGAL };
    fx_meta_default(f, IMG, &m);
    fx_volume_make(f, IMG, VOL, &m);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int fd = -1;
        char *path = NULL;
        assert_int_equal(sd_image_dir_open(f->sd, bad[i], true, &fd), -VMS_E_BAD_UUID);
        assert_int_equal(sd_volume_meta_read(f->sd, bad[i], VOL, &m, why), -VMS_E_BAD_UUID);
        assert_int_equal(sd_volume_meta_read(f->sd, IMG, bad[i], &m, why), -VMS_E_BAD_UUID);
        assert_int_equal(sd_volume_path(f->sd, IMG, bad[i], "", &path), -VMS_E_BAD_UUID);
        assert_int_equal(volume_update(f->sd, bad[i], VOL, &chg, NULL, NULL, NULL, why), -VMS_E_BAD_UUID);
        assert_int_equal(volume_update(f->sd, IMG, bad[i], &chg, NULL, NULL, NULL, why), -VMS_E_BAD_UUID);
        assert_int_equal(volume_delete(f->sd, bad[i], VOL, NULL, NULL, NULL, why), -VMS_E_BAD_UUID);
        assert_int_equal(volume_delete(f->sd, IMG, bad[i], NULL, NULL, NULL, why), -VMS_E_BAD_UUID);
        assert_int_equal(volume_copy(f->sd, IMG, VOL, f->sd, bad[i], VOL2, FORMAT_COW, NULL, NULL, NULL, why),
                         -VMS_E_BAD_UUID);
        assert_int_equal(volume_copy(f->sd, bad[i], VOL, f->sd, IMG2, VOL2, FORMAT_COW, NULL, NULL, NULL, why),
                         -VMS_E_BAD_UUID);
    }
    /* Nothing was created or changed by any of it. */
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), 0);
    assert_int_equal(m.gen, 0);
    char *img2 = xasprintf("%s/images/%s", f->sd_path, IMG2);
    assert_false(fx_exists(img2));
    free(img2);
}

/* An image dir that is a symlink to a valid-looking image outside. */
static void test_confine_symlinked_image(void **state) {
    struct fx *f = *state;
    char why[ERR_WHY_LEN] = "";
    struct vol_meta m;
    fx_meta_default(f, IMG, &m);
    fx_volume_make(f, IMG, VOL, &m);
    /* Move the image out of the domain and link it back in. */
    char *inside = xasprintf("%s/images/%s", f->sd_path, IMG);
    char *outside = xasprintf("%s/outside", f->dir);
    assert_int_equal(rename(inside, outside), 0);
    assert_int_equal(symlink(outside, inside), 0);

    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), -VMS_E_PATH_ESCAPE);
    struct volume_change chg = { .generation = 0, .legality = LEGALITY_ILLEGAL };
    assert_int_equal(volume_update(f->sd, IMG, VOL, &chg, NULL, NULL, NULL, why), -VMS_E_PATH_ESCAPE);
    assert_int_equal(volume_delete(f->sd, IMG, VOL, NULL, NULL, NULL, why), -VMS_E_PATH_ESCAPE);
    assert_int_equal(volume_copy(f->sd, IMG, VOL, f->sd, IMG2, VOL2, FORMAT_COW, NULL, NULL, NULL, why),
                     -VMS_E_PATH_ESCAPE);
    /* A copy into the symlinked image (from a good source) refuses too. */
    struct vol_meta m2;
    fx_meta_default(f, IMG2, &m2);
    fx_volume_make(f, IMG2, VOL2, &m2);
    assert_int_equal(volume_copy(f->sd, IMG2, VOL2, f->sd, IMG, VOL3, FORMAT_COW, NULL, NULL, NULL, why),
                     -VMS_E_PATH_ESCAPE);
    int fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, IMG, true, &fd), -VMS_E_PATH_ESCAPE);
    /* Listing does not show it; scrub leaves it alone. */
    proto_uuid *ids = NULL;
    size_t n = 9;
    assert_int_equal(sd_images_list(f->sd, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], IMG2);
    free(ids);
    unsigned removed = 9, skipped = 0;
    assert_int_equal(sd_scrub(f->sd, &removed, &skipped, why), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(skipped, 1);
    /* The outside files are untouched. */
    char *meta = xasprintf("%s/%s.meta", outside, VOL);
    char *data = xasprintf("%s/%s", outside, VOL);
    char *stray = xasprintf("%s/%s.tmp", outside, VOL3);
    assert_true(fx_exists(meta));
    assert_true(fx_exists(data));
    assert_false(fx_exists(stray));
    free(stray);
    free(meta);
    free(data);
    free(inside);
    free(outside);
}

/* A volume's data or .meta that is a symlink to a file outside. */
static void test_confine_symlinked_volume(void **state) {
    struct fx *f = *state;
    char why[ERR_WHY_LEN] = "";
    struct vol_meta m;
    fx_meta_default(f, IMG, &m);
    fx_volume_make(f, IMG, VOL, &m);
    char *outside_meta = xasprintf("%s/outside.meta", f->dir);
    char *outside_data = xasprintf("%s/outside.data", f->dir);
    char *meta = fx_path(f, IMG, VOL ".meta");
    char *data = fx_path(f, IMG, VOL);

    /* .meta is a symlink */
    assert_int_equal(rename(meta, outside_meta), 0);
    assert_int_equal(symlink(outside_meta, meta), 0);
    assert_int_equal(sd_volume_meta_read(f->sd, IMG, VOL, &m, why), -VMS_E_PATH_ESCAPE);
    struct volume_change chg = { .generation = 0, .legality = LEGALITY_ILLEGAL };
    assert_int_equal(volume_update(f->sd, IMG, VOL, &chg, NULL, NULL, NULL, why), -VMS_E_PATH_ESCAPE);
    proto_uuid *ids = NULL;
    size_t n = 9;
    assert_int_equal(sd_volumes_list(f->sd, IMG, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(unlink(meta), 0);
    assert_int_equal(rename(outside_meta, meta), 0);

    /* data is a symlink: a copy from it refuses */
    assert_int_equal(rename(data, outside_data), 0);
    assert_int_equal(symlink(outside_data, data), 0);
    assert_int_equal(volume_copy(f->sd, IMG, VOL, f->sd, IMG2, VOL2, FORMAT_COW, NULL, NULL, NULL, why),
                     -VMS_E_PATH_ESCAPE);
    /* The refused copy left no destination behind that would list. */
    assert_int_equal(sd_volume_meta_read(f->sd, IMG2, VOL2, &m, why), -VMS_E_NO_VOLUME);
    /* Delete removes the link itself, never the outside file. */
    assert_int_equal(volume_delete(f->sd, IMG, VOL, NULL, NULL, NULL, why), 0);
    assert_false(fx_exists(data));
    assert_true(fx_exists(outside_data));
    free(outside_meta);
    free(outside_data);
    free(meta);
    free(data);
}

/* ---- scrub and listing ---- */

static void touch(const struct fx *f, const char *img, const char *name) {
    char *p = fx_path(f, img, name);
    fx_file_write(p, "x", 1);
    free(p);
}

static void test_scrub(void **state) {
    struct fx *f = *state;
    char why[ERR_WHY_LEN] = "";
    struct vol_meta m;
    fx_meta_default(f, IMG, &m);
    fx_volume_make(f, IMG, VOL, &m); /* committed: kept */
    touch(f, IMG, VOL2);             /* data without .meta */
    touch(f, IMG, VOL3 ".tmp");      /* copy in progress, crashed */
    touch(f, IMG, VOL4 ".meta.tmp"); /* meta write, crashed */
    touch(f, IMG, VOL ".tmp");       /* stale tmp of a committed volume */
    touch(f, IMG, "README");         /* not ours */
    int fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, IMG2, true, &fd), 0);
    close(fd);
    touch(f, IMG2, VOL2); /* an image with only a half-created volume */

    unsigned removed = 0, skipped = 0;
    assert_int_equal(sd_scrub(f->sd, &removed, &skipped, why), 0);
    assert_int_equal(removed, 5);
    assert_int_equal(skipped, 1);
    const char *gone[] = { VOL2, VOL3 ".tmp", VOL4 ".meta.tmp", VOL ".tmp" };
    for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
        char *p = fx_path(f, IMG, gone[i]);
        assert_false(fx_exists(p));
        free(p);
    }
    char *kept[] = { fx_path(f, IMG, VOL), fx_path(f, IMG, VOL ".meta"), fx_path(f, IMG, "README") };
    for (size_t i = 0; i < ARRAY_SIZE(kept); i++) {
        assert_true(fx_exists(kept[i]));
        free(kept[i]);
    }
    char *img2 = xasprintf("%s/images/%s", f->sd_path, IMG2);
    assert_false(fx_exists(img2)); /* emptied image dir removed */

    /* An image another process holds locked (a copy in flight) is skipped. */
    assert_int_equal(sd_image_dir_open(f->sd, IMG2, true, &fd), 0);
    touch(f, IMG2, VOL3 ".tmp");
    int other = open(img2, O_RDONLY | O_DIRECTORY);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX), 0);
    assert_int_equal(sd_scrub(f->sd, &removed, NULL, why), 0);
    assert_int_equal(removed, 0);
    char *busy = fx_path(f, IMG2, VOL3 ".tmp");
    assert_true(fx_exists(busy));
    close(other);
    assert_int_equal(sd_scrub(f->sd, &removed, NULL, why), 0);
    assert_int_equal(removed, 1);
    assert_false(fx_exists(busy));
    close(fd);
    free(busy);
    free(img2);
}

static void test_list(void **state) {
    struct fx *f = *state;
    struct vol_meta m;
    fx_meta_default(f, IMG2, &m);
    fx_volume_make(f, IMG2, VOL2, &m);
    fx_volume_make(f, IMG2, VOL, &m);
    fx_meta_default(f, IMG, &m);
    fx_volume_make(f, IMG, VOL3, &m);
    touch(f, IMG, VOL4); /* half-created: not listed */
    char *junk = xasprintf("%s/images/not-a-uuid", f->sd_path);
    assert_int_equal(mkdir(junk, 0755), 0);
    free(junk);
    proto_uuid *ids = NULL;
    size_t n = 0;
    assert_int_equal(sd_images_list(f->sd, &ids, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], IMG);
    assert_string_equal(ids[1], IMG2);
    free(ids);
    assert_int_equal(sd_volumes_list(f->sd, IMG2, &ids, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], VOL);
    assert_string_equal(ids[1], VOL2);
    free(ids);
    assert_int_equal(sd_volumes_list(f->sd, IMG, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], VOL3);
    free(ids);
    assert_int_equal(sd_volumes_list(f->sd, "1a000000-0000-4000-8000-00000000000f", &ids, &n), -ENOENT);
}

struct locker {
    struct fx *f;
    int r, fd;
};

static void *locker_thread(void *arg) {
    struct locker *l = arg;
    l->r = sd_image_open_locked(l->f->sd, IMG, true, &l->fd);
    return NULL;
}

static bool flock_waiter_present(void *arg) {
    (void)arg;
    char *text = NULL;
    if (read_file_all("/proc/locks", 1 << 20, &text, NULL) < 0)
        return false;
    bool found = strstr(text, "-> FLOCK") != NULL;
    free(text);
    return found;
}

/* A process waiting for an image's lock while the holder deletes the image
 * ends up with a fresh, linked image dir, not the removed one. */
static void test_image_lock_vs_delete(void **state) {
    struct fx *f = *state;
    int fd = -1;
    assert_int_equal(sd_image_open_locked(f->sd, IMG, true, &fd), 0);
    struct locker l = { .f = f, .r = 1, .fd = -1 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, locker_thread, &l), 0);
    /* Wait until the thread is blocked on the lock (a waiter shows in
     * /proc/locks as "-> FLOCK"). */
    assert_int_equal(testutil_wait_for(flock_waiter_present, NULL, 10000, 10), 0);
    assert_int_equal(sd_image_remove_if_empty(f->sd, IMG), 0);
    close(fd);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(l.r, 0);
    struct stat st;
    assert_int_equal(fstat(l.fd, &st), 0);
    assert_true(st.st_nlink > 0);
    char *img = xasprintf("%s/images/%s", f->sd_path, IMG);
    assert_true(fx_exists(img));
    close(l.fd);
    free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_meta_round_trip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_meta_damaged, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_domain_create_open, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_confine_bad_ids, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_confine_symlinked_image, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_confine_symlinked_volume, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_scrub, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_image_lock_vs_delete, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
