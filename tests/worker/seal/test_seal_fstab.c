/* test_seal_fstab.c - fstab parsing, classification and device resolution
 * (worker/seal_fstab.c) without an appliance: the device table is what
 * seal_blockdevs_collect() builds from blkid and lvs on a real guest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "seal_fstab.h"
#include "seal_ops.h"

/* Two disks: sda = GPT with /boot/efi, /boot, an LVM PV; sdb = a btrfs
 * filesystem on the whole disk.  VGs "vg0" and "vg-data" (a dash). */
static struct seal_blockdev devs[] = {
    { "/dev/sda1", "vfat", "6C1B-0A2E", "", "0d3f5c8e-aaaa-4b1c-9d00-000000000001", "EFI System", NULL, NULL, NULL,
      0, 1 },
    { "/dev/sda2", "ext4", "2e1a7c44-1111-4a6b-8c55-0123456789ab", "boot", "0d3f5c8e-aaaa-4b1c-9d00-000000000002",
      "boot", NULL, NULL, NULL, 0, 2 },
    { "/dev/sda3", "LVM2_member", "pvuuid", "", "0d3f5c8e-aaaa-4b1c-9d00-000000000003", "", NULL, NULL, NULL, 0,
      3 },
    { "/dev/sdb", "btrfs", "9f0c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f", "data fs", "", "", NULL, NULL, NULL, 1, 0 },
    { "/dev/vg0/root", "xfs", "aaaaaaaa-0000-4000-8000-000000000001", "", "", "", "vg0", "root",
      "LVM-VGUUID0000000000000000000000000LVUUIDROOT000000000000000000000", -1, 0 },
    { "/dev/vg0/var", "ext4", "aaaaaaaa-0000-4000-8000-000000000002", "", "", "", "vg0", "var", NULL, -1, 0 },
    { "/dev/vg-data/lv-home", "ext4", "aaaaaaaa-0000-4000-8000-000000000003", "", "", "", "vg-data", "lv-home",
      NULL, -1, 0 },
};
#define N_DEVS (sizeof(devs) / sizeof(devs[0]))

static const char *resolve(const char *spec, size_t n_disks) {
    char why[256];
    int i = seal_fstab_resolve(devs, N_DEVS, n_disks, spec, why, sizeof(why));
    return i < 0 ? NULL : devs[i].dev;
}

static void assert_resolves(const char *spec, const char *dev) {
    const char *got = resolve(spec, 2);
    if (!got || strcmp(got, dev) != 0)
        fail_msg("%s resolved to %s, expected %s", spec, got ? got : "nothing", dev);
}

static void test_resolve_keyed(void **state) {
    assert_resolves("UUID=2e1a7c44-1111-4a6b-8c55-0123456789ab", "/dev/sda2");
    assert_resolves("UUID=2E1A7C44-1111-4A6B-8C55-0123456789AB", "/dev/sda2");
    assert_resolves("UUID=\"6C1B-0A2E\"", "/dev/sda1");
    assert_resolves("LABEL=boot", "/dev/sda2");
    assert_resolves("LABEL=\"data fs\"", "/dev/sdb");
    assert_resolves("PARTUUID=0d3f5c8e-aaaa-4b1c-9d00-000000000002", "/dev/sda2");
    assert_resolves("PARTLABEL=EFI System", "/dev/sda1");
    assert_resolves("/dev/disk/by-uuid/aaaaaaaa-0000-4000-8000-000000000002", "/dev/vg0/var");
    assert_resolves("/dev/disk/by-label/data\\x20fs", "/dev/sdb");
    assert_resolves("/dev/disk/by-partuuid/0d3f5c8e-aaaa-4b1c-9d00-000000000001", "/dev/sda1");
    assert_resolves("/dev/disk/by-partlabel/EFI\\x20System", "/dev/sda1");
    assert_null(resolve("UUID=00000000-0000-0000-0000-000000000000", 2));
    assert_null(resolve("LABEL=BOOT", 2)); /* labels are case-sensitive */
}

static void test_resolve_lvm(void **state) {
    assert_resolves("/dev/mapper/vg0-root", "/dev/vg0/root");
    assert_resolves("/dev/mapper/vg--data-lv--home", "/dev/vg-data/lv-home");
    assert_resolves("/dev/vg0/var", "/dev/vg0/var");
    assert_resolves("/dev/vg-data/lv-home", "/dev/vg-data/lv-home");
    assert_resolves("/dev/disk/by-id/dm-name-vg--data-lv--home", "/dev/vg-data/lv-home");
    assert_resolves("/dev/disk/by-id/dm-uuid-LVM-VGUUID0000000000000000000000000LVUUIDROOT000000000000000000000",
                    "/dev/vg0/root");
    assert_null(resolve("/dev/mapper/vg-data-lv-home", 2)); /* VG "vg", LV "data-lv-home" */
    assert_null(resolve("/dev/mapper/vg0-swap", 2));
    assert_null(resolve("/dev/vg1/root", 2));
}

static void test_resolve_legacy(void **state) {
    assert_resolves("/dev/sda2", "/dev/sda2");
    assert_resolves("/dev/vda1", "/dev/sda1");
    assert_resolves("/dev/hda3", "/dev/sda3");
    assert_resolves("/dev/xvda2", "/dev/sda2");
    assert_resolves("/dev/vdb", "/dev/sdb");
    assert_resolves("/dev/nvme1n1", "/dev/sdb");
    assert_resolves("/dev/nvme0n1p2", "/dev/sda2");
    assert_null(resolve("/dev/vdc1", 2));
    assert_null(resolve("/dev/vda9", 2));
    assert_null(resolve("/dev/md0", 2));
}

static void test_resolve_by_id_path(void **state) {
    char why[256] = "";
    /* Serial numbers and bus addresses: only with one disk. */
    assert_int_equal(seal_fstab_resolve(devs, N_DEVS, 2, "/dev/disk/by-id/virtio-abc123-part2", why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "among 2 disks"));
    const char *d = resolve("/dev/disk/by-id/virtio-abc123-part2", 1);
    assert_non_null(d);
    assert_string_equal(d, "/dev/sda2");
    d = resolve("/dev/disk/by-path/pci-0000:00:04.0-part1", 1);
    assert_non_null(d);
    assert_string_equal(d, "/dev/sda1");
}

static void test_disk_names(void **state) {
    int disk, part;
    assert_int_equal(seal_disk_name_parse("/dev/sdaa3", &disk, &part), 0);
    assert_int_equal(disk, 26);
    assert_int_equal(part, 3);
    assert_int_equal(seal_disk_name_parse("/dev/xvdz", &disk, &part), 0);
    assert_int_equal(disk, 25);
    assert_int_equal(part, 0);
    assert_int_equal(seal_disk_name_parse("/dev/sd", &disk, &part), -1);
    assert_int_equal(seal_disk_name_parse("/dev/sda1x", &disk, &part), -1);
    assert_int_equal(seal_disk_name_parse("/dev/nvme0", &disk, &part), -1);
    assert_int_equal(seal_disk_name_parse("/dev/loop0", &disk, &part), -1);
}

static void test_ro_options(void **state) {
    assert_string_equal(seal_ro_options("ext4"), "ro,noload");
    assert_string_equal(seal_ro_options("ext3"), "ro,noload");
    assert_string_equal(seal_ro_options("xfs"), "ro,norecovery");
    assert_string_equal(seal_ro_options("btrfs"), "ro,nologreplay");
    assert_string_equal(seal_ro_options("ext2"), "ro");
    assert_string_equal(seal_ro_options(NULL), "ro");
}

static void test_dm_split(void **state) {
    char *vg, *lv;
    assert_int_equal(seal_dm_name_split("a--b--c-d--e", &vg, &lv), 0);
    assert_string_equal(vg, "a-b-c");
    assert_string_equal(lv, "d-e");
    free(vg);
    free(lv);
    assert_int_equal(seal_dm_name_split("nodash", &vg, &lv), -1);
    assert_int_equal(seal_dm_name_split("only--double", &vg, &lv), -1);
    assert_int_equal(seal_dm_name_split("-lv", &vg, &lv), -1);
    assert_int_equal(seal_dm_name_split("vg-", &vg, &lv), -1);
}

static const char fstab_text[] =
    "# /etc/fstab: static file system information.\n"
    "\n"
    "UUID=aaaaaaaa-0000-4000-8000-000000000001 /               xfs     defaults        0 1\n"
    "UUID=2e1a7c44-1111-4a6b-8c55-0123456789ab /boot  ext4 defaults 0 2\n"
    "/dev/mapper/vg0-var\t/var/\text4\tdefaults\t0\t2\n"
    "/dev/sdb /srv/My\\040Data btrfs subvol=@data,compress=zstd,subvolid=257 0 0\n"
    "/dev/vg0/swap none swap sw 0 0\n"
    "tmpfs /tmp tmpfs defaults 0 0\n"
    "server:/export /mnt/nfs nfs defaults 0 0\n"
    "//srv/share /mnt/smb auto credentials=/x 0 0\n"
    "/dev/sr0 /media/cdrom0 udf,iso9660 user,noauto 0 0\n"
    "/srv/a /srv/b none bind 0 0\n"
    "LABEL=backup /backup ext4 defaults,nofail 0 2\n"
    "LABEL=usb /media/usb ext4 noauto\n"
    "/dev/sdc1 /x ext4 defaults,_netdev 0 0\n"
    "   # indented comment\n"
    "proc /proc proc\n"
    "toofew /fields\n"
    "/dev/vdb1 /usr ext4"; /* no newline, no options */

static void test_parse(void **state) {
    struct seal_fstab_entry *v;
    size_t n;
    seal_fstab_parse(fstab_text, strlen(fstab_text), &v, &n);
    assert_int_equal(n, 15);
    static const struct {
        const char *mp;
        enum seal_fstab_class cls;
        int depth;
    } want[] = {
        { "/", SEAL_FSTAB_ROOT, 0 },
        { "/boot", SEAL_FSTAB_BOOT, 1 },
        { "/var", SEAL_FSTAB_BOOT, 1 },
        { "/srv/My Data", SEAL_FSTAB_BOOT, 2 },
        { "none", SEAL_FSTAB_SKIP, 0 },
        { "/tmp", SEAL_FSTAB_SKIP, 1 },
        { "/mnt/nfs", SEAL_FSTAB_SKIP, 2 },
        { "/mnt/smb", SEAL_FSTAB_SKIP, 2 },
        { "/media/cdrom0", SEAL_FSTAB_SKIP, 2 },
        { "/srv/b", SEAL_FSTAB_SKIP, 2 },
        { "/backup", SEAL_FSTAB_OPTIONAL, 1 },
        { "/media/usb", SEAL_FSTAB_OPTIONAL, 2 },
        { "/x", SEAL_FSTAB_SKIP, 1 },
        { "/proc", SEAL_FSTAB_SKIP, 1 },
        { "/usr", SEAL_FSTAB_BOOT, 1 },
    };
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].mountpoint, want[i].mp) != 0 || v[i].cls != want[i].cls ||
            (v[i].mountpoint[0] == '/' && v[i].depth != want[i].depth))
            fail_msg("entry %zu: got %s %s depth %d, expected %s %s depth %d", i, v[i].mountpoint,
                     seal_fstab_class_to_string(v[i].cls), v[i].depth, want[i].mp,
                     seal_fstab_class_to_string(want[i].cls), want[i].depth);
    }
    assert_int_equal(v[2].lineno, 5);
    assert_string_equal(v[2].line, "/dev/mapper/vg0-var\t/var/\text4\tdefaults\t0\t2");
    assert_string_equal(v[14].options, "defaults");
    assert_string_equal(v[14].type, "ext4");
    char *opts = seal_fstab_mount_options(v[3].options);
    assert_string_equal(opts, "subvol=@data,subvolid=257");
    free(opts);
    opts = seal_fstab_mount_options(v[1].options);
    assert_string_equal(opts, "");
    free(opts);
    seal_fstab_free(v, n);
    seal_fstab_free(NULL, 0);
}

static void test_parse_escapes(void **state) {
    /* \\ stays; a truncated escape stays as written; \011 is a tab. */
    static const char text[] = "LABEL=a\\040b /a\\011b\\0 ext4\n/dev/sda1 /end\\04 ext4\n";
    struct seal_fstab_entry *v;
    size_t n;
    seal_fstab_parse(text, strlen(text), &v, &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].spec, "LABEL=a b");
    assert_string_equal(v[0].mountpoint, "/a\tb\\0");
    assert_string_equal(v[1].mountpoint, "/end\\04");
    assert_string_equal(resolve(v[1].spec, 2), "/dev/sda1");
    seal_fstab_free(v, n);
}

/* Fedora's btrfs layout (subvolumes "root" and "home" of one filesystem,
 * mounted by its UUID) and the default subvolume (no subvol= on "/"). */
static void test_parse_btrfs(void **state) {
    (void)state;
    static const char text[] =
        "UUID=9f0c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f / btrfs subvol=root,compress=zstd:1 0 0\n"
        "UUID=9f0c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f /home btrfs subvol=home,compress=zstd:1 0 0\n"
        "LABEL=data\\040fs /srv btrfs compress=zstd:1,x-systemd.device-timeout=0 0 0\n"
        "/dev/sdb /snap btrfs subvol=/@/.snap\\040shots,subvolid=260,noatime,ssd 0 0\n";
    struct seal_fstab_entry *v;
    size_t n;
    seal_fstab_parse(text, strlen(text), &v, &n);
    assert_int_equal(n, 4);
    assert_int_equal(v[0].cls, SEAL_FSTAB_ROOT);
    assert_int_equal(v[1].cls, SEAL_FSTAB_BOOT);
    assert_int_equal(v[2].cls, SEAL_FSTAB_BOOT);
    /* one filesystem, two lines: both name the same device */
    assert_string_equal(resolve(v[0].spec, 2), "/dev/sdb");
    assert_string_equal(resolve(v[1].spec, 2), "/dev/sdb");
    assert_string_equal(resolve(v[2].spec, 2), "/dev/sdb");
    static const char *const want[] = { "subvol=root", "subvol=home", "", "subvol=/@/.snap shots,subvolid=260" };
    for (size_t i = 0; i < n; i++) {
        char *opts = seal_fstab_mount_options(v[i].options);
        if (strcmp(opts, want[i]) != 0)
            fail_msg("line %zu: mount options '%s', expected '%s'", i + 1, opts, want[i]);
        free(opts);
    }
    /* no subvolume option: the default subvolume, as in the guest */
    char *opts = seal_fstab_mount_options("defaults");
    assert_string_equal(opts, "");
    free(opts);
    opts = seal_fstab_mount_options("subvolume=x,nosubvol=y,subvol=z");
    assert_string_equal(opts, "subvol=z");
    free(opts);
    seal_fstab_free(v, n);
}

static void test_btrfs_paths(void **state) {
    (void)state;
    assert_true(seal_btrfs_path_below("root/var/lib/machines", "root"));
    assert_true(seal_btrfs_path_below("root/var/lib/machines/f38", "root/var/lib/machines"));
    assert_true(seal_btrfs_path_below("@/home", "@"));
    assert_false(seal_btrfs_path_below("root", "root"));
    assert_false(seal_btrfs_path_below("rootfs/etc", "root"));
    assert_false(seal_btrfs_path_below("root/", "root"));
    assert_false(seal_btrfs_path_below("home", "root"));
    assert_false(seal_btrfs_path_below("root", ""));
    assert_true(seal_btrfs_path_is_snapshot("root/.snapshots/1/snapshot"));
    assert_true(seal_btrfs_path_is_snapshot("@/.snapshots/12/snapshot"));
    assert_true(seal_btrfs_path_is_snapshot("timeshift-btrfs/snapshots/2024-01-01_00-00-01/@"));
    assert_false(seal_btrfs_path_is_snapshot("root"));
    assert_false(seal_btrfs_path_is_snapshot("@home"));
    assert_false(seal_btrfs_path_is_snapshot("root/var/lib/machines"));
}

/* Report names of hot-plugged disks (a warm appliance names the guest's
 * first disk /dev/sdc): the guest's disk order, as after a cold launch. */
static void test_dev_name(void **state) {
    (void)state;
    char *plugged[] = { "/dev/sdc", "/dev/sdd", NULL };
    struct seal_ctx ctx = { .disk_devs = plugged };
    static const char *const cases[][2] = {
        { "/dev/sdc", "/dev/sda" },
        { "/dev/sdc1", "/dev/sda1" },
        { "/dev/sdd12", "/dev/sdb12" },
        { "btrfsvol:/dev/sdc2/@", "btrfsvol:/dev/sda2/@" },
        { "/dev/vg0/root", "/dev/vg0/root" },
        { "/dev/sdcd1", "/dev/sdcd1" }, /* another disk, not /dev/sdc's partition */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *n = seal_dev_name(&ctx, cases[i][0]);
        assert_string_equal(n, cases[i][1]);
        free(n);
    }
    ctx.disk_devs = NULL; /* a cold appliance: names as they are */
    char *n = seal_dev_name(&ctx, "/dev/sdc1");
    assert_string_equal(n, "/dev/sdc1");
    free(n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_keyed),  cmocka_unit_test(test_resolve_lvm),
        cmocka_unit_test(test_resolve_legacy), cmocka_unit_test(test_resolve_by_id_path),
        cmocka_unit_test(test_disk_names),     cmocka_unit_test(test_dm_split),
        cmocka_unit_test(test_ro_options),     cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_escapes),  cmocka_unit_test(test_parse_btrfs),
        cmocka_unit_test(test_btrfs_paths),    cmocka_unit_test(test_dev_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
