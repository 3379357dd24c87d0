/* SPDX-License-Identifier: MIT
 *
 * macro.h - header-only helpers shared by every module: little-endian
 * accessors (never cast packed structs over file bytes), overflow-checked
 * arithmetic, cleanup attributes and small utilities.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _unused_ __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)
#define _pure_ __attribute__((pure))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(x, y) (((x) + (y) - 1) / (y))
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

static inline uint16_t get_le16(const void *p)
{
        const uint8_t *b = p;
        return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t get_le32(const void *p)
{
        const uint8_t *b = p;
        return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
               ((uint32_t)b[3] << 24);
}

static inline uint64_t get_le64(const void *p)
{
        const uint8_t *b = p;
        return (uint64_t)get_le32(b) | ((uint64_t)get_le32(b + 4) << 32);
}

static inline void put_le16(void *p, uint16_t v)
{
        uint8_t *b = p;
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(void *p, uint32_t v)
{
        uint8_t *b = p;
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
        b[2] = (uint8_t)(v >> 16);
        b[3] = (uint8_t)(v >> 24);
}

static inline void put_le64(void *p, uint64_t v)
{
        put_le32(p, (uint32_t)v);
        put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* Overflow-checked arithmetic: return true on overflow (then *r is undefined). */
#define add_overflow(a, b, r) __builtin_add_overflow(a, b, r)
#define mul_overflow(a, b, r) __builtin_mul_overflow(a, b, r)

/* Is [off, off+len) inside a buffer of size n?  Safe against wrap-around. */
static inline bool range_ok(uint64_t off, uint64_t len, uint64_t n)
{
        return off <= n && len <= n - off;
}

static inline void freep(void *p)
{
        free(*(void **)p);
}

static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand a pointer over to the caller, leaving NULL behind for a cleanup handler. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p = (p);                                                            \
                (p) = NULL;                                                                        \
                _p;                                                                                \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _fd;                                                                               \
        })

/* Negative errno of the last libc failure, never 0. */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}
