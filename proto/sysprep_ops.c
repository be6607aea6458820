/* sysprep_ops.c - the sysprep operation vocabulary (sysprep_ops.h) and the
 * intake check of a request's enable/disable lists. */
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

const struct proto_sysprep_op *proto_sysprep_op_get(size_t i) { return i < ARRAY_SIZE(ops) ? &ops[i] : NULL; }

int proto_sysprep_op_find(const char *name) {
    if (name)
        for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
            if (strcmp(ops[i].name, name) == 0)
                return (int)i;
    return -VMS_E_UNKNOWN_OP;
}

int msg_sysprep_overlap(const struct proto_sysprep *s) {
    for (size_t i = 0; i < s->n_disable; i++)
        for (size_t j = 0; j < s->n_enable; j++)
            if (strcmp(s->disable[i], s->enable[j]) == 0)
                return (int)i;
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

static int names_check(char *const *names, size_t n, const char *list, char *why, size_t why_len) {
    for (size_t i = 0; i < n; i++) {
        if (proto_sysprep_op_find(names[i]) >= 0)
            continue;
        if (why) {
            const char *near = names[i] ? op_nearest(names[i]) : NULL;
            int k = snprintf(why, why_len, "sysprep.%s[%zu]: " PROTO_SYSPREP_UNKNOWN_FMT, list, i,
                             names[i] ? names[i] : "(null)");
            if (near && k >= 0 && (size_t)k < why_len)
                snprintf(why + k, why_len - (size_t)k, " (did you mean '%s'?)", near);
        }
        return -VMS_E_UNKNOWN_OP;
    }
    return 0;
}

int proto_sysprep_check(const struct proto_sysprep *s, char *why, size_t why_len) {
    if (why && why_len)
        why[0] = '\0';
    if (!s)
        return 0;
    int r = names_check(s->enable, s->n_enable, "enable", why, why_len);
    if (r == 0)
        r = names_check(s->disable, s->n_disable, "disable", why, why_len);
    if (r < 0)
        return r;
    int i = msg_sysprep_overlap(s);
    if (i >= 0) {
        if (why)
            snprintf(why, why_len, "sysprep.disable[%d]: \"%s\" is also in enable", i, s->disable[i]);
        return -VMS_E_MSG_BAD_VALUE;
    }
    return 0;
}
