/* The member table: who is in the cluster, replicated through the log.
 *
 * Raft itself knows members only by numeric id and Raft address. cashe adds a
 * name (--id=raft0), the address clients and followers reach the member on,
 * and a role as cashe last set it. Each replica holds the same table because
 * it changes only when CODEC_MEMBER_SET / CODEC_MEMBER_DEL entries apply. */

#ifndef CASHE_MEMBERS_H
#define CASHE_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#define MEMBER_NAME_MAX 64
#define MEMBER_ADDR_MAX 255

enum member_role {
    MEMBER_VOTER = 0,
    MEMBER_STANDBY = 1, /* replicates, does not vote */
    MEMBER_SPARE = 2,   /* neither */
};

struct member {
    char *name;
    uint64_t id;
    char *raft_addr;
    char *client_addr;
    int role; /* enum member_role */
};

/* Sorted by name (strcmp order), so listings are stable across replicas. */
struct members {
    struct member *v;
    size_t n;
};

void members_init(struct members *m);
void members_free(struct members *m);

/* The Raft id a name maps to: a 64-bit hash, never 0. */
uint64_t member_id_from_name(const char *name, size_t len);

/* "voter", "standby", "spare"; the parse returns -EINVAL on anything else. */
const char *member_role_name(int role);
int member_role_parse(const char *s, size_t len, int *role);

/* A name is 1..MEMBER_NAME_MAX bytes of [A-Za-z0-9._-]: returns 1 when @s
 * is one, 0 otherwise. */
int member_name_valid(const char *s, size_t len);

/* Insert or replace the member named @name (copies every string). */
void members_set(struct members *m, const char *name, uint64_t id,
                 const char *raft_addr, const char *client_addr, int role);

/* Remove by name; returns 0 or -ENOENT. */
int members_del(struct members *m, const char *name);

struct member *members_find_name(const struct members *m, const char *name);
struct member *members_find_id(const struct members *m, uint64_t id);

/* Replace @dst's contents with a deep copy of @src. */
void members_copy(struct members *dst, const struct members *src);

#endif /* CASHE_MEMBERS_H */
