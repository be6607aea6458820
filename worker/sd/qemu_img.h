/* qemu_img.h - running qemu-img (the only adapter for its output).
 *
 * qemu-img is started with posix_spawnp() (no shell) in the caller's
 * process group, stdin from /dev/null, stdout and stderr on pipes.  Nothing
 * here logs.  A non-zero exit is -VMS_E_QEMU_IMG with qemu-img's last stderr
 * line in `why` (ERR_WHY_LEN bytes, may be NULL).
 */
#ifndef VMSEAL_QEMU_IMG_H
#define VMSEAL_QEMU_IMG_H

#include <stdbool.h>
#include <stdint.h>

#include "sd.h"

/* Called with qemu-img -p's progress, 0..100, each time the integer changes. */
typedef void (*qemu_img_progress_cb)(int percent, void *userdata);

/* What `qemu-img info --backing-chain` says about an image. */
struct qemu_img_info {
    int64_t virtual_size; /* of the top image */
    char format[16];      /* of the top image: "qcow2", "raw", ... */
};

/* `qemu-img info -f FORMAT --backing-chain --output=json -U PATH`: the format
 * is always given (a volume's FORMAT, or qemu_img_format_guess()), never
 * probed by qemu-img (a raw guest disk that starts with a qcow2 header would
 * be opened as qcow2, backing file included).  Every file of the
 * chain (the image, its backing files, external data files) must be a plain
 * absolute path below `confine_root` (a realpath, e.g. sd_real_path()):
 * -VMS_E_PATH_ESCAPE otherwise, and for protocol or json: names.  This is
 * what keeps a crafted image header from making qemu-img read host files. */
int qemu_img_info(const char *path, const char *format, const char *confine_root, struct qemu_img_info *ret_info,
                  char *why);

/* "qcow2" when the file at path begins with the qcow2 magic, else "raw": the
 * first four bytes only, never a header's backing file.  -errno if it cannot
 * be read. */
int qemu_img_format_guess(const char *path, const char **ret_format);

/* The parser behind qemu_img_info(): `json` is qemu-img's whole output, an
 * array of image nodes, top image first (qemu 7.2), or the same where each
 * node also has a `children` array of nodes (qemu 8 and later, printed
 * before the node's own `format`).  Format and size are the top node's own
 * keys; every `filename`, `full-backing-filename` and `data-file` at any
 * depth must be confined as above.  -VMS_E_QEMU_IMG for text that is not
 * such JSON. */
int qemu_img_info_parse(const char *json, const char *confine_root, struct qemu_img_info *ret_info, char *why);

/* `qemu-img convert -p -C -f SRC_FMT -O DST_FMT SRC DST` (-C: copy offload). */
int qemu_img_convert(const char *src, const char *src_fmt, const char *dst, const char *dst_fmt,
                     qemu_img_progress_cb progress_cb, void *userdata, char *why);

/* "qcow2" for FORMAT_COW, "raw" for FORMAT_RAW, NULL otherwise. */
const char *qemu_img_format_name(enum vol_format f);

#endif
