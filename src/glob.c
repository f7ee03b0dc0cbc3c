/* Glob patterns as KEYS and SCAN MATCH take them.
 *
 * Every token other than '*' matches exactly one byte, so a failed match
 * only ever needs to go back to the most recent star and let it swallow one
 * more byte: the match is iterative and takes at most pattern length times
 * string length steps, whatever the pattern ("a*a*a*a*b" included). */

#include "exec_internal.h"

/* A bracket class at @p[*i] ('['), against byte @c; *i moves past it. ']'
 * closes the class even first in it, so "[]" matches nothing; a backslash
 * takes the next byte literally; "x-y" is a range, either way round; a
 * class left open runs to the end of the pattern. */
static bool class_match(const char *p, size_t plen, size_t *i, unsigned char c)
{
    size_t k = *i + 1;
    bool negate = false;
    bool hit = false;

    if (k < plen && p[k] == '^') {
        negate = true;
        k++;
    }
    while (k < plen && p[k] != ']') {
        unsigned char lo;
        unsigned char hi;

        if (p[k] == '\\' && k + 1 < plen)
            k++;
        lo = hi = (unsigned char)p[k++];
        if (k + 1 < plen && p[k] == '-' && p[k + 1] != ']') {
            k++;
            if (p[k] == '\\' && k + 1 < plen)
                k++;
            hi = (unsigned char)p[k++];
        }
        if (lo > hi) {
            unsigned char t = lo;

            lo = hi;
            hi = t;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    *i = k < plen ? k + 1 : k;
    return hit != negate;
}

/* One token other than '*' at @p[*i] against byte @c; *i moves past it. A
 * trailing lone backslash is a literal backslash. */
static bool token_match(const char *p, size_t plen, size_t *i, unsigned char c)
{
    size_t k = *i;

    if (p[k] == '?') {
        *i = k + 1;
        return true;
    }
    if (p[k] == '[')
        return class_match(p, plen, i, c);
    if (p[k] == '\\' && k + 1 < plen)
        k++;
    *i = k + 1;
    return (unsigned char)p[k] == c;
}

bool glob_match(const char *pattern, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0;
    size_t si = 0;
    size_t star_pi = 0; /* pattern position just after the last star */
    size_t star_si = 0; /* where that star's match currently ends */
    bool star = false;

    while (si < slen) {
        size_t next = pi;

        if (pi < plen && pattern[pi] == '*') {
            while (pi < plen && pattern[pi] == '*')
                pi++;
            star = true;
            star_pi = pi;
            star_si = si;
            continue;
        }
        if (pi < plen &&
            token_match(pattern, plen, &next, (unsigned char)s[si])) {
            pi = next;
            si++;
            continue;
        }
        if (!star)
            return false;
        pi = star_pi;
        si = ++star_si;
    }
    while (pi < plen && pattern[pi] == '*')
        pi++;
    return pi == plen;
}

size_t glob_prefix(const char *pattern, size_t plen, char *prefix,
                   bool *literal)
{
    size_t n = 0;

    for (size_t i = 0; i < plen; i++) {
        char c = pattern[i];

        if (c == '*' || c == '?' || c == '[') {
            *literal = false;
            return n;
        }
        if (c == '\\' && i + 1 < plen)
            c = pattern[++i];
        prefix[n++] = c;
    }
    *literal = true;
    return n;
}
