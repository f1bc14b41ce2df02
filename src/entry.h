/* entry.h - the allocation entry points of malloc.c and free.c under hidden
 * names, for the library's other front ends (new.c: C++'s operators,
 * jemalloc.c: jemalloc's API). Each is an alias of the exported function
 * named beside it: a direct call, where the exported name would go through
 * the GOT (and could be interposed by another library). */
#ifndef HAKMEM_ENTRY_H
#define HAKMEM_ENTRY_H

#include <hakmem.h>
#include <stddef.h>

void  *entry_malloc(size_t size) HAKMEM_MALLOC_ATTR;               /* hakmem_malloc */
void  *entry_calloc(size_t nmemb, size_t size) HAKMEM_MALLOC_ATTR; /* hakmem_calloc */
void  *entry_realloc(void *p, size_t size);                        /* hakmem_realloc */
void  *entry_aligned_alloc(size_t align, size_t size) HAKMEM_MALLOC_ATTR; /* hakmem_aligned_alloc */
size_t entry_usable_size(const void *p);            /* hakmem_usable_size */
void   entry_free(void *p);                         /* hakmem_free */
void   entry_free_sized(void *p, size_t size);      /* hakmem_free_sized */

#endif
