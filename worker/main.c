/* main.c - vmseal-worker: parse arguments and configuration, then run.
 *
 *   vmseal-worker [--config FILE] [--grace-s N] [run]   the daemon (runtime.h)
 *   vmseal-worker seal [options] IMAGE...               seal local images (seal_cli.h)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "runtime.h"
#include "seal_cli.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vmseal-worker [--config FILE] [--grace-s N] [run]\n"
            "       vmseal-worker seal [options] IMAGE...   (see vmseal-worker seal --help)\n"
            "\n"
            "  --config FILE  configuration (default $VMSEAL_CONFIG, else /etc/vmseal/worker.conf)\n"
            "  --grace-s N    on SIGTERM, let running jobs finish for N s (default %d), then requeue\n",
            WORKER_DEFAULT_GRACE_S);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "grace-s", required_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *cli_config = NULL;
    int grace_s = WORKER_DEFAULT_GRACE_S, c;

    if (argc >= 2 && strcmp(argv[1], "seal") == 0)
        return seal_cli_main(argc - 1, argv + 1);
    while ((c = getopt_long(argc, argv, "c:g:hV", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': cli_config = optarg; break;
        case 'g':
            grace_s = (int)strtol(optarg, &end, 10);
            if (*end || grace_s < 1 || grace_s > 86400) {
                fprintf(stderr, "vmseal-worker: --grace-s: expected 1..86400 seconds\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("vmseal-worker %s\n", VMSEAL_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc && strcmp(argv[optind], "run") == 0)
        optind++;
    if (optind < argc) {
        fprintf(stderr, "vmseal-worker: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    char *path = config_path_for("worker", cli_config);
    char why[ERR_WHY_LEN] = "", warn[ERR_WHY_LEN] = "";
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int r = config_load(path, CONFIG_BROKER | CONFIG_WORKER | CONFIG_STORAGE | CONFIG_LOG,
                        CONFIG_BROKER | CONFIG_STORAGE, &cfg, why, warn);
    if (r < 0) {
        fprintf(stderr, "vmseal-worker: %s\n", why[0] ? why : err_str(r));
        free(path);
        return 1;
    }
    char *component = xasprintf("worker[%s]", cfg.worker.id);
    log_set_component(component);
    free(component);
    log_set_level(cfg.log_level);
    if (warn[0])
        log_warn("%s", warn);
    log_info("configuration %s", path);
    free(path);

    struct worker_ctx ctx = { .cfg = &cfg, .grace_s = grace_s };
    r = worker_run(&ctx);
    config_free(&cfg);
    return r < 0 ? 1 : 0;
}
