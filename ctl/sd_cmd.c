/* sd_cmd.c - `vmsealctl sd create|import|list`: local storage domains.
 *
 * These act on the domain directory directly (worker/sd.h, worker/volume.h),
 * no broker.  A domain's id is stored in PATH/dom_md/metadata by
 * `sd create`, which is how `sd import --sd PATH` and `sd list PATH` know it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "err.h"
#include "sd.h"
#include "util.h"
#include "volume.h"

static void sd_usage(FILE *f) {
    fputs("usage: vmsealctl sd create --id UUID PATH\n"
          "       vmsealctl sd import --sd PATH FILE [--format qcow2|raw] [--json]\n"
          "       vmsealctl sd list PATH [--json]\n",
          f);
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
    fprintf(stderr, "vmsealctl sd %s: %s%s%s\n", what, err_str(r), why && why[0] ? ": " : "",
            why ? why : "");
    return 1;
}

/* A JSON string literal of s on f. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Parse options for one subcommand; argv[0] is the subcommand name. */
struct sd_opts {
    const char *id, *sd, *format;
    bool json;
    int first_arg; /* index of the first positional argument */
};

static int sd_opts_parse(int argc, char **argv, struct sd_opts *o) {
    static const struct option longopts[] = {
        { "id", required_argument, NULL, 'i' },     { "sd", required_argument, NULL, 's' },
        { "format", required_argument, NULL, 'f' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    optind = 0; /* glibc: full reset, we may be called more than once */
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': o->id = optarg; break;
        case 's': o->sd = optarg; break;
        case 'f': o->format = optarg; break;
        case 'j': o->json = true; break;
        case 'h': sd_usage(stdout); exit(0);
        default: return -1;
        }
    }
    o->first_arg = optind;
    return 0;
}

static int cmd_create(int argc, char **argv) {
    struct sd_opts o;
    if (sd_opts_parse(argc, argv, &o) < 0 || !o.id || argc - o.first_arg != 1) {
        sd_usage(stderr);
        return 2;
    }
    _cleanup_free_ char *path = path_absolute(argv[o.first_arg]);
    char why[SD_WHY_LEN] = "";
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
    struct sd_opts o;
    if (sd_opts_parse(argc, argv, &o) < 0 || !o.sd || argc - o.first_arg != 1) {
        sd_usage(stderr);
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
    char why[SD_WHY_LEN] = "";
    struct sd *sd = NULL;
    int r = sd_open_path(path, &sd, why);
    if (r < 0)
        return fail("import", r, why);
    proto_uuid img_id, vol_id;
    bool show = !o.json && isatty(STDERR_FILENO);
    r = volume_create_from_file(sd, argv[o.first_arg], format, show ? import_progress_cb : NULL,
                                NULL, img_id, vol_id, why);
    if (r < 0) {
        sd_close(sd);
        return fail("import", r, why);
    }
    if (o.json)
        printf("{\"sd_id\":\"%s\",\"img_id\":\"%s\",\"vol_id\":\"%s\"}\n", sd_id(sd), img_id, vol_id);
    else
        printf("sd_id=%s img_id=%s vol_id=%s\n", sd_id(sd), img_id, vol_id);
    sd_close(sd);
    return 0;
}

static void list_volume_json(const char *img, const char *vol, const struct vol_meta *m,
                             const char *error, bool first) {
    printf("%s{\"img_id\":\"%s\",\"vol_id\":\"%s\"", first ? "" : ",", img, vol);
    if (error) {
        printf(",\"error\":");
        json_str(stdout, error);
    } else {
        printf(",\"format\":\"%s\",\"voltype\":\"%s\",\"legality\":\"%s\",\"generation\":%d,"
               "\"cap\":%" PRId64 ",\"puuid\":\"%s\",\"ctime\":%" PRId64 ",\"mtime\":%" PRId64
               ",\"description\":",
               vol_format_to_string(m->format), vol_type_to_string(m->voltype),
               vol_legality_to_string(m->legality), m->gen, m->cap_bytes, m->puuid, m->ctime_s,
               m->mtime_s);
        json_str(stdout, m->description);
    }
    printf("}");
}

static void list_volume_text(const char *img, const char *vol, const struct vol_meta *m,
                             const char *error) {
    if (error)
        printf("%s %s DAMAGED: %s\n", img, vol, error);
    else
        printf("%s %s %-3s %-8s %-7s %3d %14" PRId64 " %s\n", img, vol,
               vol_format_to_string(m->format), vol_type_to_string(m->voltype),
               vol_legality_to_string(m->legality), m->gen, m->cap_bytes, m->description);
}

static int list_image(struct sd *sd, const char *img, bool json, bool *first) {
    proto_uuid *vols = NULL;
    size_t n = 0;
    int r = sd_volumes_list(sd, img, &vols, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct vol_meta m;
        char why[SD_WHY_LEN] = "";
        const char *error = sd_volume_meta_read(sd, img, vols[i], &m, why) < 0 ? why : NULL;
        if (json)
            list_volume_json(img, vols[i], &m, error, *first);
        else
            list_volume_text(img, vols[i], &m, error);
        *first = false;
    }
    free(vols);
    return 0;
}

static int cmd_list(int argc, char **argv) {
    struct sd_opts o;
    if (sd_opts_parse(argc, argv, &o) < 0 || argc - o.first_arg != 1) {
        sd_usage(stderr);
        return 2;
    }
    _cleanup_free_ char *path = path_absolute(argv[o.first_arg]);
    char why[SD_WHY_LEN] = "";
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
    if (o.json) {
        printf("{\"sd_id\":\"%s\",\"path\":", sd_id(sd));
        json_str(stdout, sd_path(sd));
        printf(",\"volumes\":[");
    } else {
        printf("domain %s at %s\n", sd_id(sd), sd_path(sd));
        printf("%-36s %-36s FMT VOLTYPE  LEGAL   GEN            CAP DESCRIPTION\n", "IMAGE", "VOLUME");
    }
    bool first = true;
    for (size_t i = 0; i < n && r == 0; i++)
        r = list_image(sd, imgs[i], o.json, &first);
    if (o.json)
        printf("]}\n");
    free(imgs);
    sd_close(sd);
    return r < 0 ? fail("list", r, NULL) : 0;
}

int ctl_sd_main(int argc, char **argv) {
    if (argc < 2) {
        sd_usage(stderr);
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
        sd_usage(stdout);
        return 0;
    }
    fprintf(stderr, "vmsealctl sd: unknown subcommand '%s'\n", sub);
    sd_usage(stderr);
    return 2;
}
