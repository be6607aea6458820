/* test_seal_kernel.c - seal_kernel_pvh(): the uncompressed image of the
 * appliance's kernel, on synthetic bzImages in a private cache folder (an
 * ELF with or without the PVH note, xz- and gzip-compressed, a garbled
 * header, a folder others may write to). */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal_ops.h"
#include "testutil.h"
#include "util.h"

static int write_file_all(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = fwrite(buf, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* A minimal x86-64 ELF: one PT_NOTE segment holding one "Xen" note of type. */
static size_t elf_make(unsigned type, unsigned char *out) {
    Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_ehsize = sizeof(eh);
    eh.e_phoff = sizeof(eh);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = type };
    Elf64_Phdr ph = { .p_type = PT_NOTE, .p_offset = sizeof(eh) + sizeof(ph), .p_filesz = sizeof(nh) + 8 };
    size_t n = 0;
    memcpy(out + n, &eh, sizeof(eh));
    n += sizeof(eh);
    memcpy(out + n, &ph, sizeof(ph));
    n += sizeof(ph);
    memcpy(out + n, &nh, sizeof(nh));
    n += sizeof(nh);
    memcpy(out + n, "Xen\0\x10\x00\x00\x01", 8);
    n += 8;
    return n;
}

/* dir/appliance.d/kernel: a bzImage-shaped file whose payload is elf
 * compressed by tool ("xz" or "gzip"), followed by its size as the kernel
 * build appends it. */
static void bzimage_make(const char *dir, const unsigned char *elf, size_t elf_len, const char *tool) {
    _cleanup_free_ char *raw = xasprintf("%s/elf", dir), *z = xasprintf("%s/elf.z", dir);
    assert_int_equal(write_file_all(raw, elf, elf_len), 0);
    _cleanup_free_ char *cmd = xasprintf("%s -c %s > %s", tool, raw, z);
    assert_int_equal(system(cmd), 0);
    char *payload = NULL;
    size_t plen = 0;
    assert_int_equal(read_file_all(z, 1 << 20, &payload, &plen), 0);
    unlink(raw);
    unlink(z);
    size_t setup = (3 + 1) * 512, off = 100, len = setup + off + plen + 4;
    unsigned char *k = xcalloc(1, len);
    k[0x1f1] = 3;
    memcpy(k + 0x202, "HdrS", 4);
    k[0x206] = 0x0f; /* boot protocol 2.15 */
    k[0x207] = 0x02;
    uint32_t v = (uint32_t)off, l = (uint32_t)plen + 4, size = (uint32_t)elf_len;
    memcpy(k + 0x248, &v, 4);
    memcpy(k + 0x24c, &l, 4);
    memcpy(k + setup + off, payload, plen);
    memcpy(k + setup + off + plen, &size, 4);
    _cleanup_free_ char *ad = xasprintf("%s/appliance.d", dir), *kernel = xasprintf("%s/kernel", ad);
    mkdir(ad, 0755);
    assert_int_equal(write_file_all(kernel, k, len), 0);
    free(k);
    free(payload);
}

/* A fresh cache folder: <tmp>/.guestfs-<euid>, 0755. */
static char *cache_make(char **ret_dir) {
    char *tmp = NULL;
    assert_int_equal(testutil_dir_make("seal-kernel", &tmp), 0);
    *ret_dir = xasprintf("%s/.guestfs-%ju", tmp, (uintmax_t)geteuid());
    assert_int_equal(mkdir(*ret_dir, 0755), 0);
    return tmp;
}

static void test_extract(void **state) {
    (void)state;
    static const char *const tools[] = { "xz", "gzip" };
    for (size_t t = 0; t < 2; t++) {
        char *dir, *tmp = cache_make(&dir);
        unsigned char elf[256];
        size_t n = elf_make(18, elf); /* XEN_ELFNOTE_PHYS32_ENTRY */
        bzimage_make(dir, elf, n, tools[t]);
        char *kernel, *vmlinux, *stamp;
        assert_int_equal(seal_kernel_pvh(tmp, &kernel, &vmlinux, &stamp), 0);
        char *got = NULL;
        size_t len = 0;
        assert_int_equal(read_file_all(vmlinux, 1 << 20, &got, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(got, elf, n);
        struct stat st;
        assert_int_equal(stat(kernel, &st), 0);
        _cleanup_free_ char *want = xasprintf("%jd-%ju", (intmax_t)st.st_size, (uintmax_t)st.st_ino);
        assert_string_equal(stamp, want);
        /* a second call takes the cached image as it is */
        assert_int_equal(stat(vmlinux, &st), 0);
        char *k2, *v2, *s2;
        assert_int_equal(seal_kernel_pvh(tmp, &k2, &v2, &s2), 0);
        assert_string_equal(v2, vmlinux);
        struct stat st2;
        assert_int_equal(stat(v2, &st2), 0);
        assert_int_equal(st2.st_ino, st.st_ino);
        free(got);
        free(kernel);
        free(vmlinux);
        free(stamp);
        free(k2);
        free(v2);
        free(s2);
        testutil_dir_remove(tmp);
        free(tmp);
        free(dir);
    }
}

/* No PVH entry: no image (the bzImage is booted), nothing left behind. */
static void test_refused(void **state) {
    (void)state;
    char *dir, *tmp = cache_make(&dir);
    unsigned char elf[256];
    size_t n = elf_make(5, elf);
    bzimage_make(dir, elf, n, "xz");
    char *kernel, *vmlinux, *stamp;
    assert_true(seal_kernel_pvh(tmp, &kernel, &vmlinux, &stamp) < 0);
    _cleanup_free_ char *ls = xasprintf("ls %s | grep -q vmseal", dir);
    assert_int_not_equal(system(ls), 0);

    /* garbled header */
    _cleanup_free_ char *k = xasprintf("%s/appliance.d/kernel", dir);
    assert_int_equal(write_file_all(k, "not a kernel", 12), 0);
    assert_true(seal_kernel_pvh(tmp, &kernel, &vmlinux, &stamp) < 0);

    /* a folder others may write to is not trusted */
    n = elf_make(18, elf);
    bzimage_make(dir, elf, n, "xz");
    assert_int_equal(chmod(dir, 0777), 0);
    assert_true(seal_kernel_pvh(tmp, &kernel, &vmlinux, &stamp) < 0);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(seal_kernel_pvh(tmp, &kernel, &vmlinux, &stamp), 0);
    free(kernel);
    free(vmlinux);
    free(stamp);

    /* no appliance at all */
    _cleanup_free_ char *empty = xasprintf("%s/none", tmp);
    assert_true(seal_kernel_pvh(empty, &kernel, &vmlinux, &stamp) < 0);
    testutil_dir_remove(tmp);
    free(tmp);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
