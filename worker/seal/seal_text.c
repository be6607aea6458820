/* seal_text.c - guest text: os-release, the SELinux config,
 * /etc/sysconfig/network, the line filters (see seal_text.h). */
#include "seal_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *const seal_keys_ifcfg_hostname[] = { "HOSTNAME=", "DHCP_HOSTNAME=", NULL };
const char *const seal_keys_ifcfg_hwaddr[] = { "HWADDR=", "LLADDR=", NULL };
const char *const seal_keys_interfaces_hwaddr[] = { "hwaddress", NULL };
const char *const seal_keys_nm_macaddr[] = { "mac-address=", "cloned-mac-address=", NULL };

bool seal_line_has_key(const char *line, size_t len, const char *prefix) {
    size_t i = 0, plen = strlen(prefix);
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return len - i >= plen && strncmp(line + i, prefix, plen) == 0;
}

bool seal_text_keep_unless_key(const char *line, size_t len, const void *arg) {
    for (const char *const *k = arg; *k; k++)
        if (seal_line_has_key(line, len, *k))
            return false;
    return true;
}

bool seal_text_filter_lines(const char *text, size_t len,
                            bool (*keep)(const char *line, size_t len, const void *arg), const void *arg,
                            char **ret, size_t *ret_len) {
    char *out = xmalloc(len + 1);
    size_t out_len = 0;
    bool dropped = false;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;
        size_t with_nl = nl ? line_len + 1 : line_len;
        if (keep(text + pos, line_len, arg)) {
            memcpy(out + out_len, text + pos, with_nl);
            out_len += with_nl;
        } else {
            dropped = true;
        }
        pos += with_nl;
    }
    out[out_len] = '\0';
    *ret = out;
    *ret_len = out_len;
    return dropped;
}

char *seal_text_sysconfig_network(const char *text, size_t len, const char *hostname) {
    size_t cap = len + strlen(hostname) + 16, out_len = 0;
    char *out = xmalloc(cap);
    bool had = false;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - text - pos) : len - pos;
        if (!seal_line_has_key(text + pos, l, "HOSTNAME=")) {
            memcpy(out + out_len, text + pos, l);
            out_len += l;
            out[out_len++] = '\n';
        } else if (!had) {
            out_len += (size_t)snprintf(out + out_len, cap - out_len, "HOSTNAME=%s\n", hostname);
            had = true;
        }
        pos += nl ? l + 1 : l;
    }
    out[out_len] = '\0';
    if (!had) {
        free(out);
        return NULL;
    }
    return out;
}

static enum seal_family family_of_id(const char *id) {
    static const struct {
        const char *id;
        enum seal_family f;
    } map[] = {
        { "debian", SEAL_FAMILY_DEBIAN },
        { "ubuntu", SEAL_FAMILY_DEBIAN },
        { "linuxmint", SEAL_FAMILY_DEBIAN },
        { "raspbian", SEAL_FAMILY_DEBIAN },
        { "fedora", SEAL_FAMILY_REDHAT },
        { "rhel", SEAL_FAMILY_REDHAT },
        { "centos", SEAL_FAMILY_REDHAT },
        { "rocky", SEAL_FAMILY_REDHAT },
        { "almalinux", SEAL_FAMILY_REDHAT },
        { "ol", SEAL_FAMILY_REDHAT },
        { "scientific", SEAL_FAMILY_REDHAT },
        { "amzn", SEAL_FAMILY_REDHAT },
        { "suse", SEAL_FAMILY_SUSE },
        { "sles", SEAL_FAMILY_SUSE },
        { "opensuse", SEAL_FAMILY_SUSE },
        { "opensuse-leap", SEAL_FAMILY_SUSE },
        { "opensuse-tumbleweed", SEAL_FAMILY_SUSE },
        { "sled", SEAL_FAMILY_SUSE },
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strcmp(id, map[i].id) == 0)
            return map[i].f;
    return 0;
}

/* Value of KEY= in an os-release text, unquoted, into out. */
static bool os_release_get(const char *text, const char *key, char *out, size_t out_len) {
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            const char *v = line + klen + 1;
            size_t vl = len - klen - 1;
            if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0])
                v++, vl -= 2;
            snprintf(out, out_len, "%.*s", (int)vl, v);
            return true;
        }
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

enum seal_family seal_text_os_release(const char *text, char *distro, size_t distro_len) {
    char like[256] = "";
    distro[0] = '\0';
    os_release_get(text, "ID", distro, distro_len);
    os_release_get(text, "ID_LIKE", like, sizeof(like));
    enum seal_family f = family_of_id(distro);
    for (char *save = NULL, *tok = strtok_r(like, " ", &save); !f && tok; tok = strtok_r(NULL, " ", &save))
        f = family_of_id(tok);
    return f ? f : SEAL_FAMILY_OTHER;
}

bool seal_text_selinux_enabled(const char *text, size_t len) {
    bool enabled = false;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - text - pos) : len - pos;
        const char *line = text + pos;
        if (seal_line_has_key(line, l, "SELINUX=")) {
            const char *v = (const char *)memchr(line, '=', l) + 1;
            size_t vl = l - (size_t)(v - line);
            if (vl > 0 && (*v == '"' || *v == '\''))
                v++, vl--;
            enabled =
                (vl >= 9 && strncmp(v, "enforcing", 9) == 0) || (vl >= 10 && strncmp(v, "permissive", 10) == 0);
        }
        pos += nl ? l + 1 : l;
    }
    return enabled;
}
