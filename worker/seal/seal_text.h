/* seal_text.h - the guest text the operations read and rewrite: os-release,
 * the SELinux config, /etc/sysconfig/network, and the line filters of the
 * ifcfg, interfaces and NetworkManager files.
 *
 * Pure code (no libguestfs): the operations (seal.c, seal_ops_edit.c,
 * seal_ops_util.c) read a guest file with seal_read() and give its text here;
 * tests/worker/seal/test_seal_text.c and the tests/fuzz/fuzz_seal_* targets
 * run it without an appliance.  Text is guest-controlled: any bytes, NULs
 * included, no final newline required.  Allocation failure aborts.
 */
#ifndef VMSEAL_SEAL_TEXT_H
#define VMSEAL_SEAL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "seal.h"

/* True when line (len bytes) starts with prefix after optional blanks. */
bool seal_line_has_key(const char *line, size_t len, const char *prefix);

/* keep-line predicate for seal_text_filter_lines: false when the line starts
 * with one of the NULL-terminated keys in arg (a const char *const *). */
bool seal_text_keep_unless_key(const char *line, size_t len, const void *arg);

/* The keys each network operation drops (NULL-terminated). */
extern const char *const seal_keys_ifcfg_hostname[];    /* HOSTNAME=, DHCP_HOSTNAME= */
extern const char *const seal_keys_ifcfg_hwaddr[];      /* HWADDR=, LLADDR= */
extern const char *const seal_keys_interfaces_hwaddr[]; /* hwaddress */
extern const char *const seal_keys_nm_macaddr[];        /* mac-address=, cloned-mac-address= */

/* Copy text (len bytes) to *ret (len + 1 bytes, NUL-terminated; caller frees)
 * keeping only the lines for which keep(line, line_len, arg) is true, each
 * with its own newline (or none, for an unterminated last line).  *ret_len is
 * the length kept.  Returns whether a line was dropped. */
bool seal_text_filter_lines(const char *text, size_t len,
                            bool (*keep)(const char *line, size_t len, const void *arg), const void *arg,
                            char **ret, size_t *ret_len);

/* /etc/sysconfig/network (len bytes) with every HOSTNAME= line replaced by
 * one "HOSTNAME=<hostname>" at the first one's place; every kept line ends
 * in '\n'.  NULL when there is no HOSTNAME= line; caller frees. */
char *seal_text_sysconfig_network(const char *text, size_t len, const char *hostname);

/* The distro family of an os-release text (NUL-terminated; parsing stops at
 * the first NUL): its ID=, else the first known word of ID_LIKE=;
 * SEAL_FAMILY_OTHER when neither is known.  The ID (unquoted, cut to fit)
 * into distro (distro_len > 0; "" without an ID= line). */
enum seal_family seal_text_os_release(const char *text, char *distro, size_t distro_len);

/* Whether an /etc/selinux/config text (len bytes) enables SELinux: its last
 * SELINUX= line says enforcing or permissive (quotes allowed). */
bool seal_text_selinux_enabled(const char *text, size_t len);

#endif
