/* sd_fixture.c - see sd_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sd_fixture.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "testutil.h"
#include "util.h"

int fx_setup(void **state) {
    struct fx *f = xcalloc(1, sizeof *f);
    if (testutil_dir_make("sd", &f->dir) < 0)
        return -1;
    f->sd_path = xasprintf("%s/sd", f->dir);
    char why[ERR_WHY_LEN] = "";
    if (sd_create(FX_SD_ID, f->sd_path, why) < 0 || sd_open(FX_SD_ID, f->sd_path, &f->sd, why) < 0) {
        fprintf(stderr, "fixture: %s\n", why);
        return -1;
    }
    *state = f;
    return 0;
}

int fx_teardown(void **state) {
    struct fx *f = *state;
    sd_close(f->sd);
    testutil_dir_remove(f->dir);
    free(f->dir);
    free(f->sd_path);
    free(f);
    return 0;
}

void fx_meta_default(const struct fx *f, const char *img, struct vol_meta *m) {
    memset(m, 0, sizeof *m);
    m->cap_bytes = 1024 * 1024;
    m->ctime_s = m->mtime_s = 1700000000;
    strcpy(m->description, "test volume");
    strcpy(m->domain, FX_SD_ID);
    m->format = FORMAT_COW;
    m->gen = 0;
    strcpy(m->image, img);
    m->legality = LEGALITY_LEGAL;
    strcpy(m->puuid, uuid_nil);
    m->voltype = VOLTYPE_LEAF;
    (void)f;
}

char *fx_path(const struct fx *f, const char *img, const char *name) {
    return xasprintf("%s/images/%s/%s", f->sd_path, img, name);
}

void fx_file_write(const char *path, const char *text, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, text, len), 0);
    close(fd);
}

bool fx_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

int fx_run(const char *const argv[], char **ret_output) { return testutil_cmd_run(argv, 60000, ret_output); }

void fx_volume_make(const struct fx *f, const char *img, const char *vol, const struct vol_meta *m) {
    int img_fd = -1;
    assert_int_equal(sd_image_dir_open(f->sd, img, true, &img_fd), 0);
    char *data = fx_path(f, img, vol);
    char cap[32];
    snprintf(cap, sizeof cap, "%lld", (long long)m->cap_bytes);
    if (m->format == FORMAT_COW) {
        const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", data, cap, NULL };
        assert_int_equal(fx_run(argv, NULL), 0);
    } else {
        int fd = open(data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, m->cap_bytes), 0);
        close(fd);
    }
    char why[ERR_WHY_LEN] = "";
    int r = sd_volume_meta_writeat(f->sd, img_fd, vol, m, why);
    if (r < 0)
        fail_msg("meta write: %s", why);
    close(img_fd);
    free(data);
}
