/* main.c - vmsealctl: dispatch the command group to its module (ctl.h). */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static void usage(FILE *f) {
    fputs("usage: vmsealctl COMMAND [ARGS...]\n"
          "\n"
          "commands:\n"
          "  sd create|import|list   local storage domains (no broker)\n",
          f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "sd") == 0)
        return ctl_sd_main(argc - 1, argv + 1);
    fprintf(stderr, "vmsealctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
