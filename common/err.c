#include "err.h"

#include <errno.h>
#include <string.h>

struct err_entry {
    const char *name;
    bool permanent;
    const char *msg;
};

static const struct err_entry err_table[] = {
#define VMS_ERR_ROW(sym, name, perm, msg) [VMS_E_##sym - VMS_E__BASE - 1] = { name, perm, msg },
    VMS_ERRORS(VMS_ERR_ROW)
#undef VMS_ERR_ROW
};

static const struct err_entry *err_lookup(int err) {
    int code = -err;
    if (code <= VMS_E__BASE || code >= VMS_E__END)
        return NULL;
    return &err_table[code - VMS_E__BASE - 1];
}

const char *err_str(int err) {
    if (err == 0)
        return "success";
    const struct err_entry *e = err_lookup(err);
    if (e)
        return e->msg;
    if (err < 0 && -err < VMS_E__BASE)
        return strerror(-err);
    return "unknown error";
}

const char *err_name(int err) {
    if (err == 0)
        return "ok";
    const struct err_entry *e = err_lookup(err);
    if (e)
        return e->name;
    if (err < 0 && -err < VMS_E__BASE) {
        const char *n = strerrorname_np(-err);
        if (n)
            return n;
    }
    return "internal";
}

bool err_permanent(int err) {
    const struct err_entry *e = err_lookup(err);
    if (e)
        return e->permanent;
    switch (-err) {
    case EINVAL:
    case ENOENT:
    case EEXIST:
    case EACCES:
    case EPERM:
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP: return true;
    default: return false;
    }
}
