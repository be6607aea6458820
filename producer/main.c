/* main.c - vmseal-producer: parse arguments and configuration, then run.
 *
 *   vmseal-producer [--config FILE] [--id NAME]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "producer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: vmseal-producer [--config FILE] [--id NAME]\n"
               "\n"
               "  --config FILE  configuration (default $VMSEAL_CONFIG, else /etc/vmseal/producer.conf)\n"
               "                 groups: broker, producer (required), storage, log\n"
               "  --id NAME      name in logs and template events (default producer@<hostname>)\n");
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "id", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *cli_config = NULL, *id = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:i:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli_config = optarg; break;
        case 'i': id = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("vmseal-producer %s\n", VMSEAL_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vmseal-producer: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    char *path = config_path_for("producer", cli_config);
    char why[ERR_WHY_LEN] = "", warn[ERR_WHY_LEN] = "";
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    int r = config_load(path, CONFIG_BROKER | CONFIG_PRODUCER | CONFIG_STORAGE | CONFIG_LOG,
                        CONFIG_BROKER | CONFIG_PRODUCER, &cfg, why, warn);
    if (r < 0) {
        fprintf(stderr, "vmseal-producer: %s\n", why[0] ? why : err_str(r));
        free(path);
        return 1;
    }
    log_set_level(cfg.log_level);
    if (warn[0])
        log_warn("%s", warn);
    log_info("configuration %s", path);
    free(path);

    struct producer_ctx ctx = { .cfg = &cfg, .id = id };
    r = producer_run(&ctx);
    config_free(&cfg);
    return r < 0 ? 1 : 0;
}
