/* registry.h - which 2 MiB chunks of the address space are hakmem's.
 *
 * Two bitmaps, one bit per 2 MiB of the 47-bit address space each (8 MiB of
 * lazily touched, MAP_NORESERVE memory apiece): chunks whose header sits at
 * their base (SuperSlabs, large mappings), and chunks where a block aligned
 * to 2 MiB or more starts (its header sits in the 64 bytes below it). Slow
 * paths consult them before they read anything through a pointer the program
 * handed in, so a pointer hakmem did not allocate is reported, never followed.
 */
#ifndef HAKMEM_REGISTRY_H
#define HAKMEM_REGISTRY_H

#include "internal.h"
#include "superslab.h"

int registry_init(void);

/* A chunk header at `chunk` (2 MiB-aligned) is live, or no longer. */
void registry_add(const void *chunk);
void registry_remove(const void *chunk);
/* A block aligned to 2 MiB or more starts at `user`, header below it. */
void registry_add_huge(const void *user);
void registry_remove_huge(const void *user);

/* The header of the live hakmem chunk that p points into, or NULL. For a
 * 2 MiB-aligned p that starts a huge-aligned block, that block's header.
 * The caller still validates that p starts a block. */
chunk_t *registry_lookup(const void *p);

#endif
