/* ctl.h - vmsealctl's command modules.
 *
 * main.c dispatches on argv[1] to one entry point per command group.  Each
 * entry point gets argv starting at the group's name (argv[0] = "sd") and
 * returns the process exit status: 0 success, 1 failure (reported on
 * stderr), 2 usage error.  Other ctl modules add their entry points here.
 */
#ifndef VMSEAL_CTL_H
#define VMSEAL_CTL_H

/* `vmsealctl sd create|import|list ...`: local storage domains, no broker
 * (ctl/sd_cmd.c). */
int ctl_sd_main(int argc, char **argv);

#endif
