/* seal_kernel.c - the appliance's kernel, booted without decompressing it.
 *
 * libguestfs boots its appliance with `qemu -kernel <bzImage>`.  A bzImage
 * decompresses itself in the guest before the kernel prints anything; under
 * software emulation that alone took 6.3 s of a 13 s launch here (Debian's
 * kernel is XZ-compressed).  qemu also boots an uncompressed ELF kernel
 * through its PVH entry point (the kernel must be built with CONFIG_PVH, as
 * Debian's is): 0.4 s to the same point.  So the seal engine extracts the
 * ELF image from the appliance's bzImage once (xz or gzip, the tools), keeps
 * it beside libguestfs' appliance, and the qemu wrapper boots it instead.
 *
 * The cache is <cachedir>/.guestfs-<euid>/vmseal-vmlinux-<size>-<inode> of
 * the appliance's kernel file (not its time: libguestfs touches the
 * appliance at every launch; supermin writes a new file when it rebuilds
 * it).  The wrapper substitutes it only for that very kernel, and only
 * while the kernel file is still that file (supermin may rebuild the
 * appliance during the launch: the modules would then not match).  Anything unusual (no appliance yet, a
 * folder not ours, an unknown compression, no PVH note) means no
 * substitution: libguestfs boots the bzImage as always.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seal_ops.h"
#include "util.h"

#define KERNEL_MAX  (64 * 1024 * 1024)  /* a bzImage */
#define VMLINUX_MAX (512 * 1024 * 1024) /* the ELF image it holds */

/* XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry point qemu boots through. */
#define NOTE_PHYS32_ENTRY 18

/* The folder is ours and only ours to write (libguestfs checks the same). */
static bool dir_safe(const char *dir) {
    struct stat st;
    return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022);
}

/* Whether the ELF file at fd is an x86-64 executable with a PVH entry note. */
static bool elf_has_pvh(int fd) {
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum > 64)
        return false;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
            return false;
        if (ph.p_type != PT_NOTE || ph.p_filesz > 65536)
            continue;
        _cleanup_free_ char *n = xmalloc(ph.p_filesz + 1);
        if (pread(fd, n, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
            return false;
        for (size_t off = 0; off + sizeof(Elf64_Nhdr) <= ph.p_filesz;) {
            Elf64_Nhdr nh;
            memcpy(&nh, n + off, sizeof(nh));
            size_t name_at = off + sizeof(nh), desc_at = name_at + ((nh.n_namesz + 3) & ~3u);
            if (nh.n_namesz == 4 && name_at + 4 <= ph.p_filesz && memcmp(n + name_at, "Xen", 4) == 0 &&
                nh.n_type == NOTE_PHYS32_ENTRY)
                return true;
            off = desc_at + ((nh.n_descsz + 3) & ~3u);
        }
    }
    return false;
}

/* The compressed payload of a bzImage (boot protocol >= 2.08: payload_offset
 * and payload_length in the setup header) and the tool that expands it. */
static int payload_find(const unsigned char *k, size_t len, size_t *ret_off, size_t *ret_len,
                        const char **ret_tool) {
    if (len < 0x250 || memcmp(k + 0x202, "HdrS", 4) != 0 || (k[0x206] | k[0x207] << 8) < 0x208)
        return -1;
    size_t setup = ((size_t)(k[0x1f1] ? k[0x1f1] : 4) + 1) * 512;
    uint32_t off, plen;
    memcpy(&off, k + 0x248, 4);
    memcpy(&plen, k + 0x24c, 4);
    if (setup + off < setup || setup + off + plen > len || plen < 10)
        return -1;
    const unsigned char *p = k + setup + off;
    if (memcmp(p,
               "\xfd"
               "7zXZ\0",
               6) == 0)
        *ret_tool = "xz";
    else if (p[0] == 0x1f && p[1] == 0x8b)
        *ret_tool = "gzip";
    else
        return -1;
    *ret_off = setup + off;
    *ret_len = plen - 4; /* the kernel build appends the expanded size (4 bytes) */
    return 0;
}

/* Run `tool -dc` from in_fd to out_fd; 0 when it exited 0. */
static int expand(const char *tool, int in_fd, int out_fd) {
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0)
            _exit(127);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        execlp(tool, tool, "-dc", (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* Remove the images of kernels the appliance no longer has (the wrapper
 * never substitutes one whose stamp does not match the kernel file). */
static void stale_remove(const char *dir, const char *keep) {
    DIR *d = opendir(dir);
    const char *keep_name = strrchr(keep, '/') + 1;
    for (struct dirent *de; d && (de = readdir(d));) {
        const char *stamp = de->d_name + strlen("vmseal-vmlinux-");
        if (strncmp(de->d_name, "vmseal-vmlinux-", strlen("vmseal-vmlinux-")) == 0 &&
            strcmp(de->d_name, keep_name) != 0 && strspn(stamp, "0123456789-") == strlen(stamp) && *stamp)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    if (d)
        closedir(d);
}

/* Make dst from the bzImage at kernel: the payload into a temporary file,
 * expanded into another, checked, renamed into place. */
static int extract(const char *dir, const char *kernel, const char *dst) {
    char *buf = NULL;
    size_t len = 0;
    int r = read_file_all(kernel, KERNEL_MAX, &buf, &len);
    size_t off = 0, plen = 0;
    const char *tool = NULL;
    if (r == 0 && payload_find((unsigned char *)buf, len, &off, &plen, &tool) < 0)
        r = -EINVAL;
    _cleanup_free_ char *in_path = xasprintf("%s/vmseal-payload-XXXXXX", dir);
    _cleanup_free_ char *out_path = xasprintf("%s/vmseal-vmlinux-XXXXXX", dir);
    int in = -1, out = -1;
    if (r == 0 &&
        ((in = mkstemp(in_path)) < 0 || write_all(in, buf + off, plen) < 0 || lseek(in, 0, SEEK_SET) < 0))
        r = -EIO;
    free(buf);
    if (r == 0 && (out = mkstemp(out_path)) < 0)
        r = -errno;
    if (r == 0)
        r = expand(tool, in, out);
    struct stat st;
    if (r == 0 && (fstat(out, &st) < 0 || st.st_size > VMLINUX_MAX || !elf_has_pvh(out)))
        r = -EINVAL;
    if (r == 0 && (fchmod(out, 0644) < 0 || fsync(out) < 0 || rename(out_path, dst) < 0))
        r = -errno;
    if (r == 0)
        stale_remove(dir, dst);
    if (in >= 0) {
        close(in);
        unlink(in_path);
    }
    if (out >= 0) {
        close(out);
        if (r < 0)
            unlink(out_path);
    }
    return r;
}

char *seal_cache_dir(const char *cachedir) {
    char *dir = xasprintf("%s/.guestfs-%ju", cachedir, (uintmax_t)geteuid());
    if (dir_safe(dir))
        return dir;
    free(dir);
    return NULL;
}

int seal_kernel_pvh(const char *cachedir, char **ret_kernel, char **ret_vmlinux, char **ret_stamp) {
    _cleanup_free_ char *dir = seal_cache_dir(cachedir);
    if (!dir)
        return -ENOENT;
    _cleanup_free_ char *kernel = xasprintf("%s/appliance.d/kernel", dir);
    struct stat st;
    if (lstat(kernel, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return -ENOENT; /* no appliance built yet (the first launch builds it) */
    char *stamp = xasprintf("%jd-%ju", (intmax_t)st.st_size, (uintmax_t)st.st_ino);
    char *vmlinux = xasprintf("%s/vmseal-vmlinux-%s", dir, stamp);
    int r = 0;
    struct stat vs;
    if (lstat(vmlinux, &vs) < 0 || !S_ISREG(vs.st_mode) || vs.st_uid != geteuid())
        r = extract(dir, kernel, vmlinux);
    if (r < 0) {
        free(stamp);
        free(vmlinux);
        return r;
    }
    *ret_kernel = xstrdup(kernel);
    *ret_vmlinux = vmlinux;
    *ret_stamp = stamp;
    return 0;
}
