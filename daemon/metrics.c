/* SPDX-License-Identifier: MIT
 *
 * metrics.c - the only place that talks to the allocator (mallctl).
 */
#include <stdio.h>

#if HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "metrics.h"

const char *metrics_allocator(char *buf, size_t len)
{
#if HAVE_JEMALLOC
        const char *v = NULL;
        size_t sz = sizeof(v);

        /* Asking jemalloc itself proves it is linked, not just configured
         * (meson's --as-needed drops libraries nothing references). */
        if (mallctl("version", &v, &sz, NULL, 0) == 0 && v) {
                snprintf(buf, len, "jemalloc %s", v);
                return buf;
        }
#endif
        snprintf(buf, len, "libc");
        return buf;
}
