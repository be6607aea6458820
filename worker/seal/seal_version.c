/* seal_version.c - the libguestfs version the worker reports in its
 * heartbeats. */
#include <stdio.h>

#include <guestfs.h>

#include "seal.h"

void seal_libguestfs_version(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    guestfs_h *g = guestfs_create_flags(GUESTFS_CREATE_NO_ENVIRONMENT | GUESTFS_CREATE_NO_CLOSE_ON_EXIT);
    if (!g)
        return;
    guestfs_set_error_handler(g, NULL, NULL);
    struct guestfs_version *v = guestfs_version(g);
    if (v) {
        snprintf(buf, len, "%lld.%lld.%lld%s", (long long)v->major, (long long)v->minor, (long long)v->release,
                 v->extra ? v->extra : "");
        guestfs_free_version(v);
    }
    guestfs_close(g);
}
