/* main.c - vmsealctl: dispatch the command to its module (ctl.h). */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const struct {
    const char *name;
    int (*main_cb)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "submit", ctl_submit_main, "submit --name N --disk SD:IMG:VOL... [--seal] [--wait]  create a template" },
    { "status", ctl_status_main, "status ID [--json]            one template: steps, disks, jobs, error" },
    { "list", ctl_list_main, "list [--state S] [--limit N] [--json]  templates, newest first" },
    { "cancel", ctl_cancel_main, "cancel ID                     cancel a template (rolls back)" },
    { "watch", ctl_watch_main, "watch [ID] [--json]           live events" },
    { "workers", ctl_workers_main, "workers [--json]              workers up or down (from heartbeats)" },
    { "dead", ctl_dead_main,
      "dead [--json] | --requeue ID | --purge  dead letters: list, requeue one, remove all" },
    { "sd", ctl_sd_main, "sd create|import|list         local storage domains (no broker)" },
};

static void usage(FILE *f) {
    fputs("usage: vmsealctl COMMAND [ARGS...]   (COMMAND --help for details)\n"
          "       vmsealctl --version\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].help);
    fputs("\nBroker commands read --config FILE, else $VMSEAL_CONFIG, else /etc/vmseal/vmsealctl.conf.\n", f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("vmsealctl %s\n", VMSEAL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].main_cb(argc - 1, argv + 1);
    fprintf(stderr, "vmsealctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
