/* test_store_open.c - open (create, migrate) the store at argv[1] and take
 * its lease; for test_pg_role.sh.  Exit 0 on success. */
#include <stdio.h>

#include "store.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_store_open TARGET\n");
        return 2;
    }
    struct store *st = NULL;
    char err[ERR_WHY_LEN];
    if (store_open(argv[1], &st, err) < 0) {
        fprintf(stderr, "test_store_open: %s\n", err);
        return 1;
    }
    bool taken = false;
    char holder[256];
    int r = store_lease_try(st, "test_store_open", &taken, holder, sizeof holder);
    if (r < 0 || !taken)
        fprintf(stderr, "test_store_open: lease: %s\n", r < 0 ? store_why(st) : holder);
    store_close(st);
    return r < 0 || !taken;
}
