/* sd_meta.c - the volume .meta format (sd.h): strict parser, sorted
 * writer, atomic file update. */
#include "sd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

/* The longest value line read (the description and room for any other key). */
#define SD_META_LINE_MAX (256 + SD_DESCRIPTION_MAX)

/* The keys, in the sorted order they are written. */
enum meta_key {
    K_CAP,
    K_CTIME,
    K_DESCRIPTION,
    K_DISKTYPE,
    K_DOMAIN,
    K_FORMAT,
    K_GEN,
    K_IMAGE,
    K_LEGALITY,
    K_MTIME,
    K_PUUID,
    K_TEMPLATE,
    K_VOLTYPE,
    K__COUNT
};
static const char *const meta_key_names[K__COUNT] = {
    "CAP",   "CTIME",    "DESCRIPTION", "DISKTYPE", "DOMAIN",   "FORMAT",  "GEN",
    "IMAGE", "LEGALITY", "MTIME",       "PUUID",    "TEMPLATE", "VOLTYPE",
};

static int meta_key_lookup(const char *name, size_t len) {
    for (int k = 0; k < K__COUNT; k++)
        if (strlen(meta_key_names[k]) == len && memcmp(meta_key_names[k], name, len) == 0)
            return k;
    return -1;
}

/* Strict decimal: digits only, no sign, no leading zeros (but "0"), <= max. */
static bool parse_uint(const char *s, int64_t max, int64_t *ret) {
    if (!*s || (s[0] == '0' && s[1]))
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        int d = *s - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

static bool description_valid(const char *s) {
    return strlen(s) <= SD_DESCRIPTION_MAX && !strchr(s, '\n') && !strchr(s, '\r');
}

/* Parse one value into m; NULL or a reason. */
static const char *meta_value_parse(struct vol_meta *m, enum meta_key k, const char *v, const char *expect_domain,
                                    const char *expect_image) {
    int64_t n;
    switch (k) {
    case K_CAP:
        if (!parse_uint(v, INT64_MAX, &m->cap_bytes))
            return "not a byte count";
        return NULL;
    case K_CTIME: return parse_uint(v, INT64_MAX, &m->ctime_s) ? NULL : "not a time";
    case K_MTIME: return parse_uint(v, INT64_MAX, &m->mtime_s) ? NULL : "not a time";
    case K_DESCRIPTION:
        if (!description_valid(v))
            return "longer than 210 bytes";
        strcpy(m->description, v);
        return NULL;
    case K_DISKTYPE: return strcmp(v, "DATA") == 0 ? NULL : "not DATA";
    case K_DOMAIN:
        if (!uuid_is_canonical(v))
            return "not a canonical UUID";
        if (expect_domain && strcmp(v, expect_domain) != 0)
            return "not this domain";
        memcpy(m->domain, v, sizeof m->domain);
        return NULL;
    case K_IMAGE:
        if (!uuid_is_canonical(v))
            return "not a canonical UUID";
        if (expect_image && strcmp(v, expect_image) != 0)
            return "not this image";
        memcpy(m->image, v, sizeof m->image);
        return NULL;
    case K_PUUID:
        if (!uuid_is_canonical(v))
            return "not a canonical UUID";
        memcpy(m->puuid, v, sizeof m->puuid);
        return NULL;
    case K_TEMPLATE:
        if (!uuid_is_canonical(v))
            return "not a canonical UUID";
        memcpy(m->template_id, v, sizeof m->template_id);
        return NULL;
    case K_FORMAT:
        if (vol_format_from_string(v, &m->format) < 0 || m->format == FORMAT_NONE)
            return "not RAW or COW";
        return NULL;
    case K_GEN:
        if (!parse_uint(v, SD_GEN_MOD - 1, &n))
            return "not an integer 0..999";
        m->gen = (int)n;
        return NULL;
    case K_LEGALITY:
        if (vol_legality_from_string(v, &m->legality) < 0 || m->legality == LEGALITY_NONE)
            return "not LEGAL or ILLEGAL";
        return NULL;
    case K_VOLTYPE:
        if (vol_type_from_string(v, &m->voltype) < 0 || m->voltype == VOLTYPE_NONE)
            return "not LEAF, SHARED or INTERNAL";
        return NULL;
    case K__COUNT: break;
    }
    return "unknown key";
}

static int bad_meta(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad_meta(char *why, const char *fmt, ...) {
    if (why) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, ERR_WHY_LEN, fmt, ap);
        va_end(ap);
    }
    return -VMS_E_BAD_META;
}

int sd_meta_parse(const char *buf, size_t len, const char *expect_domain, const char *expect_image,
                  struct vol_meta *ret_meta, char *why) {
    if (len > SD_META_MAX_BYTES)
        return bad_meta(why, "larger than 64 KiB");
    if (memchr(buf, '\0', len))
        return bad_meta(why, "contains a NUL byte");
    struct vol_meta m = { 0 };
    bool seen[K__COUNT] = { false };
    const char *p = buf, *end = buf + len;
    char line[SD_META_LINE_MAX];
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *next = nl ? nl + 1 : end;
        if (ll == 3 && memcmp(p, "EOF", 3) == 0) {
            if (next != end)
                return bad_meta(why, "data after EOF");
            for (int k = 0; k < K__COUNT; k++)
                if (!seen[k] && k != K_TEMPLATE) /* optional: only volumes a workflow copied */
                    return bad_meta(why, "%s: %s", meta_key_names[k], "missing");
            *ret_meta = m;
            return 0;
        }
        const char *eq = memchr(p, '=', ll);
        if (!eq)
            return bad_meta(why, "a line without '=' (missing EOF?)");
        int k = meta_key_lookup(p, (size_t)(eq - p));
        if (k < 0) {
            snprintf(line, sizeof line, "%.*s", (int)(eq - p) > 64 ? 64 : (int)(eq - p), p);
            return bad_meta(why, "%s: %s", line, "unknown key");
        }
        if (seen[k])
            return bad_meta(why, "%s: %s", meta_key_names[k], "duplicate key");
        seen[k] = true;
        size_t vl = ll - (size_t)(eq + 1 - p);
        if (vl >= sizeof line)
            return bad_meta(why, "%s: %s", meta_key_names[k], "value too long");
        memcpy(line, eq + 1, vl);
        line[vl] = '\0';
        const char *reason = meta_value_parse(&m, (enum meta_key)k, line, expect_domain, expect_image);
        if (reason)
            return bad_meta(why, "%s: %s", meta_key_names[k], reason);
        p = next;
    }
    return bad_meta(why, "no EOF line (truncated)");
}

static const char *meta_check(const struct vol_meta *m) {
    if (m->cap_bytes < 0)
        return "CAP";
    if (m->ctime_s < 0)
        return "CTIME";
    if (m->mtime_s < 0)
        return "MTIME";
    if (!description_valid(m->description))
        return "DESCRIPTION";
    if (!uuid_is_canonical(m->domain))
        return "DOMAIN";
    if (m->format != FORMAT_RAW && m->format != FORMAT_COW)
        return "FORMAT";
    if (m->gen < 0 || m->gen >= SD_GEN_MOD)
        return "GEN";
    if (!uuid_is_canonical(m->image))
        return "IMAGE";
    if (m->legality != LEGALITY_LEGAL && m->legality != LEGALITY_ILLEGAL)
        return "LEGALITY";
    if (!uuid_is_canonical(m->puuid))
        return "PUUID";
    if (m->template_id[0] && !uuid_is_canonical(m->template_id))
        return "TEMPLATE";
    if (m->voltype != VOLTYPE_LEAF && m->voltype != VOLTYPE_SHARED && m->voltype != VOLTYPE_INTERNAL)
        return "VOLTYPE";
    return NULL;
}

int sd_meta_format(const struct vol_meta *m, char **ret_buf, size_t *ret_len, char *why) {
    const char *bad = meta_check(m);
    if (bad) {
        sd_why(why, "%s: invalid value", bad);
        return -VMS_E_INVALID;
    }
    char *buf = xasprintf("CAP=%" PRId64 "\nCTIME=%" PRId64 "\nDESCRIPTION=%s\nDISKTYPE=DATA\n"
                          "DOMAIN=%s\nFORMAT=%s\nGEN=%d\nIMAGE=%s\nLEGALITY=%s\n"
                          "MTIME=%" PRId64 "\nPUUID=%s\n%s%s%sVOLTYPE=%s\nEOF\n",
                          m->cap_bytes, m->ctime_s, m->description, m->domain, vol_format_to_string(m->format),
                          m->gen, m->image, vol_legality_to_string(m->legality), m->mtime_s, m->puuid,
                          m->template_id[0] ? "TEMPLATE=" : "", m->template_id, m->template_id[0] ? "\n" : "",
                          vol_type_to_string(m->voltype));
    *ret_buf = buf;
    if (ret_len)
        *ret_len = strlen(buf);
    return 0;
}

int sd_volume_meta_readat(struct sd *sd, int img_fd, const char *img_id, const char *vol_id,
                          struct vol_meta *ret_meta, char *why) {
    if (!uuid_is_canonical(vol_id) || !uuid_is_canonical(img_id)) {
        sd_why(why, "volume id: not a canonical UUID");
        return -VMS_E_BAD_UUID;
    }
    char name[VMS_UUID_STRLEN + 6];
    snprintf(name, sizeof name, "%s.meta", vol_id);
    _cleanup_close_ int fd = -1;
    int r = sd_openat_file(img_fd, name, O_RDONLY, &fd);
    if (r == -ENOENT) {
        sd_why(why, "volume %s/%s does not exist", img_id, vol_id);
        return -VMS_E_NO_VOLUME;
    }
    if (r < 0) {
        sd_why(why, "%s/%s: %s", img_id, name, err_str(r));
        return r;
    }
    size_t cap = SD_META_MAX_BYTES + 2, len = 0;
    _cleanup_free_ char *buf = xmalloc(cap);
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            sd_why(why, "%s/%s: %s", img_id, name, err_str(r));
            return r;
        }
        if (n == 0 || (len += (size_t)n) == cap - 1)
            break;
    }
    char reason[ERR_WHY_LEN];
    r = sd_meta_parse(buf, len, sd_id(sd), img_id, ret_meta, reason);
    if (r < 0)
        sd_why(why, "%s/%s: %s", img_id, name, reason);
    return r;
}

int sd_volume_image_open(struct sd *sd, const char *img_id, const char *vol_id, bool locked, const char *what,
                         int *ret_fd, char *why) {
    int r =
        locked ? sd_image_open_locked(sd, img_id, false, ret_fd) : sd_image_dir_open(sd, img_id, false, ret_fd);
    if (r == -ENOENT) {
        sd_why(why, "%svolume %s/%s does not exist", what, img_id, vol_id);
        return -VMS_E_NO_VOLUME;
    }
    if (r < 0)
        sd_why(why, "%simage %s: %s", what, img_id, err_str(r));
    return r;
}

int sd_volume_meta_read(struct sd *sd, const char *img_id, const char *vol_id, struct vol_meta *ret_meta,
                        char *why) {
    _cleanup_close_ int img_fd = -1;
    int r = sd_volume_image_open(sd, img_id, vol_id, false, "", &img_fd, why);
    if (r < 0)
        return r;
    return sd_volume_meta_readat(sd, img_fd, img_id, vol_id, ret_meta, why);
}

int sd_file_commitat(int dir_fd, int fd, const char *tmp, const char *name) {
    if (fsync(fd) < 0 || renameat(dir_fd, tmp, dir_fd, name) < 0 || fsync(dir_fd) < 0)
        return -errno;
    return 0;
}

int sd_volume_meta_writeat(struct sd *sd, int img_fd, const char *vol_id, const struct vol_meta *m, char *why) {
    if (!uuid_is_canonical(vol_id)) {
        sd_why(why, "volume id: not a canonical UUID");
        return -VMS_E_BAD_UUID;
    }
    if (strcmp(m->domain, sd_id(sd)) != 0) {
        sd_why(why, "DOMAIN %s is not this domain", m->domain);
        return -VMS_E_INVALID;
    }
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r = sd_meta_format(m, &text, &len, why);
    if (r < 0)
        return r;
    char tmp[VMS_UUID_STRLEN + 10], meta[VMS_UUID_STRLEN + 6];
    snprintf(tmp, sizeof tmp, "%s.meta.tmp", vol_id);
    snprintf(meta, sizeof meta, "%s.meta", vol_id);
    _cleanup_close_ int fd = -1;
    r = sd_tmp_createat(img_fd, tmp, &fd);
    if (r == 0)
        r = write_all(fd, text, len);
    if (r == 0)
        r = sd_file_commitat(img_fd, fd, tmp, meta);
    if (r < 0) {
        if (fd >= 0)
            unlinkat(img_fd, tmp, 0);
        sd_why(why, "write %s/%s: %s", m->image, meta, err_str(r));
    }
    return r;
}
