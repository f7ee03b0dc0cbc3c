/* The keyspace as a skip list ordered by key, with a binary min-heap over the
 * entries that carry an expiry so the expiry queries never walk the keys. */

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* With p = 1/4 a node carries 4/3 forward pointers on average, and 32 levels
 * are enough for 4^32 keys, far beyond what memory holds. */
#define MAX_LEVEL   32
#define NOT_IN_HEAP UINT32_MAX

/* Small store_expired() calls keep their frontier on the stack. */
#define FRONTIER_STACK 64

/* One allocation per entry: the public view first, so an entry pointer is
 * also a node pointer; then the forward pointers; then the key and the value
 * bytes, each followed by a NUL that the lengths do not count. Keeping the
 * value inline saves a pointer and a malloc header per entry, at the price of
 * moving the node when a value changes length. */
struct node {
    struct store_entry e;
    uint32_t heap_pos;
    uint8_t level;
    struct node *next[];
};

struct store {
    /* Point lookups use a hash index of the nodes: open addressing with
     * linear probing, at most 3/4 full. A slot holds a node pointer (nodes
     * are malloc'd, so 8-byte aligned) whose 3 low bits carry bits of the
     * key's hash, so most probes of other keys cost no visit to their node.
     * 0 is an empty slot. */
    uintptr_t *index;
    size_t index_mask; /* slots - 1; 0 while there is no table */
    struct node *head; /* sentinel with MAX_LEVEL forward pointers */
    unsigned level;    /* levels in use, at least 1 */
    uint64_t rng;
    size_t count;
    size_t bytes;
    struct node **heap; /* entries with an expiry, earliest at [0] */
    size_t heap_len;
    size_t heap_cap;
};

int store_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n > 0 ? memcmp(a, b, n) : 0;

    if (r != 0)
        return r;
    return alen < blen ? -1 : alen > blen;
}

static struct node *node_of(const struct store_entry *e)
{
    return (struct node *)e;
}

/* xorshift64*: private state, so the shape of the list depends on nothing
 * outside this store and tests are reproducible. */
static uint64_t next_random(struct store *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545f4914f6cdd1dULL;
}

static unsigned random_level(struct store *s)
{
    uint64_t r = next_random(s);
    unsigned level = 1;

    while ((r & 3) == 0 && level < MAX_LEVEL) {
        level++;
        r >>= 2;
    }
    return level;
}

static struct node *node_alloc(unsigned level, const char *key, size_t key_len,
                               const char *value, size_t value_len)
{
    size_t head = sizeof(struct node) + level * sizeof(struct node *);
    struct node *n;
    char *k;
    char *v;

    /* Callers cap key and value sizes far below this; a wrap is a bug. */
    if (key_len > SIZE_MAX / 4 || value_len > SIZE_MAX / 4)
        abort();
    n = xmalloc(head + key_len + value_len + 2);
    k = (char *)&n->next[level];
    v = k + key_len + 1;
    if (key_len > 0)
        memcpy(k, key, key_len);
    k[key_len] = '\0';
    if (value_len > 0)
        memcpy(v, value, value_len);
    v[value_len] = '\0';
    n->e = (struct store_entry){
        .key = k, .key_len = key_len, .value = v, .value_len = value_len};
    n->heap_pos = NOT_IN_HEAP;
    n->level = (uint8_t)level;
    return n;
}

#define TAG_MASK ((uintptr_t)7)

/* FNV-1a, then a final mix so that the low bits (slot) and the tag bits
 * both depend on every byte. */
static uint64_t key_hash(const char *key, size_t key_len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < key_len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uintptr_t hash_tag(uint64_t h)
{
    return (uintptr_t)(h >> 61) & TAG_MASK;
}

static struct node *slot_node(uintptr_t v)
{
    return (struct node *)(v & ~TAG_MASK);
}

/* The slot holding @key, or the empty slot where its probe ends. */
static size_t index_probe(const struct store *s, const char *key,
                          size_t key_len, uint64_t h)
{
    uintptr_t tag = hash_tag(h);
    size_t i = (size_t)h & s->index_mask;

    for (;; i = (i + 1) & s->index_mask) {
        uintptr_t v = s->index[i];

        if (v == 0)
            return i;
        if ((v & TAG_MASK) == tag) {
            const struct node *n = slot_node(v);

            if (n->e.key_len == key_len &&
                (key_len == 0 || memcmp(n->e.key, key, key_len) == 0))
                return i;
        }
    }
}

static struct node *index_get(const struct store *s, const char *key,
                              size_t key_len)
{
    size_t i;

    if (s->index_mask == 0)
        return NULL;
    i = index_probe(s, key, key_len, key_hash(key, key_len));
    return s->index[i] != 0 ? slot_node(s->index[i]) : NULL;
}

void store_prefetch_slot(const struct store *s, const char *key, size_t key_len)
{
    if (s->index_mask != 0)
        __builtin_prefetch(
            &s->index[(size_t)key_hash(key, key_len) & s->index_mask]);
}

/* Only the home slot is looked at: a key that probed further is not
 * worth chasing for a hint. The node's first lines are fetched for writing:
 * the header, then its key (compared) and value (overwritten in place when
 * the length stays), which for common sizes lie within 256 bytes of it. */
void store_prefetch_node(const struct store *s, const char *key, size_t key_len)
{
    uint64_t h;
    uintptr_t v;
    const char *n;

    if (s->index_mask == 0)
        return;
    h = key_hash(key, key_len);
    v = s->index[(size_t)h & s->index_mask];
    if (v == 0 || (v & TAG_MASK) != hash_tag(h))
        return;
    n = (const char *)slot_node(v);
    for (unsigned i = 0; i < 4; i++)
        __builtin_prefetch(n + 64 * i, 1);
}

static void index_put(struct store *s, struct node *n)
{
    uint64_t h = key_hash(n->e.key, n->e.key_len);
    size_t i = (size_t)h & s->index_mask;

    assert(((uintptr_t)n & TAG_MASK) == 0);
    while (s->index[i] != 0)
        i = (i + 1) & s->index_mask;
    s->index[i] = (uintptr_t)n | hash_tag(h);
}

/* Room for one more node, growing the table (and rehashing) when it would
 * pass 3/4 full. */
static void index_reserve(struct store *s)
{
    size_t slots = s->index_mask + 1, old_slots = slots;
    uintptr_t *old = s->index;

    if (s->index_mask != 0 && (s->count + 1) * 4 <= slots * 3)
        return;
    slots = s->index_mask == 0 ? 64 : slots * 2;
    s->index = xcalloc(slots, sizeof(*s->index));
    s->index_mask = slots - 1;
    for (size_t i = 0; old != NULL && i < old_slots; i++) {
        if (old[i] != 0)
            index_put(s, slot_node(old[i]));
    }
    free(old);
}

static size_t index_slot_of(const struct store *s, const struct node *n)
{
    return index_probe(s, n->e.key, n->e.key_len,
                       key_hash(n->e.key, n->e.key_len));
}

/* Empty slot @i and shift later members of its cluster back, so no probe
 * ever stops early at the hole. */
static void index_remove_at(struct store *s, size_t i)
{
    size_t j = i;

    for (;;) {
        uintptr_t v;
        size_t home;

        j = (j + 1) & s->index_mask;
        v = s->index[j];
        if (v == 0)
            break;
        home = (size_t)key_hash(slot_node(v)->e.key, slot_node(v)->e.key_len) &
               s->index_mask;
        /* Leave it if its home lies cyclically in (i, j]. */
        if (((j - home) & s->index_mask) < ((j - i) & s->index_mask))
            continue;
        s->index[i] = v;
        i = j;
    }
    s->index[i] = 0;
}

/* The first node with a key >= @key, or NULL. When @update is given it
 * receives, per level in use, the last node before that position. */
static struct node *find_ge(const struct store *s, const char *key,
                            size_t key_len, struct node **update)
{
    struct node *x = s->head;

    for (unsigned i = s->level; i-- > 0;) {
        while (x->next[i] != NULL &&
               store_key_cmp(x->next[i]->e.key, x->next[i]->e.key_len, key,
                             key_len) < 0)
            x = x->next[i];
        if (update != NULL)
            update[i] = x;
    }
    return x->next[0];
}

static bool node_has_key(const struct node *n, const char *key, size_t key_len)
{
    return n != NULL &&
           store_key_cmp(n->e.key, n->e.key_len, key, key_len) == 0;
}

/* Heap order: expiry time, then key, so ties come out in a fixed order. */
static bool heap_less(const struct node *a, const struct node *b)
{
    if (a->e.expire_ms != b->e.expire_ms)
        return a->e.expire_ms < b->e.expire_ms;
    return store_key_cmp(a->e.key, a->e.key_len, b->e.key, b->e.key_len) < 0;
}

static void heap_place(struct store *s, size_t i, struct node *n)
{
    s->heap[i] = n;
    n->heap_pos = (uint32_t)i;
}

static void heap_up(struct store *s, size_t i)
{
    struct node *n = s->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!heap_less(n, s->heap[parent]))
            break;
        heap_place(s, i, s->heap[parent]);
        i = parent;
    }
    heap_place(s, i, n);
}

static void heap_down(struct store *s, size_t i)
{
    struct node *n = s->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= s->heap_len)
            break;
        if (c + 1 < s->heap_len && heap_less(s->heap[c + 1], s->heap[c]))
            c++;
        if (!heap_less(s->heap[c], n))
            break;
        heap_place(s, i, s->heap[c]);
        i = c;
    }
    heap_place(s, i, n);
}

static void heap_fix(struct store *s, size_t i)
{
    if (i > 0 && heap_less(s->heap[i], s->heap[(i - 1) / 2]))
        heap_up(s, i);
    else
        heap_down(s, i);
}

static void heap_push(struct store *s, struct node *n)
{
    if (s->heap_len == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 16;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
    /* heap_pos is 32 bits to keep nodes small. */
    if (s->heap_len >= NOT_IN_HEAP)
        abort();
    heap_place(s, s->heap_len++, n);
    heap_up(s, s->heap_len - 1);
}

static void heap_remove(struct store *s, struct node *n)
{
    size_t i = n->heap_pos;
    struct node *last = s->heap[--s->heap_len];

    n->heap_pos = NOT_IN_HEAP;
    if (i < s->heap_len) {
        heap_place(s, i, last);
        heap_fix(s, i);
    }
    /* Give memory back after a mass expiry, with hysteresis. */
    if (s->heap_cap > 64 && s->heap_len < s->heap_cap / 4) {
        s->heap_cap /= 2;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
}

static void set_expiry(struct store *s, struct node *n, int64_t expire_ms)
{
    bool indexed = n->heap_pos != NOT_IN_HEAP;

    n->e.expire_ms = expire_ms;
    if (expire_ms == 0 && indexed)
        heap_remove(s, n);
    else if (expire_ms != 0 && indexed)
        heap_fix(s, n->heap_pos);
    else if (expire_ms != 0)
        heap_push(s, n);
}

/* Link a new node for @key after the positions in @update. */
static struct node *insert(struct store *s, struct node **update,
                           const char *key, size_t key_len, const char *value,
                           size_t value_len)
{
    unsigned level = random_level(s);
    struct node *n = node_alloc(level, key, key_len, value, value_len);

    index_reserve(s);
    index_put(s, n);

    for (unsigned i = s->level; i < level; i++)
        update[i] = s->head;
    if (level > s->level)
        s->level = level;
    for (unsigned i = 0; i < level; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    s->count++;
    s->bytes += key_len + value_len;
    return n;
}

static void copy_meta(struct store_entry *to, const struct store_entry *from)
{
    to->expire_ms = from->expire_ms;
    to->mtime_ms = from->mtime_ms;
    to->create_rev = from->create_rev;
    to->mod_rev = from->mod_rev;
    to->version = from->version;
}

/* Give @n a new value. Reads @value before freeing anything, so it may point
 * into @n itself. */
static struct node *replace_value(struct store *s, struct node **update,
                                  struct node *n, const char *value,
                                  size_t value_len)
{
    struct node *r;
    size_t slot;

    s->bytes = s->bytes - n->e.value_len + value_len;
    if (value_len == n->e.value_len) {
        if (value_len > 0)
            memmove((char *)n->e.value, value, value_len);
        return n;
    }
    slot = index_slot_of(s, n);
    r = node_alloc(n->level, n->e.key, n->e.key_len, value, value_len);
    s->index[slot] = (uintptr_t)r | (s->index[slot] & TAG_MASK);
    copy_meta(&r->e, &n->e);
    r->heap_pos = n->heap_pos;
    if (r->heap_pos != NOT_IN_HEAP)
        s->heap[r->heap_pos] = r;
    for (unsigned i = 0; i < n->level; i++) {
        r->next[i] = n->next[i];
        update[i]->next[i] = r;
    }
    free(n);
    return r;
}

static void unlink_node(struct store *s, struct node **update, struct node *n)
{
    index_remove_at(s, index_slot_of(s, n));
    for (unsigned i = 0; i < n->level; i++)
        update[i]->next[i] = n->next[i];
    while (s->level > 1 && s->head->next[s->level - 1] == NULL)
        s->level--;
    if (n->heap_pos != NOT_IN_HEAP)
        heap_remove(s, n);
    s->count--;
    s->bytes -= n->e.key_len + n->e.value_len;
}

struct store *store_new(void)
{
    struct store *s = xcalloc(1, sizeof(*s));

    s->head = xcalloc(1, sizeof(struct node) + MAX_LEVEL * sizeof(void *));
    s->head->level = MAX_LEVEL;
    s->head->heap_pos = NOT_IN_HEAP;
    s->level = 1;
    s->rng = 0x9e3779b97f4a7c15ULL;
    return s;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    store_clear(s);
    free(s->head);
    free(s);
}

void store_clear(struct store *s)
{
    struct node *n = s->head->next[0];

    while (n != NULL) {
        struct node *next = n->next[0];

        free(n);
        n = next;
    }
    memset(s->head->next, 0, MAX_LEVEL * sizeof(s->head->next[0]));
    free(s->index);
    s->index = NULL;
    s->index_mask = 0;
    s->level = 1;
    s->count = 0;
    s->bytes = 0;
    free(s->heap);
    s->heap = NULL;
    s->heap_len = 0;
    s->heap_cap = 0;
}

size_t store_count(const struct store *s)
{
    return s->count;
}

size_t store_bytes(const struct store *s)
{
    return s->bytes;
}

bool store_live(const struct store_entry *e, int64_t now_ms)
{
    return e != NULL && (e->expire_ms == 0 || e->expire_ms > now_ms);
}

const struct store_entry *store_get(const struct store *s, const char *key,
                                    size_t key_len)
{
    struct node *n = index_get(s, key, key_len);

    return n != NULL ? &n->e : NULL;
}

const struct store_entry *store_set(struct store *s, const char *key,
                                    size_t key_len, const char *value,
                                    size_t value_len, int64_t expire_ms,
                                    uint64_t rev, int64_t now_ms)
{
    struct node *update[MAX_LEVEL];
    struct node *n = index_get(s, key, key_len);

    /* A value of the same length is replaced in place: the skip list is
     * walked only to link a node in or to move one. */
    if (n != NULL && n->e.value_len == value_len) {
        n = replace_value(s, NULL, n, value, value_len);
        n->e.version++;
    } else if (n != NULL) {
        n = find_ge(s, key, key_len, update);
        n = replace_value(s, update, n, value, value_len);
        n->e.version++;
    } else {
        find_ge(s, key, key_len, update);
        n = insert(s, update, key, key_len, value, value_len);
        n->e.create_rev = rev;
        n->e.version = 1;
    }
    n->e.mod_rev = rev;
    n->e.mtime_ms = now_ms;
    set_expiry(s, n, expire_ms);
    return &n->e;
}

bool store_set_expire(struct store *s, const char *key, size_t key_len,
                      int64_t expire_ms, uint64_t rev, int64_t now_ms)
{
    struct node *n = index_get(s, key, key_len);

    if (n == NULL)
        return false;
    n->e.mod_rev = rev;
    n->e.mtime_ms = now_ms;
    n->e.version++;
    set_expiry(s, n, expire_ms);
    return true;
}

bool store_del(struct store *s, const char *key, size_t key_len)
{
    struct node *update[MAX_LEVEL];
    struct node *n;

    if (index_get(s, key, key_len) == NULL)
        return false;
    n = find_ge(s, key, key_len, update);
    unlink_node(s, update, n);
    free(n);
    return true;
}

void store_load(struct store *s, const struct store_entry *e)
{
    struct node *update[MAX_LEVEL];
    struct node *n = find_ge(s, e->key, e->key_len, update);

    assert(!node_has_key(n, e->key, e->key_len));
    n = insert(s, update, e->key, e->key_len, e->value, e->value_len);
    copy_meta(&n->e, e);
    set_expiry(s, n, e->expire_ms);
}

const struct store_entry *store_seek(const struct store *s, const char *key,
                                     size_t key_len)
{
    struct node *n = find_ge(s, key, key_len, NULL);

    return n != NULL ? &n->e : NULL;
}

const struct store_entry *store_first(const struct store *s)
{
    struct node *n = s->head->next[0];

    return n != NULL ? &n->e : NULL;
}

const struct store_entry *store_next(const struct store *s,
                                     const struct store_entry *e)
{
    struct node *n = node_of(e)->next[0];

    (void)s;
    return n != NULL ? &n->e : NULL;
}

int64_t store_next_expiry(const struct store *s)
{
    return s->heap_len > 0 ? s->heap[0]->e.expire_ms : 0;
}

/* store_expired() walks the expiry heap without changing it: a small heap of
 * positions (the frontier) holds the candidates, and taking one makes its two
 * children candidates. Each visit removes one position and adds at most two,
 * so the frontier never holds more than max + 1. */
struct frontier {
    const struct store *s;
    uint32_t *pos;
    size_t len;
};

static bool frontier_less(const struct frontier *f, size_t a, size_t b)
{
    return heap_less(f->s->heap[f->pos[a]], f->s->heap[f->pos[b]]);
}

static void frontier_swap(struct frontier *f, size_t a, size_t b)
{
    uint32_t t = f->pos[a];

    f->pos[a] = f->pos[b];
    f->pos[b] = t;
}

static void frontier_push(struct frontier *f, uint32_t heap_pos)
{
    size_t i = f->len++;

    f->pos[i] = heap_pos;
    while (i > 0 && frontier_less(f, i, (i - 1) / 2)) {
        frontier_swap(f, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static uint32_t frontier_pop(struct frontier *f)
{
    uint32_t top = f->pos[0];
    size_t i = 0;

    f->pos[0] = f->pos[--f->len];
    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= f->len)
            break;
        if (c + 1 < f->len && frontier_less(f, c + 1, c))
            c++;
        if (!frontier_less(f, c, i))
            break;
        frontier_swap(f, i, c);
        i = c;
    }
    return top;
}

static void frontier_offer(struct frontier *f, size_t heap_pos, int64_t now_ms)
{
    if (heap_pos < f->s->heap_len &&
        f->s->heap[heap_pos]->e.expire_ms <= now_ms)
        frontier_push(f, (uint32_t)heap_pos);
}

size_t store_expired(const struct store *s, int64_t now_ms, size_t max,
                     void (*fn)(const struct store_entry *e, void *arg),
                     void *arg)
{
    uint32_t stack[FRONTIER_STACK];
    struct frontier f = {.s = s, .pos = stack};
    size_t cap = (max < s->heap_len ? max : s->heap_len) + 1;
    size_t visited = 0;

    if (max == 0)
        return 0;
    if (cap > FRONTIER_STACK)
        f.pos = xmalloc(cap * sizeof(*f.pos));
    frontier_offer(&f, 0, now_ms);
    while (f.len > 0 && visited < max) {
        uint32_t i = frontier_pop(&f);

        fn(&s->heap[i]->e, arg);
        visited++;
        frontier_offer(&f, 2 * (size_t)i + 1, now_ms);
        frontier_offer(&f, 2 * (size_t)i + 2, now_ms);
    }
    if (f.pos != stack)
        free(f.pos);
    return visited;
}
