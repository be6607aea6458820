/* config.h - the libconfig configuration (vmseal.conf(5)), strictly checked.
 *
 * One file per program; every program uses the same groups and reads the
 * ones it needs (config_load()'s `groups` mask says which groups are allowed
 * and which are required).  Unknown keys, wrong types, out-of-range numbers
 * (libconfig wraps integers >= 2^31 silently: they are range-checked here) and
 * missing required values are errors; the message in `why` names the file,
 * the line and the full key path, e.g.
 *     /etc/vmseal/worker.conf:12: worker.slots: must be between 1 and 64
 *
 * config_path_for() resolves --config FILE, else $VMSEAL_CONFIG, else
 * /etc/vmseal/<program>.conf.
 */
#ifndef VMSEAL_CONFIG_H
#define VMSEAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CONFIG_MAX_HOSTS   16
#define CONFIG_MAX_DOMAINS 64

enum config_group {
    CONFIG_BROKER = 1 << 0,
    CONFIG_WORKER = 1 << 1,
    CONFIG_STORAGE = 1 << 2,
    CONFIG_PRODUCER = 1 << 3,
    CONFIG_LOG = 1 << 4,
};

struct config_broker {
    char *hosts[CONFIG_MAX_HOSTS]; /* "host:port" (port defaults to 5672, 5671 with TLS) */
    size_t n_hosts;
    char *vhost;         /* default "vmseal" */
    char *user;          /* required */
    char *producer_user; /* the producer's broker identity: the only AMQP
                                       user-id whose jobs, cancels (worker) and
                                       template events (vmsealctl) are believed;
                                       default "producer" */
    char *password;      /* from password or password_file (trailing newline cut);
                                       NULL with a tls cert and key: SASL EXTERNAL, the
                                       certificate's common name is the user */
    int heartbeat_s;     /* default 30, 0..3600 */
    bool tls;            /* the tls group is present */
    char *tls_ca, *tls_cert, *tls_key;
    bool tls_verify_peer; /* default true */
};

struct config_worker {
    char *id;            /* default: the host name */
    char *pool;          /* default "default"; [a-z0-9_-]{1,64} */
    int slots;           /* default 2, 1..64 */
    bool dry_run;        /* executor = "dry-run" (default "real") */
    int dry_run_seal_ms; /* default 200; only with dry-run */
    int timeout_copy_s, timeout_update_s, timeout_delete_s, timeout_seal_s; /* 1..86400 */
    char *guestfs_backend; /* default NULL = libguestfs default / $LIBGUESTFS_BACKEND */
    char **guestfs_backend_settings;
    size_t n_guestfs_backend_settings;
    int guestfs_memsize_mb; /* default 0 = libguestfs default; else 256..65536 */
    bool guestfs_warm;      /* default false: keep an appliance launched for the next seal (worker/warm.c) */
    char *metrics_listen;   /* "host:port" of the Prometheus endpoint; NULL = off */
};

struct config_domain {
    char id[37]; /* canonical UUID */
    char *path;  /* absolute */
};

struct config_storage {
    struct config_domain domains[CONFIG_MAX_DOMAINS];
    size_t n_domains;
};

struct config_producer {
    char *db;                            /* SQLite path (default /var/lib/vmseal/producer.db)
                                       or postgresql:// URI */
    char *db_password;                   /* from db_password_file, or NULL (libpq's own means) */
    int max_attempts;                    /* default 3, 1..100 */
    char *metrics_listen;                /* "host:port" of the Prometheus endpoint; NULL = off */
    int backoff_base_ms, backoff_max_ms; /* retry = { ... }: 200 and 30000 by default; base <= max */
    int timeout_copy_s, timeout_update_s, timeout_delete_s, timeout_seal_s; /* 1..86400, each job's
                                       timeout_s (a worker applies the smaller of it and its own) */
};

struct config {
    char *path; /* the file that was loaded */
    struct config_broker broker;
    struct config_worker worker;
    struct config_storage storage;
    struct config_producer producer;
    int log_level; /* enum log_level; default info */
};

/* Resolve which file to read: cli_path, else $VMSEAL_CONFIG, else
 * /etc/vmseal/<program>.conf.  Returns a malloc'd path. */
char *config_path_for(const char *program, const char *cli_path);

/* Load and check `path`.  `allowed` is the mask of groups this program
 * accepts (others are unknown-key errors); `required` those that must be
 * present.  On error returns -VMS_E_CONFIG (or -errno for an unreadable
 * file) with the reason in why, and *ret holds nothing to free.  Warnings go
 * to ret_warn if not NULL (empty when none).
 *
 * Secrets: a password_file, or a config file holding an inline `password`,
 * that is readable by others (mode & 004) is refused; readable by its group
 * gives a warning.  password_file must be absolute; its trailing newline is
 * cut.  `hosts` entries "host", "host:port", "[v6]:port" are stored as
 * "host:port".  Domain paths are stored without trailing slashes. */
int config_load(const char *path, unsigned allowed, unsigned required, struct config *ret, char why[ERR_WHY_LEN],
                char warn[ERR_WHY_LEN]);

/* Look up a configured domain by id; NULL if not configured. */
const struct config_domain *config_domain_find(const struct config_storage *s, const char *sd_id);

void config_free(struct config *c);

#endif
