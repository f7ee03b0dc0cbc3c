/* Output helpers: JSON strings, escaped byte strings, byte counts. */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

/* Length of the valid UTF-8 sequence at @s (at most @len bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
    size_t n;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

void json_str(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(p + i, len - i);

        if (n == 1 && (p[i] == '"' || p[i] == '\\'))
            fprintf(f, "\\%c", p[i]);
        else if (n == 1 && p[i] == '\n')
            fputs("\\n", f);
        else if (n == 1 && p[i] == '\t')
            fputs("\\t", f);
        else if (n == 0 || p[i] < 0x20 || p[i] == 0x7f)
            fprintf(f, "\\u%04x", p[i]);
        else
            fwrite(p + i, 1, n, f);
        i += n ? n : 1;
    }
    fputc('"', f);
}

void human_str(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '\\')
            fputs("\\\\", f);
        else if (isprint(ch) || ch >= 0x80)
            fputc(ch, f);
        else
            fprintf(f, "\\x%02x", ch);
    }
}

void human_bytes(char *out, size_t len, unsigned long long bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(out, len, "%llu B", bytes);
        return;
    }
    v /= 1024;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, "%.1f %s", v, units[u]);
}

/* ---- a plain text table -------------------------------------------------- */

void table_row(struct table *t, const char *const *cells)
{
    t->cells = xrealloc(t->cells, (t->rows + 1) * t->cols * sizeof(char *));
    for (size_t i = 0; i < t->cols; i++) {
        size_t w = strlen(cells[i]);

        t->cells[t->rows * t->cols + i] = xstrdup(cells[i]);
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->rows++;
}

void table_print(struct table *t)
{
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t i = 0; i < t->cols; i++) {
            const char *s = t->cells[r * t->cols + i];

            if (i + 1 == t->cols)
                printf("%s\n", s);
            else
                printf("%-*s  ", (int)t->width[i], s);
        }
    }
    for (size_t i = 0; i < t->rows * t->cols; i++)
        free(t->cells[i]);
    free(t->cells);
}
