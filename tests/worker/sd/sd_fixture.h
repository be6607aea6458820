/* sd_fixture.h - a fresh storage domain in its own temp dir, per test. */
#ifndef VMSEAL_TEST_SD_FIXTURE_H
#define VMSEAL_TEST_SD_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "sd.h"

#define FX_SD_ID "5d000000-0000-4000-8000-000000000001"

struct fx {
    char *dir;     /* the test's temp dir */
    char *sd_path; /* <dir>/sd, a created and opened domain */
    struct sd *sd;
};

/* cmocka group-less setup/teardown: *state = struct fx *. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* A valid metadata struct for img in the fixture's domain (LEAF, LEGAL,
 * GEN 0, COW, CAP 1 MiB, PUUID nil). */
void fx_meta_default(const struct fx *f, const char *img, struct vol_meta *ret);
/* Make a committed volume: image dir, data file (a qcow2 of cap bytes made
 * by qemu-img when format is COW, else a sparse raw file), then its .meta. */
void fx_volume_make(const struct fx *f, const char *img, const char *vol, const struct vol_meta *m);
/* "<sd_path>/images/<img>/<name>", malloc'd. */
char *fx_path(const struct fx *f, const char *img, const char *name);
/* Write text to path (creating it), assert success. */
void fx_file_write(const char *path, const char *text, size_t len);
bool fx_exists(const char *path);
/* Run a command (argv, NULL-terminated); returns its exit status. */
int fx_run(const char *const argv[], char **ret_output);

#endif
