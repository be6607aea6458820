/* seal_fstab.h - the guest's /etc/fstab: parsing, classification and
 * resolution of its device names against the guest's block devices.
 *
 * Pure code (no libguestfs): seal_ops_mount.c collects the block devices of
 * the appliance and mounts what this module resolves; tests/worker/
 * test_seal_fstab.c tests it without an appliance.
 *
 * Strings are owned by the structures that hold them; the free functions
 * accept NULL.  Allocation failure aborts (common/util.h).
 */
#ifndef VMSEAL_SEAL_FSTAB_H
#define VMSEAL_SEAL_FSTAB_H

#include <stdbool.h>
#include <stddef.h>

/* What an fstab line means for sealing. */
enum seal_fstab_class {
    SEAL_FSTAB_ROOT,     /* mount point "/": found by root discovery */
    SEAL_FSTAB_BOOT,     /* mounted at boot: must be on the disks and mountable */
    SEAL_FSTAB_OPTIONAL, /* noauto or nofail: sealed when present, else noted */
    SEAL_FSTAB_SKIP,     /* swap, network, pseudo or bind entry: not on the disks */
};
const char *seal_fstab_class_to_string(enum seal_fstab_class c);

struct seal_fstab_entry {
    char *spec;       /* first field, octal escapes (\040 …) decoded */
    char *mountpoint; /* second field, decoded, no trailing '/' (except "/") */
    char *type;       /* third field */
    char *options;    /* fourth field, decoded, "defaults" when absent */
    char *line;       /* the line as written (for messages) */
    unsigned lineno;  /* 1-based */
    int depth;        /* number of '/' in mountpoint; "/" = 0 */
    enum seal_fstab_class cls;
};

/* Parse fstab text (len bytes, need not be NUL-terminated).  Comments, blank
 * lines and lines with fewer than three fields are ignored.  Entries come back
 * in file order in *ret (free with seal_fstab_free). */
void seal_fstab_parse(const char *text, size_t len, struct seal_fstab_entry **ret, size_t *ret_n);
void seal_fstab_free(struct seal_fstab_entry *v, size_t n);

/* Read-only mount options that also keep the filesystem's journal or log
 * from being replayed (a replay writes to the image): "ro,noload" for
 * ext3/ext4, "ro,norecovery" for XFS, "ro,nologreplay" for btrfs, else "ro". */
const char *seal_ro_options(const char *type);

/* The options mount must be given for the entry: its btrfs subvol= and
 * subvolid=, comma-joined; "" for anything else.  Every other option is
 * dropped (compress=, noatime, ssd, space_cache, x-systemd.*, …): they change
 * how new data is written or what happens at boot, never which tree is
 * mounted, and a read-only mount must not be refused for them.  A line
 * without subvol= and subvolid= mounts the filesystem's default subvolume,
 * as in the guest.  Caller frees. */
char *seal_fstab_mount_options(const char *options);

/* btrfs subvolume paths as `btrfs subvolume list` prints them with the top
 * level mounted (relative to it, no leading '/').  True when path lies
 * inside the subvolume parent (a nested subvolume: "root/var/lib/machines"
 * in "root"); false for parent itself and for "rootfs" next to "root". */
bool seal_btrfs_path_below(const char *path, const char *parent);

/* True when the subvolume at path is taken for a snapshot, never a root of
 * its own: its path holds "snapshot" (snapper's .snapshots/N/snapshot,
 * timeshift-btrfs/snapshots/…, @snapshots). */
bool seal_btrfs_path_is_snapshot(const char *path);

/* One block device of the guest as the appliance sees it.  Empty strings
 * ("") or NULL for absent attributes. */
struct seal_blockdev {
    char *dev;  /* appliance name: /dev/sda1, /dev/sdb, /dev/vg0/root */
    char *type; /* blkid TYPE: ext4, xfs, btrfs, crypto_LUKS, LVM2_member, … */
    char *uuid, *label, *partuuid, *partlabel;
    char *vg, *lv; /* logical volumes only */
    char *dm_uuid; /* logical volumes: "LVM-" + VG uuid + LV uuid, no dashes */
    int disk;      /* 0-based disk index; -1 for a logical volume */
    int part;      /* partition number, 0 = the whole disk */
};
void seal_blockdev_free(struct seal_blockdev *v, size_t n);

/* Kernel disk names: /dev/sdb2, /dev/vda, /dev/hdc1, /dev/xvda3,
 * /dev/nvme1n1p2 (disk = controller number) into a 0-based disk index and a
 * partition number (0 = whole disk).  -1 when dev is not such a name. */
int seal_disk_name_parse(const char *dev, int *ret_disk, int *ret_part);

/* A device-mapper name of an LV ("vg--data-lv--home") into its VG and LV
 * ("vg-data", "lv-home"): a single '-' separates them, "--" is a dash.
 * -1 when the name has no single dash.  Caller frees both. */
int seal_dm_name_split(const char *name, char **ret_vg, char **ret_lv);

/* The device the fstab spec names: UUID=, LABEL=, PARTUUID=, PARTLABEL=,
 * /dev/disk/by-{uuid,label,partuuid,partlabel,id,path}/…, /dev/mapper/VG-LV,
 * /dev/VG/LV, /dev/sdX, vdX, hdX, xvdX, nvmeXnYpZ.  by-id and by-path names
 * carry serial numbers and bus addresses the appliance does not know: they
 * resolve only with one disk (by their -partN suffix) or when they are
 * dm-name-/dm-uuid- names.  Returns the index in v, or -1 with a one-line
 * reason in why. */
int seal_fstab_resolve(const struct seal_blockdev *v, size_t n, size_t n_disks, const char *spec, char *why,
                       size_t why_len);

#endif
