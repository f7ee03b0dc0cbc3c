/* INFO's text: "# Section" headers and "key:value" lines. */

#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

static void info_add(struct info *info, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    struct info_field *f;

    if (colon == NULL || line[0] == '#')
        return;
    info->v = xrealloc(info->v, (info->n + 1) * sizeof(*info->v));
    f = &info->v[info->n++];
    f->key = xmemdup(line, (size_t)(colon - line) + 1);
    f->key[colon - line] = '\0';
    f->value = xmemdup(colon + 1, len - (size_t)(colon - line));
    f->value[len - (size_t)(colon - line) - 1] = '\0';
}

void info_parse(struct info *info, const char *text, size_t len)
{
    size_t start = 0;

    info->v = NULL;
    info->n = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n')
            continue;
        size_t end = i;

        if (end > start && text[end - 1] == '\r')
            end--;
        if (end > start)
            info_add(info, text + start, end - start);
        start = i + 1;
    }
}

void info_free(struct info *info)
{
    for (size_t i = 0; i < info->n; i++) {
        free(info->v[i].key);
        free(info->v[i].value);
    }
    free(info->v);
    info->v = NULL;
    info->n = 0;
}

const char *info_get(const struct info *info, const char *key)
{
    for (size_t i = 0; i < info->n; i++) {
        if (strcmp(info->v[i].key, key) == 0)
            return info->v[i].value;
    }
    return NULL;
}

unsigned long long info_get_ull(const struct info *info, const char *key)
{
    const char *v = info_get(info, key);

    return v ? strtoull(v, NULL, 10) : 0;
}

bool info_subfield(const char *value, const char *name, char *out, size_t len)
{
    size_t nlen = strlen(name);
    const char *p = value;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t flen = end ? (size_t)(end - p) : strlen(p);

        if (flen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            snprintf(out, len, "%.*s", (int)(flen - nlen - 1), p + nlen + 1);
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}
