/* seal_fstab.c - fstab parsing and device resolution (see seal_fstab.h).
 *
 * What real guests write, and where it comes from:
 *   - octal escapes (\040 for a space) in the spec, the mount point and the
 *     options (fstab(5); getmntent decodes every field);
 *   - udev's by-label / by-partlabel links encode unsafe bytes as \xHH;
 *   - device-mapper names of LVs double every dash inside the VG and LV
 *     names ("vg--data-home" = VG "vg-data", LV "home");
 *   - the appliance names disks /dev/sda, /dev/sdb … in the order they were
 *     added, which is the guest's order of vda, vdb … (or sda, hda, xvda).
 */
#include "seal_fstab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

const char *seal_fstab_class_to_string(enum seal_fstab_class c) {
    switch (c) {
    case SEAL_FSTAB_ROOT: return "root";
    case SEAL_FSTAB_BOOT: return "boot";
    case SEAL_FSTAB_OPTIONAL: return "optional";
    case SEAL_FSTAB_SKIP: return "skip";
    }
    return "?";
}

/* ---- parsing ---- */

static char *unescape_octal(const char *s, size_t len) {
    char *out = xmalloc(len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
            s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            *o++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static bool list_has(const char *list, char sep, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static bool has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* Filesystem types that never live on the guest's disks. */
static bool type_not_on_disk(const char *types) {
    static const char *const skip[] = {
        "swap",       "none",       "nfs",     "nfs4",        "cifs",      "smbfs",     "smb3",
        "ceph",       "glusterfs",  "9p",      "virtiofs",    "afs",       "davfs",     "lustre",
        "sshfs",      "tmpfs",      "ramfs",   "proc",        "sysfs",     "devpts",    "devtmpfs",
        "securityfs", "cgroup",     "cgroup2", "debugfs",     "tracefs",   "hugetlbfs", "mqueue",
        "efivarfs",   "autofs",     "overlay", "binfmt_misc", "configfs",  "pstore",    "bpf",
        "fusectl",    "rpc_pipefs", "nfsd",    "usbfs",       "selinuxfs", "iso9660",   "udf",
    };
    for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
        if (list_has(types, ',', skip[i]))
            return true;
    return has_prefix(types, "fuse");
}

static enum seal_fstab_class classify(const struct seal_fstab_entry *e) {
    if (e->mountpoint[0] != '/' || type_not_on_disk(e->type))
        return SEAL_FSTAB_SKIP;
    if (list_has(e->options, ',', "bind") || list_has(e->options, ',', "rbind") ||
        list_has(e->options, ',', "_netdev"))
        return SEAL_FSTAB_SKIP;
    /* host:/export, //server/share; removable media */
    if (strchr(e->spec, ':') || has_prefix(e->spec, "//") || has_prefix(e->spec, "/dev/sr") ||
        has_prefix(e->spec, "/dev/cdrom") || has_prefix(e->spec, "/dev/fd") || has_prefix(e->spec, "/dev/zram"))
        return SEAL_FSTAB_SKIP;
    if (strcmp(e->mountpoint, "/") == 0)
        return SEAL_FSTAB_ROOT;
    if (list_has(e->options, ',', "noauto") || list_has(e->options, ',', "nofail"))
        return SEAL_FSTAB_OPTIONAL;
    return SEAL_FSTAB_BOOT;
}

/* Split one line into up to four blank-separated fields. */
static size_t fields_split(const char *line, size_t len, const char *f[4], size_t flen[4]) {
    size_t k = 0, i = 0;
    while (k < 4) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len)
            break;
        f[k] = line + i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        flen[k] = (size_t)(line + i - f[k]);
        k++;
    }
    return k;
}

void seal_fstab_parse(const char *text, size_t len, struct seal_fstab_entry **ret, size_t *ret_n) {
    size_t n = 0, cap = 0;
    struct seal_fstab_entry *v = NULL;
    unsigned lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        pos += llen + 1;
        lineno++;
        const char *f[4];
        size_t flen[4];
        size_t k = fields_split(line, llen, f, flen);
        if (k < 3 || f[0][0] == '#')
            continue;
        struct seal_fstab_entry e = {
            .spec = unescape_octal(f[0], flen[0]),
            .mountpoint = unescape_octal(f[1], flen[1]),
            .type = xstrndup(f[2], flen[2]),
            .options = k > 3 ? unescape_octal(f[3], flen[3]) : xstrdup("defaults"),
            .line = xstrndup(line, llen),
            .lineno = lineno,
        };
        size_t mlen = strlen(e.mountpoint);
        while (mlen > 1 && e.mountpoint[mlen - 1] == '/')
            e.mountpoint[--mlen] = '\0';
        for (const char *p = e.mountpoint; *p; p++)
            e.depth += *p == '/';
        if (strcmp(e.mountpoint, "/") == 0)
            e.depth = 0;
        e.cls = classify(&e);
        if (n == cap)
            v = xrealloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));
        v[n++] = e;
    }
    *ret = v;
    *ret_n = n;
}

void seal_fstab_free(struct seal_fstab_entry *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].spec);
        free(v[i].mountpoint);
        free(v[i].type);
        free(v[i].options);
        free(v[i].line);
    }
    free(v);
}

const char *seal_ro_options(const char *type) {
    if (!type)
        return "ro";
    if (strcmp(type, "ext3") == 0 || strcmp(type, "ext4") == 0)
        return "ro,noload";
    if (strcmp(type, "xfs") == 0)
        return "ro,norecovery";
    if (strcmp(type, "btrfs") == 0)
        return "ro,nologreplay";
    return "ro";
}

char *seal_fstab_mount_options(const char *options) {
    char *out = xstrdup("");
    for (const char *p = options; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (has_prefix(p, "subvol=") || has_prefix(p, "subvolid=")) {
            char *joined = xasprintf("%s%s%.*s", out, out[0] ? "," : "", (int)len, p);
            free(out);
            out = joined;
        }
        p = comma ? comma + 1 : NULL;
    }
    return out;
}

bool seal_btrfs_path_below(const char *path, const char *parent) {
    size_t n = strlen(parent);
    return n > 0 && strncmp(path, parent, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

bool seal_btrfs_path_is_snapshot(const char *path) { return strstr(path, "snapshot") != NULL; }

/* ---- devices ---- */

void seal_blockdev_free(struct seal_blockdev *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        char *fields[] = { v[i].dev,       v[i].type, v[i].uuid, v[i].label,  v[i].partuuid,
                           v[i].partlabel, v[i].vg,   v[i].lv,   v[i].dm_uuid };
        for (size_t k = 0; k < ARRAY_SIZE(fields); k++)
            free(fields[k]);
    }
    free(v);
}

/* Digits at s into *ret (at most 4 of them); the number of digits read. */
static size_t digits(const char *s, int *ret) {
    size_t k = 0;
    int v = 0;
    while (k < 4 && s[k] >= '0' && s[k] <= '9')
        v = v * 10 + (s[k++] - '0');
    *ret = v;
    return k;
}

int seal_disk_name_parse(const char *dev, int *ret_disk, int *ret_part) {
    static const char *const prefixes[] = { "/dev/sd", "/dev/vd", "/dev/hd", "/dev/xvd" };
    int disk = -1, part = 0;
    const char *p = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(prefixes) && !p; i++)
        if (has_prefix(dev, prefixes[i]))
            p = dev + strlen(prefixes[i]);
    if (p) {
        size_t k = 0;
        for (disk = 0; k < 3 && p[k] >= 'a' && p[k] <= 'z'; k++)
            disk = disk * 26 + (p[k] - 'a' + 1);
        if (k == 0)
            return -1;
        disk--;
        p += k;
        p += digits(p, &part);
    } else if (has_prefix(dev, "/dev/nvme")) {
        int ns;
        p = dev + 9;
        size_t k = digits(p, &disk);
        if (k == 0 || p[k] != 'n')
            return -1;
        p += k + 1;
        if ((k = digits(p, &ns)) == 0)
            return -1;
        p += k;
        if (*p == 'p') {
            if ((k = digits(++p, &part)) == 0)
                return -1;
            p += k;
        }
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *ret_disk = disk;
    *ret_part = part;
    return 0;
}

int seal_dm_name_split(const char *name, char **ret_vg, char **ret_lv) {
    size_t len = strlen(name);
    char *vg = xmalloc(len + 1), *o = vg;
    const char *s = name;
    for (; *s; s++) {
        if (s[0] == '-' && s[1] == '-') {
            *o++ = '-';
            s++;
        } else if (s[0] == '-') {
            break;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    if (*s != '-' || o == vg || !s[1]) {
        free(vg);
        return -1;
    }
    char *lv = xmalloc(len + 1);
    o = lv;
    for (s++; *s; s++) {
        if (s[0] == '-' && s[1] == '-')
            s++;
        *o++ = *s;
    }
    *o = '\0';
    *ret_vg = vg;
    *ret_lv = lv;
    return 0;
}

/* udev's \xHH encoding in /dev/disk/by-label and by-partlabel names. */
static char *unescape_hex(const char *s) {
    char *out = xmalloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        unsigned v;
        if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1 && s[2] && s[3]) {
            *o++ = (char)v;
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* LABEL="x y" is accepted by mount(8): drop one pair of quotes. */
static char *unquote(const char *s) {
    size_t len = strlen(s);
    if (len >= 2 && (s[0] == '"' || s[0] == '\'') && s[len - 1] == s[0])
        return xstrndup(s + 1, len - 2);
    return xstrdup(s);
}

enum match_key { KEY_UUID, KEY_LABEL, KEY_PARTUUID, KEY_PARTLABEL, KEY_DM_UUID };

static int find_by(const struct seal_blockdev *v, size_t n, enum match_key key, const char *value) {
    for (size_t i = 0; i < n; i++) {
        const char *have = key == KEY_UUID        ? v[i].uuid
                           : key == KEY_LABEL     ? v[i].label
                           : key == KEY_PARTUUID  ? v[i].partuuid
                           : key == KEY_PARTLABEL ? v[i].partlabel
                                                  : v[i].dm_uuid;
        if (!have || !*have)
            continue;
        bool icase = key == KEY_UUID || key == KEY_PARTUUID;
        if (icase ? strcasecmp(have, value) == 0 : strcmp(have, value) == 0)
            return (int)i;
    }
    return -1;
}

static int find_lv(const struct seal_blockdev *v, size_t n, const char *vg, const char *lv) {
    for (size_t i = 0; i < n; i++)
        if (v[i].vg && v[i].lv && strcmp(v[i].vg, vg) == 0 && strcmp(v[i].lv, lv) == 0)
            return (int)i;
    return -1;
}

static int find_part(const struct seal_blockdev *v, size_t n, int disk, int part) {
    for (size_t i = 0; i < n; i++)
        if (v[i].disk == disk && v[i].part == part)
            return (int)i;
    return -1;
}

static int find_dm_name(const struct seal_blockdev *v, size_t n, const char *name) {
    char *vg, *lv;
    if (seal_dm_name_split(name, &vg, &lv) < 0)
        return -1;
    int i = find_lv(v, n, vg, lv);
    free(vg);
    free(lv);
    return i;
}

/* by-id and by-path: the partition by its -partN suffix, on the one disk. */
static int find_on_only_disk(const struct seal_blockdev *v, size_t n, size_t n_disks, const char *name, char *why,
                             size_t why_len) {
    if (n_disks != 1) {
        snprintf(why, why_len, "names a disk by serial or bus address, which cannot be told apart among %zu disks",
                 n_disks);
        return -1;
    }
    int part = 0;
    const char *suffix = strstr(name, "-part");
    size_t k = suffix ? digits(suffix + 5, &part) : 0;
    if (k > 0 && suffix[5 + k] == '\0')
        return find_part(v, n, 0, part);
    return find_part(v, n, 0, 0);
}

int seal_fstab_resolve(const struct seal_blockdev *v, size_t n, size_t n_disks, const char *spec, char *why,
                       size_t why_len) {
    static const struct {
        const char *prefix;
        enum match_key key;
        bool udev;
    } keyed[] = {
        { "UUID=", KEY_UUID, false },
        { "LABEL=", KEY_LABEL, false },
        { "PARTUUID=", KEY_PARTUUID, false },
        { "PARTLABEL=", KEY_PARTLABEL, false },
        { "/dev/disk/by-uuid/", KEY_UUID, true },
        { "/dev/disk/by-label/", KEY_LABEL, true },
        { "/dev/disk/by-partuuid/", KEY_PARTUUID, true },
        { "/dev/disk/by-partlabel/", KEY_PARTLABEL, true },
        { "/dev/disk/by-id/dm-uuid-", KEY_DM_UUID, false },
    };
    snprintf(why, why_len, "no device by that name on the given disks");
    for (size_t k = 0; k < ARRAY_SIZE(keyed); k++) {
        if (!has_prefix(spec, keyed[k].prefix))
            continue;
        const char *rest = spec + strlen(keyed[k].prefix);
        char *value = keyed[k].udev ? unescape_hex(rest) : unquote(rest);
        int i = find_by(v, n, keyed[k].key, value);
        free(value);
        return i;
    }
    const char *rest;
    if (has_prefix(spec, "/dev/mapper/") || has_prefix(spec, "/dev/disk/by-id/dm-name-")) {
        rest = spec + (has_prefix(spec, "/dev/mapper/") ? 12 : 24);
        return find_dm_name(v, n, rest);
    }
    if (has_prefix(spec, "/dev/disk/by-id/") || has_prefix(spec, "/dev/disk/by-path/"))
        return find_on_only_disk(v, n, n_disks, strrchr(spec, '/') + 1, why, why_len);
    int disk, part;
    if (seal_disk_name_parse(spec, &disk, &part) == 0)
        return find_part(v, n, disk, part);
    /* /dev/VG/LV */
    if (has_prefix(spec, "/dev/")) {
        const char *slash = strchr(spec + 5, '/');
        if (slash && slash > spec + 5 && !strchr(slash + 1, '/') && slash[1]) {
            char *vg = xstrndup(spec + 5, (size_t)(slash - spec - 5));
            int i = find_lv(v, n, vg, slash + 1);
            free(vg);
            return i;
        }
    }
    snprintf(why, why_len, "not a device name vmseal can resolve");
    return -1;
}
