/* fuzz_seal_fstab - libFuzzer target for the guest's /etc/fstab parser and
 * device resolver (worker/seal_fstab.h): guest-controlled text.  Every entry
 * must come back well formed (mount point without a trailing '/', depth =
 * its '/' count, a class), resolve to -1 with a reason or to a valid index
 * of a fixed device table, and its mount options must be a subset of its
 * options. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "seal_fstab.h"

static struct seal_blockdev devs[] = {
    { "/dev/sda1", "ext4", "2e1a7c44-1111-4a6b-8c55-0123456789ab", "boot", "0d3f5c8e-0001", "EFI", NULL, NULL,
      NULL, 0, 1 },
    { "/dev/sda2", "LVM2_member", "", "", "0d3f5c8e-0002", "", NULL, NULL, NULL, 0, 2 },
    { "/dev/sdb", "btrfs", "9f0c1d2e-3b4a", "data fs", "", "", NULL, NULL, NULL, 1, 0 },
    { "/dev/vg-0/root", "xfs", "aaaa", "", "", "", "vg-0", "root", "LVM-abcd", -1, 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct seal_fstab_entry *v = NULL;
    size_t n = 0;
    seal_fstab_parse((const char *)data, size, &v, &n);
    for (size_t i = 0; i < n; i++) {
        const struct seal_fstab_entry *e = &v[i];
        size_t mlen = strlen(e->mountpoint);
        FUZZ_CHECK(e->spec && e->type && e->options && e->line, "entry field missing");
        FUZZ_CHECK(mlen <= 1 || e->mountpoint[mlen - 1] != '/', "trailing slash kept");
        int depth = 0;
        for (const char *p = e->mountpoint; *p; p++)
            depth += *p == '/';
        FUZZ_CHECK(e->depth == (strcmp(e->mountpoint, "/") == 0 ? 0 : depth), "depth wrong");
        FUZZ_CHECK(e->cls <= SEAL_FSTAB_SKIP, "class out of range");
        for (size_t disks = 1; disks <= 2; disks++) {
            char why[128] = "";
            int k = seal_fstab_resolve(devs, sizeof(devs) / sizeof(devs[0]), disks, e->spec, why, sizeof(why));
            FUZZ_CHECK(k >= -1 && k < (int)(sizeof(devs) / sizeof(devs[0])), "resolve index out of range");
            FUZZ_CHECK(k >= 0 || why[0], "resolve failed without a reason");
        }
        char *opts = seal_fstab_mount_options(e->options);
        FUZZ_CHECK(strlen(opts) <= strlen(e->options), "mount options longer than the options");
        free(opts);
        int disk, part;
        if (seal_disk_name_parse(e->spec, &disk, &part) == 0)
            FUZZ_CHECK(disk >= 0 && part >= 0, "negative disk or partition");
        char *vg, *lv;
        if (seal_dm_name_split(e->spec, &vg, &lv) == 0) {
            FUZZ_CHECK(vg[0] && lv[0], "empty VG or LV name");
            free(vg);
            free(lv);
        }
    }
    seal_fstab_free(v, n);
    return 0;
}
