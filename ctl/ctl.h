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

/* Broker commands (configuration: config_path_for("vmsealctl", --config);
 * groups broker (required), log, storage). */
int ctl_submit_main(int argc, char **argv);  /* ctl_submit.c */
int ctl_cancel_main(int argc, char **argv);  /* ctl_submit.c */
int ctl_status_main(int argc, char **argv);  /* ctl_query.c: RPC */
int ctl_list_main(int argc, char **argv);    /* ctl_query.c: RPC */
int ctl_workers_main(int argc, char **argv); /* ctl_query.c: RPC */
int ctl_watch_main(int argc, char **argv);   /* ctl_watch.c */
int ctl_dead_main(int argc, char **argv);    /* ctl_watch.c */

#endif
