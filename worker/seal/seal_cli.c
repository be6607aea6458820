/* seal_cli.c - `vmseal-worker seal`; the output format is in seal_cli.h. */
#include "seal_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "seal.h"
#include "seal_log.h"
#include "util.h"

struct cli {
    struct proto_sysprep sysprep;
    const char *format;
    struct seal_opts opts;
    bool quiet, list, warm;
    const char *report_path; /* --report FILE */
    struct seal_log *log;    /* with --report */
};

static void usage(FILE *out) {
    fprintf(out, "usage: vmseal-worker seal [--enable OP,...] [--disable OP,...] [--hostname NAME]\n"
                 "                          [--no-selinux-relabel] [--format qcow2|raw] [--memsize MB]\n"
                 "                          [--smp N] [--tcg-tb-size MB|-1] [--allow-missing MOUNTPOINT]...\n"
                 "                          [--report FILE] [--warm] [--quiet] [--list-operations]\n"
                 "                          IMAGE...\n");
}

/* Append the comma-separated names in arg to *v. */
static void names_add(char ***v, size_t *n, const char *arg) {
    _cleanup_free_ char *copy = xstrdup(arg);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        *v = xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[(*n)++] = xstrdup(tok);
    }
}

static void names_free(char **v, size_t n) {
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

static int parse_args(int argc, char **argv, struct cli *c) {
    static const struct option longopts[] = {
        { "enable", required_argument, NULL, 'e' },
        { "disable", required_argument, NULL, 'd' },
        { "hostname", required_argument, NULL, 'H' },
        { "no-selinux-relabel", no_argument, NULL, 'S' },
        { "format", required_argument, NULL, 'f' },
        { "memsize", required_argument, NULL, 'm' },
        { "smp", required_argument, NULL, 'p' },
        { "quiet", no_argument, NULL, 'q' },
        { "tcg-tb-size", required_argument, NULL, 'T' },
        { "timings", no_argument, NULL, 't' },
        { "list-operations", no_argument, NULL, 'l' },
        { "allow-missing", required_argument, NULL, 'M' },
        { "report", required_argument, NULL, 'R' },
        { "warm", no_argument, NULL, 'W' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (o) {
        case 'e': names_add(&c->sysprep.enable, &c->sysprep.n_enable, optarg); break;
        case 'd': names_add(&c->sysprep.disable, &c->sysprep.n_disable, optarg); break;
        case 'H': c->sysprep.hostname = optarg; break;
        case 'S': c->sysprep.selinux_relabel = false; break;
        case 'q': c->quiet = true; break;
        case 't': break; /* timings are always printed */
        case 'l': c->list = true; break;
        case 'R': c->report_path = optarg; break;
        case 'W': c->warm = true; break;
        case 'M':
            if (optarg[0] != '/') {
                fprintf(stderr, "vmseal-worker seal: --allow-missing takes an absolute mount point\n");
                return -1;
            }
            c->sysprep.allow_missing =
                xrealloc(c->sysprep.allow_missing, (c->sysprep.n_allow_missing + 1) * sizeof(char *));
            c->sysprep.allow_missing[c->sysprep.n_allow_missing++] = xstrdup(optarg);
            break;
        case 'f':
            if (strcmp(optarg, "qcow2") != 0 && strcmp(optarg, "raw") != 0) {
                fprintf(stderr, "vmseal-worker seal: --format must be qcow2 or raw\n");
                return -1;
            }
            c->format = optarg;
            break;
        case 'm':
            if (parse_int(optarg, 128, 65536, &c->opts.memsize_mb) < 0) {
                fprintf(stderr, "vmseal-worker seal: --memsize must be 128..65536 (MB)\n");
                return -1;
            }
            break;
        case 'p':
            if (parse_int(optarg, 1, 64, &c->opts.smp) < 0) {
                fprintf(stderr, "vmseal-worker seal: --smp must be 1..64\n");
                return -1;
            }
            break;
        case 'T':
            if (parse_int(optarg, -1, 4096, &c->opts.tcg_tb_mb) < 0) {
                fprintf(stderr, "vmseal-worker seal: --tcg-tb-size must be -1 (qemu default) or 1..4096 (MB)\n");
                return -1;
            }
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    return 0;
}

/* "all", or the families joined by commas ("redhat,suse"). */
static void families_format(unsigned mask, char *out, size_t len) {
    if (mask == SEAL_FAMILY_ALL) {
        snprintf(out, len, "all");
        return;
    }
    out[0] = '\0';
    for (unsigned bit = 1; bit < SEAL_FAMILY_ALL; bit <<= 1)
        if (mask & bit)
            snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? "," : "",
                     seal_family_to_string((enum seal_family)bit));
}

static void list_operations(void) {
    for (size_t i = 0; i < seal_ops_count(); i++) {
        const struct seal_op_info *op = seal_op_info_get(i);
        char fam[64];
        families_format(op->families, fam, sizeof(fam));
        printf("%-24s %s %-11s %s\n", op->name, op->default_on ? "*" : " ", fam, op->description);
    }
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

int seal_cli_main(int argc, char **argv) {
    struct cli c = { .sysprep = { .selinux_relabel = true } };
    int status = 2;
    if (parse_args(argc, argv, &c) < 0)
        goto out;
    if (c.list) {
        list_operations();
        status = 0;
        goto out;
    }
    if (optind >= argc) {
        usage(stderr);
        goto out;
    }
    size_t n = (size_t)(argc - optind);
    struct seal_disk *disks = xcalloc(n, sizeof(*disks));
    for (size_t i = 0; i < n; i++) {
        disks[i].path = argv[optind + (int)i];
        disks[i].format = c.format ? c.format : format_detect(disks[i].path);
    }
    struct seal_report *rep = xcalloc(1, sizeof(*rep));
    char why[ERR_WHY_LEN];
    if (c.report_path)
        c.log = seal_log_new();
    if (c.warm) {
        /* What an idle worker does before the job arrives (seal.h). */
        int64_t warm_ms = 0;
        int w = seal_warm_start(&c.opts, &c.opts.warm, &warm_ms, why);
        printf("warm_start %s launch_ms=%lld\n", w < 0 ? "failed" : "ready", (long long)warm_ms);
        if (w < 0) {
            fputs("vmseal-worker seal: ", stderr);
            fput_escaped(stderr, why);
            fputs("; sealing with a fresh appliance\n", stderr);
        }
        fflush(stdout);
    }
    int r = seal_run(&c.opts, disks, n, &c.sysprep, progress_cb, &c, rep, why);
    for (size_t i = 0; r == 0 && i < rep->n_fs; i++) {
        printf("filesystem %s %s ", rep->fs[i].device, rep->fs[i].type);
        put_escaped(rep->fs[i].mountpoint);
        putchar('\n');
    }
    for (size_t i = 0; r == 0 && i < rep->n_missing; i++) {
        printf("not-sealed ");
        put_escaped(rep->missing[i].mountpoint);
        putchar(' ');
        put_escaped(rep->missing[i].device);
        printf(" (%s)\n", strcmp(rep->missing[i].type, "allowed") == 0 ? "--allow-missing" : "noauto/nofail");
    }
    if (r == 0) {
        /* The distro is the guest's os-release ID: escaped too. */
        printf("summary root=%s distro=", rep->root_device);
        put_escaped(rep->distro[0] ? rep->distro : "unknown");
        printf(" family=%s operations=%zu removed=%u changed=%u\n", seal_family_to_string(rep->family), rep->n_ops,
               rep->removed_total, rep->changed_total);
    }
    printf("seal_phases launch_ms=%lld inspect_ms=%lld ops_ms=%lld shutdown_ms=%lld total_ms=%lld warm=%d\n",
           (long long)rep->launch_ms, (long long)rep->inspect_ms, (long long)rep->ops_ms,
           (long long)rep->shutdown_ms, (long long)rep->total_ms, rep->warm);
    fflush(stdout);
    if (r < 0) {
        fprintf(stderr, "vmseal-worker seal: error: %s: ", err_name(r));
        fput_escaped(stderr, why[0] ? why : err_str(r));
        fputc('\n', stderr);
    }
    status = r < 0 ? 1 : 0;
    if (c.log) {
        int w = seal_log_write_json(c.log, rep, r, why, c.report_path);
        if (w < 0) {
            fprintf(stderr, "vmseal-worker seal: error: cannot write the report %s: %s\n", c.report_path,
                    err_str(w));
            status = 1;
        }
        seal_log_free(c.log);
    }
    free(rep);
    free(disks);
out:
    names_free(c.sysprep.enable, c.sysprep.n_enable);
    names_free(c.sysprep.disable, c.sysprep.n_disable);
    names_free(c.sysprep.allow_missing, c.sysprep.n_allow_missing);
    return status;
}
