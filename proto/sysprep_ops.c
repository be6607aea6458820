/* sysprep_ops.c - the sysprep operation vocabulary (sysprep_ops.h), the
 * check of a request's lists and their resolution into a selection. */
#include "sysprep_ops.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"

static const struct proto_sysprep_op ops[] = {
#define OP_ROW_(ident, name, default_on, description) \
    [PROTO_SYSPREP_OP_##ident] = { name, default_on, description },
    PROTO_SYSPREP_OPS(OP_ROW_)
#undef OP_ROW_
};
_Static_assert(ARRAY_SIZE(ops) == PROTO_SYSPREP_N_OPS, "one row per operation");
_Static_assert(PROTO_SYSPREP_N_OPS <= MSG_OPS_MAX, "a spelled-out enable list must fit on the wire");

const struct proto_sysprep_op *proto_sysprep_op_get(size_t i) { return i < ARRAY_SIZE(ops) ? &ops[i] : NULL; }

int proto_sysprep_op_find(const char *name) {
    if (name)
        for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
            if (strcmp(ops[i].name, name) == 0)
                return (int)i;
    return -VMS_E_UNKNOWN_OP;
}

/* The operation an operations entry adds ("OP"), else NULL ("-OP", a
 * meta-name). */
static const char *entry_added(const char *entry) {
    if (entry[0] == '-' || strcmp(entry, PROTO_SYSPREP_META_DEFAULTS) == 0 ||
        strcmp(entry, PROTO_SYSPREP_META_ALL) == 0)
        return NULL;
    return entry;
}

int msg_sysprep_overlap(const struct proto_sysprep *s, const char **ret_other) {
    for (size_t i = 0; i < s->n_disable; i++) {
        for (size_t j = 0; j < s->n_enable; j++)
            if (strcmp(s->disable[i], s->enable[j]) == 0) {
                *ret_other = "enable";
                return (int)i;
            }
        for (size_t j = 0; j < s->n_operations; j++) {
            const char *added = entry_added(s->operations[j]);
            if (added && strcmp(s->disable[i], added) == 0) {
                *ret_other = "operations";
                return (int)i;
            }
        }
    }
    return -1;
}

/* Edit distance (insert, delete, substitute) of a and b, or SIZE_MAX when
 * either is longer than the longest name the wire allows. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > MSG_OP_NAME_MAX || lb > MSG_OP_NAME_MAX)
        return SIZE_MAX;
    size_t row[MSG_OP_NAME_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known name closest to an unknown one, if it is a likely typo (at most
 * two edits, and fewer than half the name), else NULL. */
static const char *op_nearest(const char *name) {
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        size_t d = edit_distance(name, ops[i].name);
        if (d < best_d && 2 * d < strlen(name)) {
            best = ops[i].name;
            best_d = d;
        }
    }
    return best;
}

enum list_kind { LIST_ENABLE, LIST_DISABLE, LIST_OPERATIONS };

static const char *const list_key[] = { "enable", "disable", "operations" };

/* "sysprep.enable[1]" or "--enable". */
static void list_label(enum proto_sysprep_naming naming, enum list_kind list, size_t i, char *out, size_t len) {
    if (naming == PROTO_SYSPREP_NAMING_CLI)
        snprintf(out, len, "--%s", list_key[list]);
    else
        snprintf(out, len, "sysprep.%s[%zu]", list_key[list], i);
}

/* Check one entry; the reason (without the label) into reason. */
static int entry_check(enum list_kind list, const char *entry, enum proto_sysprep_naming naming, char *reason,
                       size_t len) {
    if (!entry)
        entry = "";
    const char *name = entry;
    if (list == LIST_OPERATIONS) {
        name += name[0] == '-';
        if (!name[0]) {
            snprintf(reason, len, "empty operation name");
            return -VMS_E_MSG_BAD_VALUE;
        }
        if (strcmp(name, PROTO_SYSPREP_META_DEFAULTS) == 0 || strcmp(name, PROTO_SYSPREP_META_ALL) == 0)
            return 0;
    }
    if (proto_sysprep_op_find(name) >= 0)
        return 0;
    int k = snprintf(reason, len, PROTO_SYSPREP_UNKNOWN_FMT, entry);
    if (k < 0 || (size_t)k >= len)
        return -VMS_E_UNKNOWN_OP;
    const char *bare = name + (name[0] == '-');
    if (list != LIST_OPERATIONS && (bare != name || strcmp(bare, PROTO_SYSPREP_META_DEFAULTS) == 0 ||
                                    strcmp(bare, PROTO_SYSPREP_META_ALL) == 0)) {
        snprintf(reason + k, len - (size_t)k, " (\"-OP\", \"defaults\" and \"all\" belong in %soperations)",
                 naming == PROTO_SYSPREP_NAMING_CLI ? "--" : "sysprep.");
        return -VMS_E_UNKNOWN_OP;
    }
    const char *near = op_nearest(name);
    if (near)
        snprintf(reason + k, len - (size_t)k, " (did you mean '%s'?)", near);
    return -VMS_E_UNKNOWN_OP;
}

static int list_check(enum list_kind list, char *const *v, size_t n, enum proto_sysprep_naming naming, char *why,
                      size_t why_len) {
    for (size_t i = 0; i < n; i++) {
        char reason[256];
        int r = entry_check(list, v[i], naming, reason, sizeof reason);
        if (r == 0)
            continue;
        if (why) {
            char label[64];
            list_label(naming, list, i, label, sizeof label);
            snprintf(why, why_len, "%s: %s", label, reason);
        }
        return r;
    }
    return 0;
}

int proto_sysprep_check_named(const struct proto_sysprep *s, enum proto_sysprep_naming naming, char *why,
                              size_t why_len) {
    if (why && why_len)
        why[0] = '\0';
    if (!s)
        return 0;
    int r = list_check(LIST_ENABLE, s->enable, s->n_enable, naming, why, why_len);
    if (r == 0)
        r = list_check(LIST_DISABLE, s->disable, s->n_disable, naming, why, why_len);
    if (r == 0)
        r = list_check(LIST_OPERATIONS, s->operations, s->n_operations, naming, why, why_len);
    if (r < 0)
        return r;
    const char *other = NULL;
    int i = msg_sysprep_overlap(s, &other);
    if (i < 0)
        return 0;
    if (why && naming == PROTO_SYSPREP_NAMING_CLI)
        snprintf(why, why_len, "--disable: '%s' is also in --%s", s->disable[i], other);
    else if (why)
        snprintf(why, why_len, "sysprep.disable[%d]: \"%s\" is also in %s", i, s->disable[i], other);
    return -VMS_E_MSG_BAD_VALUE;
}

int proto_sysprep_check(const struct proto_sysprep *s, char *why, size_t why_len) {
    return proto_sysprep_check_named(s, PROTO_SYSPREP_NAMING_WIRE, why, why_len);
}

int proto_sysprep_option_add(struct proto_sysprep *s, enum proto_sysprep_option opt, const char *arg, char *why,
                             size_t why_len) {
    static const enum list_kind kind[] = { [PROTO_SYSPREP_OPT_ENABLE] = LIST_ENABLE,
                                           [PROTO_SYSPREP_OPT_DISABLE] = LIST_DISABLE,
                                           [PROTO_SYSPREP_OPT_OPERATIONS] = LIST_OPERATIONS };
    char ***v = opt == PROTO_SYSPREP_OPT_ENABLE    ? &s->enable
                : opt == PROTO_SYSPREP_OPT_DISABLE ? &s->disable
                                                   : &s->operations;
    size_t *n = opt == PROTO_SYSPREP_OPT_ENABLE    ? &s->n_enable
                : opt == PROTO_SYSPREP_OPT_DISABLE ? &s->n_disable
                                                   : &s->n_operations;
    if (opt == PROTO_SYSPREP_OPT_ENABLE && (s->n_enable > 0 || s->n_operations > 0)) {
        if (why)
            snprintf(why, why_len,
                     "--enable may be given once, before any --operations (as virt-sysprep); "
                     "use --operations to add more");
        return -VMS_E_INVALID;
    }
    if (opt == PROTO_SYSPREP_OPT_ENABLE && !*arg) {
        if (why)
            snprintf(why, why_len, "--enable: empty argument");
        return -VMS_E_INVALID;
    }
    for (const char *p = arg;; p++) {
        size_t len = strcspn(p, ",");
        if (*n == MSG_OPS_MAX) {
            if (why)
                snprintf(why, why_len, "--%s: more than %d entries", list_key[kind[opt]], MSG_OPS_MAX);
            return -VMS_E_INVALID;
        }
        *v = xrealloc(*v, (*n + 1) * sizeof **v);
        (*v)[(*n)++] = xstrndup(p, len);
        p += len;
        if (!*p)
            return 0;
    }
}

static void select_names(char *const *names, size_t n, bool value, bool *selected) {
    for (size_t i = 0; i < n; i++)
        selected[proto_sysprep_op_find(names[i])] = value; /* checked: known */
}

/* One operations entry, checked before. */
static void select_entry(const char *entry, bool *selected) {
    bool add = entry[0] != '-';
    const char *name = entry + !add;
    bool defaults = strcmp(name, PROTO_SYSPREP_META_DEFAULTS) == 0,
         all = strcmp(name, PROTO_SYSPREP_META_ALL) == 0;
    if (!defaults && !all) {
        selected[proto_sysprep_op_find(name)] = add;
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (all || ops[i].default_on)
            selected[i] = add;
}

int proto_sysprep_select(const struct proto_sysprep *s, bool ret_selected[PROTO_SYSPREP_N_OPS], char *why,
                         size_t why_len) {
    memset(ret_selected, 0, PROTO_SYSPREP_N_OPS * sizeof *ret_selected);
    int r = proto_sysprep_check(s, why, why_len);
    if (r < 0)
        return r;
    bool chosen = s && (s->n_enable > 0 || s->n_operations > 0);
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        ret_selected[i] = !chosen && ops[i].default_on;
    if (!s)
        return 0;
    select_names(s->enable, s->n_enable, true, ret_selected);
    for (size_t i = 0; i < s->n_operations; i++)
        select_entry(s->operations[i], ret_selected);
    select_names(s->disable, s->n_disable, false, ret_selected);
    return 0;
}

int proto_sysprep_spelled_out(const struct proto_sysprep *s, struct proto_sysprep *ret, char *why,
                              size_t why_len) {
    memset(ret, 0, sizeof *ret);
    bool selected[PROTO_SYSPREP_N_OPS];
    int r = proto_sysprep_select(s, selected, why, why_len);
    if (r < 0)
        return r;
    if (!s) {
        ret->selinux_relabel = true;
        return 0;
    }
    proto_sysprep_copy(ret, s);
    if (s->n_enable == 0 && s->n_operations == 0)
        return 0;
    msg_strv_free(ret->enable, ret->n_enable);
    msg_strv_free(ret->disable, ret->n_disable);
    msg_strv_free(ret->operations, ret->n_operations);
    ret->enable = xcalloc(ARRAY_SIZE(ops), sizeof *ret->enable);
    ret->disable = xcalloc(ARRAY_SIZE(ops), sizeof *ret->disable);
    ret->n_enable = ret->n_disable = ret->n_operations = 0;
    ret->operations = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        if (selected[i])
            ret->enable[ret->n_enable++] = xstrdup(ops[i].name);
        else if (ops[i].default_on)
            ret->disable[ret->n_disable++] = xstrdup(ops[i].name);
    }
    return 0;
}
