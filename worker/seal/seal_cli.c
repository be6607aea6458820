/* seal_cli.c - `vmseal-worker seal`; the options and the output format are
 * in seal_cli.h, the differences from virt-sysprep in vmseal-worker(8). */
#include "seal_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "seal.h"
#include "seal_log.h"
#include "sysprep_ops.h"
#include "util.h"

#define PROG "vmseal-worker seal"

struct cli {
    struct proto_sysprep sysprep;
    struct seal_disk *disks; /* in command-line order; path borrowed from argv */
    size_t n_disks;
    const char *format;     /* the --format in effect: "qcow2", "raw", or NULL (auto) */
    const char *format_arg; /* the last --format given, until an image follows it */
    struct seal_opts opts;
    bool quiet, list, version, warm;
    const char *report_path; /* --report FILE */
    struct seal_log *log;    /* with --report */
};

static void usage(FILE *out) {
    fprintf(out, "usage: " PROG " [options] -a IMAGE [-a IMAGE]...\n"
                 "       " PROG " [options] IMAGE...\n"
                 "       " PROG " --list-operations | --version | --help\n"
                 "\n"
                 "  -a, --add IMAGE          a disk of the guest (repeatable; plain IMAGE arguments too)\n"
                 "  --format qcow2|raw|auto  format of the images that follow (auto: the image's header)\n"
                 "  --operations OPS         choose operations as virt-sysprep: OP adds, -OP removes,\n"
                 "                           defaults / all add those sets (repeatable; alias --ops)\n"
                 "  --enable OP,...          run ONLY these operations (once, before any --operations)\n"
                 "  --disable OP,...         remove these operations last (vmseal's; alone: defaults minus)\n"
                 "  --list-operations        every operation, '*' if on by default\n"
                 "  -n, --dry-run            open the images read-only: report, write nothing\n"
                 "  --hostname NAME          the hostname the template gets (default localhost)\n"
                 "  --no-selinux-relabel     skip the selinux-relabel operation\n"
                 "  --allow-missing MOUNTPOINT  seal although this fstab filesystem is not on the disks\n"
                 "  --report FILE            write what was done, path by path, as JSON\n"
                 "  --memsize MB  --smp N  --tcg-tb-size MB|-1   the appliance\n"
                 "  --warm                   launch the appliance first, then hot-plug the images into it\n"
                 "                           (what a worker with worker.guestfs.warm does while idle)\n"
                 "  --compressed-kernel      boot the appliance's kernel as libguestfs does (comparisons)\n"
                 "  -q, --quiet              no per-path lines\n"
                 "  -v, --verbose            libguestfs debug messages;  -x  trace libguestfs calls\n"
                 "  -V, --version            the vmseal and libguestfs versions\n");
}

static void entries_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int parse_int(const char *s, int min, int max, int *ret) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *ret = (int)v;
    return 0;
}

/* One image, with the --format in effect (NULL: detected later). */
static void image_add(struct cli *c, const char *path) {
    c->disks = xrealloc(c->disks, (c->n_disks + 1) * sizeof(*c->disks));
    c->disks[c->n_disks++] = (struct seal_disk){ .path = path, .format = c->format };
    c->format_arg = NULL;
}

static int format_set(struct cli *c, const char *arg) {
    if (strcmp(arg, "qcow2") != 0 && strcmp(arg, "raw") != 0 && strcmp(arg, "auto") != 0) {
        fprintf(stderr, PROG ": --format: '%s' is not supported (qcow2, raw or auto)\n", arg);
        return -1;
    }
    c->format = strcmp(arg, "auto") == 0 ? NULL : arg;
    c->format_arg = arg;
    return 0;
}

/* --enable, --disable, --operations: read as virt-sysprep reads them. */
static int choice_add(struct cli *c, enum proto_sysprep_option opt, const char *arg) {
    char why[ERR_WHY_LEN];
    if (proto_sysprep_option_add(&c->sysprep, opt, arg, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, PROG ": %s\n", why);
    return -1;
}

static int allow_missing_add(struct cli *c, const char *arg) {
    if (arg[0] != '/') {
        fprintf(stderr, PROG ": --allow-missing takes an absolute mount point\n");
        return -1;
    }
    c->sysprep.allow_missing =
        xrealloc(c->sysprep.allow_missing, (c->sysprep.n_allow_missing + 1) * sizeof(char *));
    c->sysprep.allow_missing[c->sysprep.n_allow_missing++] = xstrdup(arg);
    return 0;
}

/* The appliance's size options. */
static int appliance_opt(struct cli *c, int o, const char *arg) {
    switch (o) {
    case 'm':
        if (parse_int(arg, 128, 65536, &c->opts.memsize_mb) == 0)
            return 0;
        fprintf(stderr, PROG ": --memsize must be 128..65536 (MB)\n");
        return -1;
    case 'p':
        if (parse_int(arg, 1, 64, &c->opts.smp) == 0)
            return 0;
        fprintf(stderr, PROG ": --smp must be 1..64\n");
        return -1;
    default:
        if (parse_int(arg, -1, 4096, &c->opts.tcg_tb_mb) == 0)
            return 0;
        fprintf(stderr, PROG ": --tcg-tb-size must be -1 (qemu default) or 1..4096 (MB)\n");
        return -1;
    }
}

enum {
    OPT_IMAGE = 1, /* a plain argument (getopt's "-" mode keeps the order) */
    OPT_ENABLE = 256,
    OPT_DISABLE,
    OPT_OPERATIONS,
    OPT_HOSTNAME,
    OPT_NO_SELINUX_RELABEL,
    OPT_FORMAT,
    OPT_LIST,
    OPT_ALLOW_MISSING,
    OPT_REPORT,
    OPT_TIMINGS,
    OPT_WARM,
    OPT_COMPRESSED_KERNEL,
};

/* 0, 1 (--help printed: exit 0), or -1 (usage error, said on stderr). */
static int parse_args(int argc, char **argv, struct cli *c) {
    static const struct option longopts[] = {
        { "add", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "operations", required_argument, NULL, OPT_OPERATIONS },
        { "operation", required_argument, NULL, OPT_OPERATIONS },
        { "ops", required_argument, NULL, OPT_OPERATIONS },
        { "enable", required_argument, NULL, OPT_ENABLE },
        { "disable", required_argument, NULL, OPT_DISABLE },
        { "dry-run", no_argument, NULL, 'n' },
        { "dryrun", no_argument, NULL, 'n' },
        { "hostname", required_argument, NULL, OPT_HOSTNAME },
        { "no-selinux-relabel", no_argument, NULL, OPT_NO_SELINUX_RELABEL },
        { "memsize", required_argument, NULL, 'm' },
        { "smp", required_argument, NULL, 'p' },
        { "tcg-tb-size", required_argument, NULL, 'T' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "timings", no_argument, NULL, OPT_TIMINGS },
        { "list-operations", no_argument, NULL, OPT_LIST },
        { "allow-missing", required_argument, NULL, OPT_ALLOW_MISSING },
        { "report", required_argument, NULL, OPT_REPORT },
        { "warm", no_argument, NULL, OPT_WARM },
        { "compressed-kernel", no_argument, NULL, OPT_COMPRESSED_KERNEL },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    optind = 1;
    int r = 0;
    for (int o; r == 0 && (o = getopt_long(argc, argv, "-a:nqvxVh", longopts, NULL)) != -1;) {
        switch (o) {
        case OPT_IMAGE:
        case 'a': image_add(c, optarg); break;
        case OPT_FORMAT: r = format_set(c, optarg); break;
        case OPT_OPERATIONS: r = choice_add(c, PROTO_SYSPREP_OPT_OPERATIONS, optarg); break;
        case OPT_ENABLE: r = choice_add(c, PROTO_SYSPREP_OPT_ENABLE, optarg); break;
        case OPT_DISABLE: r = choice_add(c, PROTO_SYSPREP_OPT_DISABLE, optarg); break;
        case OPT_HOSTNAME: c->sysprep.hostname = optarg; break;
        case OPT_NO_SELINUX_RELABEL: c->sysprep.selinux_relabel = false; break;
        case OPT_ALLOW_MISSING: r = allow_missing_add(c, optarg); break;
        case OPT_REPORT: c->report_path = optarg; break;
        case OPT_WARM: c->warm = true; break;
        case OPT_COMPRESSED_KERNEL: c->opts.compressed_kernel = true; break;
        case OPT_LIST: c->list = true; break;
        case OPT_TIMINGS: break; /* timings are always printed */
        case 'm':
        case 'p':
        case 'T': r = appliance_opt(c, o, optarg); break;
        case 'n': c->opts.dry_run = true; break;
        case 'q': c->quiet = true; break;
        case 'v': c->opts.verbose = true; break;
        case 'x': c->opts.trace = true; break;
        case 'V': c->version = true; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    for (; r == 0 && optind < argc; optind++) /* after "--" */
        image_add(c, argv[optind]);
    if (r == 0 && c->format_arg) {
        fprintf(stderr, PROG ": --format %s is not followed by an image: it applies to the images after it\n",
                c->format_arg);
        r = -1;
    }
    if (r == 0 && !c->list && !c->version && c->n_disks == 0) {
        fprintf(stderr, PROG ": no image given (-a IMAGE)\n");
        usage(stderr);
        r = -1;
    }
    return r;
}

/* virt-sysprep's format: the name, '*' when on by default (else a space),
 * the description. */
static void list_operations(void) {
    for (size_t i = 0; i < seal_ops_count(); i++) {
        const struct seal_op_info *op = seal_op_info_get(i);
        printf("%s %c %s\n", op->name, op->default_on ? '*' : ' ', op->description);
    }
}

static void version_print(void) {
    char lg[64];
    seal_libguestfs_version(lg, sizeof lg);
    printf(PROG " %s\nlibguestfs %s\n", VMSEAL_VERSION, lg);
}

/* qcow2 if the file starts with the qcow2 magic, else raw: the image is
 * never handed to qemu's own format probing. */
static const char *format_detect(const char *path) {
    unsigned char magic[4] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "raw"; /* the engine reports the open error */
    ssize_t n = read(fd, magic, sizeof(magic));
    close(fd);
    return n == 4 && memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

/* Guest names on the terminal: escaped (str_escape), so a file name cannot
 * forge a line or drive the terminal.  A guest path is at most 4 KiB. */
static void fput_escaped(FILE *f, const char *s) {
    char esc[4 * 4096 + 1];
    fputs(str_escape(s, esc, sizeof esc), f);
}

static void put_escaped(const char *s) { fput_escaped(stdout, s); }

static void progress_cb(void *ud, enum seal_event ev, const char *op, int percent, const char *detail) {
    const struct cli *c = ud;
    if (c->log)
        seal_log_event(c->log, ev, op, detail);
    switch (ev) {
    case SEAL_EV_PHASE:
        printf("phase %s %d%% ", op, percent);
        put_escaped(detail);
        putchar('\n');
        break;
    case SEAL_EV_OP_START: printf("op %s start\n", op); break;
    case SEAL_EV_REMOVED:
    case SEAL_EV_CHANGED:
        if (!c->quiet) {
            printf("%s %s ", ev == SEAL_EV_REMOVED ? "removed" : "changed", op ? op : "-");
            put_escaped(detail);
            putchar('\n');
        }
        break;
    case SEAL_EV_OP_DONE: printf("op %s done %s\n", op, detail); break;
    }
    fflush(stdout);
}

static void report_print(const struct seal_report *rep, bool dry_run) {
    for (size_t i = 0; i < rep->n_fs; i++) {
        printf("filesystem %s %s ", rep->fs[i].device, rep->fs[i].type);
        put_escaped(rep->fs[i].mountpoint);
        putchar('\n');
    }
    for (size_t i = 0; i < rep->n_missing; i++) {
        printf("not-sealed ");
        put_escaped(rep->missing[i].mountpoint);
        putchar(' ');
        put_escaped(rep->missing[i].device);
        printf(" (%s)\n", strcmp(rep->missing[i].type, "allowed") == 0 ? "--allow-missing" : "noauto/nofail");
    }
    /* The distro is the guest's os-release ID: escaped too. */
    printf("summary root=%s distro=", rep->root_device);
    put_escaped(rep->distro[0] ? rep->distro : "unknown");
    printf(" family=%s operations=%zu removed=%u changed=%u%s\n", seal_family_to_string(rep->family), rep->n_ops,
           rep->removed_total, rep->changed_total, dry_run ? " dry_run=yes" : "");
}

/* Seal (or dry-run) the parsed images; the exit status. */
static int seal_images(struct cli *c) {
    for (size_t i = 0; i < c->n_disks; i++) {
        if (!c->disks[i].format)
            c->disks[i].format = format_detect(c->disks[i].path);
        printf("image %s ", c->disks[i].format);
        put_escaped(c->disks[i].path);
        putchar('\n');
    }
    if (c->opts.dry_run)
        printf("dry-run: the images are opened read-only; what is removed and changed below goes to a "
               "throw-away overlay\n");
    struct seal_report *rep = xcalloc(1, sizeof(*rep));
    char why[ERR_WHY_LEN];
    if (c->report_path)
        c->log = seal_log_new();
    if (c->warm) {
        int64_t warm_ms = 0;
        int w = seal_warm_start(&c->opts, &c->opts.warm, &warm_ms, why);
        printf("warm_start %s launch_ms=%lld\n", w < 0 ? "failed" : "ready", (long long)warm_ms);
        if (w < 0) {
            fputs(PROG ": ", stderr);
            fput_escaped(stderr, why);
            fputs("; sealing with a fresh appliance\n", stderr);
        }
        fflush(stdout);
    }
    int r = seal_run(&c->opts, c->disks, c->n_disks, &c->sysprep, progress_cb, c, rep, why);
    if (r == 0)
        report_print(rep, c->opts.dry_run);
    printf("seal_phases launch_ms=%lld inspect_ms=%lld ops_ms=%lld shutdown_ms=%lld total_ms=%lld warm=%d\n",
           (long long)rep->launch_ms, (long long)rep->inspect_ms, (long long)rep->ops_ms,
           (long long)rep->shutdown_ms, (long long)rep->total_ms, rep->warm);
    fflush(stdout);
    if (r < 0) {
        fprintf(stderr, PROG ": error: %s: ", err_name(r));
        fput_escaped(stderr, why[0] ? why : err_str(r));
        fputc('\n', stderr);
    }
    int status = r < 0 ? 1 : 0;
    if (c->log) {
        int w = seal_log_write_json(c->log, rep, r, why, c->report_path);
        if (w < 0) {
            fprintf(stderr, PROG ": error: cannot write the report %s: %s\n", c->report_path, err_str(w));
            status = 1;
        }
        seal_log_free(c->log);
    }
    free(rep);
    return status;
}

int seal_cli_main(int argc, char **argv) {
    struct cli c = { .sysprep = { .selinux_relabel = true } };
    char why[ERR_WHY_LEN];
    int status = 2, r = parse_args(argc, argv, &c);
    if (r != 0) {
        status = r > 0 ? 0 : 2;
    } else if (c.version) {
        version_print();
        status = 0;
    } else if (c.list) {
        list_operations();
        status = 0;
    } else if (proto_sysprep_check_named(&c.sysprep, PROTO_SYSPREP_NAMING_CLI, why, sizeof why) < 0) {
        /* the names are checked before any appliance starts */
        fprintf(stderr, PROG ": %s\n", why);
    } else {
        status = seal_images(&c);
    }
    free(c.disks);
    entries_free(c.sysprep.enable, c.sysprep.n_enable);
    entries_free(c.sysprep.disable, c.sysprep.n_disable);
    entries_free(c.sysprep.operations, c.sysprep.n_operations);
    entries_free(c.sysprep.allow_missing, c.sysprep.n_allow_missing);
    return status;
}
