/* sd_cmd.c - `vmsealctl sd create|import|list`: local storage domains.
 *
 * These act on the domain directory directly (worker/sd/sd.h, worker/sd/volume.h),
 * no broker.  A domain's id is stored in PATH/dom_md/metadata by
 * `sd create`, which is how `sd import --sd PATH` and `sd list PATH` know it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "err.h"
#include "sd.h"
#include "util.h"
#include "volume.h"

static const char sd_usage[] = "usage: vmsealctl sd create --id UUID PATH\n"
                               "       vmsealctl sd import --sd PATH FILE [--format qcow2|raw] [--json]\n"
                               "       vmsealctl sd list PATH [--json]\n";

/* The options of one subcommand (argv[0] is its name) and its one PATH or
 * FILE argument: -1 after printing usage on stderr when they are not so. */
static int sd_opts_parse(int argc, char **argv, struct ctl_opts *o) {
    memset(o, 0, sizeof *o);
    if (ctl_opts_parse(argc, argv, "idfj", true, sd_usage, o) < 0)
        return -1;
    if (!o->arg) {
        fputs(sd_usage, stderr);
        return -1;
    }
    return 0;
}

/* PATH made absolute against the current directory (it may not exist yet). */
static char *path_absolute(const char *path) {
    if (path[0] == '/')
        return xstrdup(path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        return xstrdup(path); /* sd_* will refuse it with a message */
    return xasprintf("%s/%s", cwd, path);
}

static int fail(const char *what, int r, const char *why) {
    fprintf(stderr, "vmsealctl sd %s: %s%s%s\n", what, err_str(r), why && why[0] ? ": " : "", why ? why : "");
    return 1;
}

static int cmd_create(int argc, char **argv) {
    struct ctl_opts o;
    if (sd_opts_parse(argc, argv, &o) < 0)
        return 2;
    if (!o.id) {
        fputs(sd_usage, stderr);
        return 2;
    }
    _cleanup_free_ char *path = path_absolute(o.arg);
    char why[ERR_WHY_LEN] = "";
    int r = sd_create(o.id, path, why);
    if (r < 0)
        return fail("create", r, why);
    printf("domain %s at %s\n", o.id, path);
    return 0;
}

static void import_progress_cb(int percent, const char *step, void *userdata) {
    fprintf(stderr, "\r%3d%% %-16s", percent, step);
    if (percent == 100)
        fputc('\n', stderr);
}

static int cmd_import(int argc, char **argv) {
    struct ctl_opts o;
    if (sd_opts_parse(argc, argv, &o) < 0)
        return 2;
    if (!o.sd) {
        fputs(sd_usage, stderr);
        return 2;
    }
    enum vol_format format = FORMAT_COW;
    if (o.format && strcmp(o.format, "raw") == 0) {
        format = FORMAT_RAW;
    } else if (o.format && strcmp(o.format, "qcow2") != 0) {
        fprintf(stderr, "vmsealctl sd import: --format must be qcow2 or raw\n");
        return 2;
    }
    _cleanup_free_ char *path = path_absolute(o.sd);
    char why[ERR_WHY_LEN] = "";
    struct sd *sd = NULL;
    int r = sd_open_path(path, &sd, why);
    if (r < 0)
        return fail("import", r, why);
    proto_uuid img_id, vol_id;
    bool show = !o.json && isatty(STDERR_FILENO);
    r = volume_create_from_file(sd, o.arg, format, show ? import_progress_cb : NULL, NULL, img_id, vol_id, why);
    if (r < 0) {
        sd_close(sd);
        return fail("import", r, why);
    }
    if (o.json) {
        struct json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "sd_id", sd_id(sd));
        json_str(&j, "img_id", img_id);
        json_str(&j, "vol_id", vol_id);
        json_close(&j);
        json_end(&j);
    } else {
        printf("sd_id=%s img_id=%s vol_id=%s\n", sd_id(sd), img_id, vol_id);
    }
    sd_close(sd);
    return 0;
}

static void list_volume_json(struct json *j, const char *img, const char *vol, const struct vol_meta *m,
                             const char *error) {
    json_obj_open(j, NULL);
    json_str(j, "img_id", img);
    json_str(j, "vol_id", vol);
    if (error) {
        json_str(j, "error", error);
    } else {
        json_str(j, "format", vol_format_to_string(m->format));
        json_str(j, "voltype", vol_type_to_string(m->voltype));
        json_str(j, "legality", vol_legality_to_string(m->legality));
        json_int(j, "generation", (int64_t)m->gen);
        json_int(j, "cap", m->cap_bytes);
        json_str(j, "puuid", m->puuid);
        json_int(j, "ctime", m->ctime_s);
        json_int(j, "mtime", m->mtime_s);
        json_str(j, "description", m->description);
    }
    json_close(j);
}

static void list_volume_text(const char *img, const char *vol, const struct vol_meta *m, const char *error) {
    if (error)
        printf("%s %s DAMAGED: %s\n", img, vol, error);
    else
        printf("%s %s %-3s %-8s %-7s %3d %14" PRId64 " %s\n", img, vol, vol_format_to_string(m->format),
               vol_type_to_string(m->voltype), vol_legality_to_string(m->legality), m->gen, m->cap_bytes,
               m->description);
}

/* The volumes of one image: as JSON members of j's array, or as text
 * lines when j is NULL. */
static int list_image(struct sd *sd, const char *img, struct json *j) {
    proto_uuid *vols = NULL;
    size_t n = 0;
    int r = sd_volumes_list(sd, img, &vols, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct vol_meta m;
        char why[ERR_WHY_LEN] = "";
        const char *error = sd_volume_meta_read(sd, img, vols[i], &m, why) < 0 ? why : NULL;
        if (j)
            list_volume_json(j, img, vols[i], &m, error);
        else
            list_volume_text(img, vols[i], &m, error);
    }
    free(vols);
    return 0;
}

static int cmd_list(int argc, char **argv) {
    struct ctl_opts o;
    if (sd_opts_parse(argc, argv, &o) < 0)
        return 2;
    _cleanup_free_ char *path = path_absolute(o.arg);
    char why[ERR_WHY_LEN] = "";
    struct sd *sd = NULL;
    int r = sd_open_path(path, &sd, why);
    if (r < 0)
        return fail("list", r, why);
    proto_uuid *imgs = NULL;
    size_t n = 0;
    r = sd_images_list(sd, &imgs, &n);
    if (r < 0) {
        sd_close(sd);
        return fail("list", r, NULL);
    }
    struct json j;
    if (o.json) {
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "sd_id", sd_id(sd));
        json_str(&j, "path", sd_path(sd));
        json_arr_open(&j, "volumes");
    } else {
        printf("domain %s at %s\n", sd_id(sd), sd_path(sd));
        printf("%-36s %-36s FMT VOLTYPE  LEGAL   GEN            CAP DESCRIPTION\n", "IMAGE", "VOLUME");
    }
    for (size_t i = 0; i < n && r == 0; i++)
        r = list_image(sd, imgs[i], o.json ? &j : NULL);
    if (o.json) {
        json_close(&j);
        json_close(&j);
        json_end(&j);
    }
    free(imgs);
    sd_close(sd);
    return r < 0 ? fail("list", r, NULL) : 0;
}

int ctl_sd_main(int argc, char **argv) {
    if (argc < 2) {
        fputs(sd_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "create") == 0)
        return cmd_create(argc - 1, argv + 1);
    if (strcmp(sub, "import") == 0)
        return cmd_import(argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return cmd_list(argc - 1, argv + 1);
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        fputs(sd_usage, stdout);
        return 0;
    }
    fprintf(stderr, "vmsealctl sd: unknown subcommand '%s'\n", sub);
    fputs(sd_usage, stderr);
    return 2;
}
