/* The member table, kept sorted by name so every listing comes out in the
 * same order on every replica. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "members.h"
#include "util.h"

static const char *const role_names[] = {
    [MEMBER_VOTER] = "voter",
    [MEMBER_STANDBY] = "standby",
    [MEMBER_SPARE] = "spare",
};

void members_init(struct members *m)
{
    m->v = NULL;
    m->n = 0;
}

static void member_free(struct member *e)
{
    free(e->name);
    free(e->raft_addr);
    free(e->client_addr);
}

void members_free(struct members *m)
{
    for (size_t i = 0; i < m->n; i++)
        member_free(&m->v[i]);
    free(m->v);
    members_init(m);
}

uint64_t member_id_from_name(const char *name, size_t len)
{
    /* FNV-1a, 64-bit. Raft reserves id 0 for "none". */
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 0x100000001b3ULL;
    }
    return h != 0 ? h : 1;
}

const char *member_role_name(int role)
{
    if (role < 0 || (size_t)role >= ARRAY_SIZE(role_names))
        return "unknown";
    return role_names[role];
}

int member_role_parse(const char *s, size_t len, int *role)
{
    for (size_t i = 0; i < ARRAY_SIZE(role_names); i++) {
        if (strlen(role_names[i]) == len &&
            memcmp(s, role_names[i], len) == 0) {
            *role = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

static bool member_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int member_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > MEMBER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!member_name_char(s[i]))
            return 0;
    }
    return 1;
}

/* Binary search by name: the index of @name, or where it would go, with
 * *@found telling which. */
static size_t members_search(const struct members *m, const char *name,
                             bool *found)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(m->v[mid].name, name);

        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

void members_set(struct members *m, const char *name, uint64_t id,
                 const char *raft_addr, const char *client_addr, int role)
{
    /* Copy before freeing anything: the arguments may point into the entry
     * being replaced. */
    struct member e = {xstrdup(name), id, xstrdup(raft_addr),
                       xstrdup(client_addr), role};
    bool found;
    size_t i = members_search(m, name, &found);

    if (found) {
        member_free(&m->v[i]);
    } else {
        m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
        memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
        m->n++;
    }
    m->v[i] = e;
}

int members_del(struct members *m, const char *name)
{
    bool found;
    size_t i = members_search(m, name, &found);

    if (!found)
        return -ENOENT;
    member_free(&m->v[i]);
    memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
    m->n--;
    return 0;
}

struct member *members_find_name(const struct members *m, const char *name)
{
    bool found;
    size_t i = members_search(m, name, &found);

    return found ? &m->v[i] : NULL;
}

struct member *members_find_id(const struct members *m, uint64_t id)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].id == id)
            return &m->v[i];
    }
    return NULL;
}

void members_copy(struct members *dst, const struct members *src)
{
    struct members copy = {NULL, 0};

    /* Build first, then swap: @dst may alias @src. */
    if (src->n > 0)
        copy.v = xcalloc(src->n, sizeof(*copy.v));
    for (size_t i = 0; i < src->n; i++) {
        const struct member *s = &src->v[i];

        copy.v[i].name = xstrdup(s->name);
        copy.v[i].id = s->id;
        copy.v[i].raft_addr = xstrdup(s->raft_addr);
        copy.v[i].client_addr = xstrdup(s->client_addr);
        copy.v[i].role = s->role;
    }
    copy.n = src->n;
    members_free(dst);
    *dst = copy;
}
