/* test_seal_text.c - the guest text helpers (worker/seal/seal_text.c)
 * without an appliance: os-release, the SELinux config,
 * /etc/sysconfig/network and the line filters of the network files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "seal_text.h"

static char *filter(const char *text, const char *const *keys, bool *ret_dropped) {
    char *out = NULL;
    size_t out_len = 0;
    *ret_dropped = seal_text_filter_lines(text, strlen(text), seal_text_keep_unless_key, keys, &out, &out_len);
    assert_int_equal(out_len, strlen(out));
    return out;
}

static void test_line_has_key(void **state) {
    (void)state;
    assert_true(seal_line_has_key("HWADDR=00:11", 12, "HWADDR="));
    assert_true(seal_line_has_key(" \tHWADDR=", 9, "HWADDR="));
    assert_false(seal_line_has_key("#HWADDR=", 8, "HWADDR="));
    assert_false(seal_line_has_key("HWADDR", 6, "HWADDR="));
    assert_false(seal_line_has_key("HWADDR=", 3, "HWADDR=")); /* len bounds it */
    assert_false(seal_line_has_key("   ", 3, "x"));
}

static void test_filter_ifcfg(void **state) {
    (void)state;
    bool dropped;
    char *out = filter("DEVICE=eth0\nHWADDR=52:54:00:12:34:56\n  DHCP_HOSTNAME=old\n"
                       "BOOTPROTO=dhcp\nHOSTNAME=old",
                       seal_keys_ifcfg_hostname, &dropped);
    assert_true(dropped);
    assert_string_equal(out, "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nBOOTPROTO=dhcp\n");
    free(out);
    out = filter("DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nLLADDR=x\nONBOOT=yes", seal_keys_ifcfg_hwaddr, &dropped);
    assert_true(dropped);
    assert_string_equal(out, "DEVICE=eth0\nONBOOT=yes"); /* no newline added */
    free(out);
}

static void test_filter_interfaces_nm(void **state) {
    (void)state;
    bool dropped;
    char *out = filter("auto eth0\niface eth0 inet dhcp\n    hwaddress ether 52:54:00:aa:bb:cc\n",
                       seal_keys_interfaces_hwaddr, &dropped);
    assert_true(dropped);
    assert_string_equal(out, "auto eth0\niface eth0 inet dhcp\n");
    free(out);
    out = filter("[ethernet]\nmac-address=52:54:00:AA:BB:CC\ncloned-mac-address=random\n"
                 "mtu=1500\n",
                 seal_keys_nm_macaddr, &dropped);
    assert_true(dropped);
    assert_string_equal(out, "[ethernet]\nmtu=1500\n");
    free(out);
    out = filter("[connection]\nid=eth0\n", seal_keys_nm_macaddr, &dropped);
    assert_false(dropped);
    assert_string_equal(out, "[connection]\nid=eth0\n");
    free(out);
    out = filter("", seal_keys_nm_macaddr, &dropped);
    assert_false(dropped);
    assert_string_equal(out, "");
    free(out);
}

static void test_sysconfig_network(void **state) {
    (void)state;
    const char *in = "NETWORKING=yes\nHOSTNAME=old.example\nGATEWAY=10.0.0.1\n HOSTNAME=again";
    char *out = seal_text_sysconfig_network(in, strlen(in), "tpl");
    assert_string_equal(out, "NETWORKING=yes\nHOSTNAME=tpl\nGATEWAY=10.0.0.1\n");
    char *again = seal_text_sysconfig_network(out, strlen(out), "tpl");
    assert_string_equal(again, out); /* idempotent */
    free(again);
    free(out);
    assert_null(seal_text_sysconfig_network("NETWORKING=yes\n", 15, "tpl"));
    assert_null(seal_text_sysconfig_network("", 0, "tpl"));
}

static void test_os_release(void **state) {
    (void)state;
    char id[32];
    assert_int_equal(seal_text_os_release("NAME=\"Debian\"\nID=debian\n", id, sizeof(id)), SEAL_FAMILY_DEBIAN);
    assert_string_equal(id, "debian");
    assert_int_equal(seal_text_os_release("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"", id, sizeof(id)),
                     SEAL_FAMILY_REDHAT);
    assert_string_equal(id, "rocky");
    assert_int_equal(seal_text_os_release("ID='pop'\nID_LIKE=\"foo ubuntu debian\"\n", id, sizeof(id)),
                     SEAL_FAMILY_DEBIAN);
    assert_string_equal(id, "pop");
    assert_int_equal(seal_text_os_release("ID=opensuse-leap\n", id, sizeof(id)), SEAL_FAMILY_SUSE);
    assert_int_equal(seal_text_os_release("ID=arch\n", id, sizeof(id)), SEAL_FAMILY_OTHER);
    assert_int_equal(seal_text_os_release("NAME=x\nID=\"\n", id, sizeof(id)), SEAL_FAMILY_OTHER);
    assert_string_equal(id, "\"");
    assert_int_equal(seal_text_os_release("", id, sizeof(id)), SEAL_FAMILY_OTHER);
    assert_string_equal(id, "");
    char small[4];
    seal_text_os_release("ID=debian\n", small, sizeof(small));
    assert_string_equal(small, "deb"); /* cut to fit */
}

static void test_selinux(void **state) {
    (void)state;
#define ON(s) seal_text_selinux_enabled((s), strlen(s))
    assert_true(ON("# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"));
    assert_true(ON("SELINUX=\"permissive\""));
    assert_true(ON("  SELINUX='enforcing'"));
    assert_false(ON("SELINUX=disabled\n"));
    assert_false(ON("#SELINUX=enforcing\n"));
    assert_false(ON("SELINUX=enforcing\nSELINUX=disabled\n")); /* the last one counts */
    assert_false(ON("SELINUX=enforc"));
    assert_false(ON("SELINUX="));
    assert_false(ON(""));
#undef ON
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_has_key),         cmocka_unit_test(test_filter_ifcfg),
        cmocka_unit_test(test_filter_interfaces_nm), cmocka_unit_test(test_sysconfig_network),
        cmocka_unit_test(test_os_release),           cmocka_unit_test(test_selinux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
