/* json.c - the small streaming JSON writer (see json.h). */
#include "json.h"

#include <inttypes.h>
#include <string.h>

void json_begin(struct json *j, FILE *f) {
    memset(j, 0, sizeof *j);
    j->f = f;
    j->first[0] = true;
}

static void json_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Separator and key before a value. */
static void json_member(struct json *j, const char *key) {
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    if (key) {
        json_quoted(j->f, key);
        fputc(':', j->f);
    }
}

static void json_open(struct json *j, const char *key, char c) {
    json_member(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
    j->closer[j->depth] = c == '{' ? '}' : ']';
}

void json_obj_open(struct json *j, const char *key) { json_open(j, key, '{'); }
void json_arr_open(struct json *j, const char *key) { json_open(j, key, '['); }

void json_close(struct json *j) {
    if (j->depth > 0) {
        fputc(j->closer[j->depth], j->f);
        j->depth--;
    }
}

void json_str(struct json *j, const char *key, const char *val) {
    json_member(j, key);
    if (val)
        json_quoted(j->f, val);
    else
        fputs("null", j->f);
}

void json_int(struct json *j, const char *key, int64_t val) {
    json_member(j, key);
    fprintf(j->f, "%" PRId64, val);
}

void json_bool(struct json *j, const char *key, bool val) {
    json_member(j, key);
    fputs(val ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key) {
    json_member(j, key);
    fputs("null", j->f);
}

void json_end(struct json *j) {
    fputc('\n', j->f);
    fflush(j->f);
}
