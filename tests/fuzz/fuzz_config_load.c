/* fuzz_config_load - libFuzzer target for the configuration loader
 * (common/config.h config_load): each input is written to a private
 * temporary file (mode 0600) and loaded with every group allowed.  Failure
 * must come with a message; success must leave a consistent struct that
 * config_free() releases. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "util.h"

static char conf_path[256];

static char conf_dir[200];

/* The private folder goes when the fuzzer exits (normally or after a crash
 * report, both through exit()). */
static void conf_path_remove(void) {
    unlink(conf_path);
    rmdir(conf_dir);
}

static void conf_path_init(void) {
    if (conf_path[0])
        return;
    const char *tmp = getenv("TMPDIR");
    snprintf(conf_dir, sizeof conf_dir, "%s/vmseal-fuzz-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(conf_dir) != NULL, "mkdtemp");
    snprintf(conf_path, sizeof conf_path, "%s/fuzz.conf", conf_dir);
    atexit(conf_path_remove);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    conf_path_init();
    int fd = open(conf_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0, "open the temporary config file");
    FUZZ_CHECK(write_all(fd, data, size) == 0, "write the temporary config file");
    close(fd);

    unsigned all = CONFIG_BROKER | CONFIG_WORKER | CONFIG_STORAGE | CONFIG_PRODUCER | CONFIG_LOG;
    struct config c;
    char err[ERR_WHY_LEN] = "", warn[ERR_WHY_LEN] = "";
    if (config_load(conf_path, all, 0, &c, err, warn) < 0) {
        FUZZ_CHECK(err[0] != '\0', "config_load failed without a message");
        return 0;
    }
    FUZZ_CHECK(c.broker.n_hosts <= CONFIG_MAX_HOSTS, "too many hosts");
    FUZZ_CHECK(c.storage.n_domains <= CONFIG_MAX_DOMAINS, "too many domains");
    for (size_t i = 0; i < c.storage.n_domains; i++)
        FUZZ_CHECK(uuid_is_canonical(c.storage.domains[i].id) && c.storage.domains[i].path &&
                       c.storage.domains[i].path[0] == '/',
                   "a loaded domain has a bad id or path");
    config_free(&c);
    return 0;
}
