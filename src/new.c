/* new.c - C++'s replaceable global operators new and delete (C++17/20: plain,
 * array, nothrow, sized, aligned and their combinations), written in C under
 * their Itanium-ABI mangled names, so that libhakmem stays a C library: a C
 * program that links it gets no libstdc++ (doc/design.md, "In place of other
 * allocators").
 *
 *   operator new(size)              _Znwm     \  malloc; on failure the
 *   operator new[](size)            _Znam     /  new-handler loop, then
 *   operator new(size, align)       _ZnwmSt11align_val_t        std::bad_alloc
 *   operator new[](size, align)     _ZnamSt11align_val_t
 *   ... (size[, align], nothrow)    _Znwm...RKSt9nothrow_t: NULL instead
 *   operator delete[](p[, size][, align][, nothrow])   _ZdlPv..., _ZdaPv...
 *
 * What needs the C++ runtime comes from libstdc++ when the process has it:
 * std::get_new_handler and std::__throw_bad_alloc through weak references
 * (resolved by the dynamic linker, or by the static linker for an executable
 * that holds libstdc++), else looked up in a libstdc++.so.6 that is loaded
 * but not in the global scope (a C++ plugin a C program opened with
 * RTLD_LOCAL). A process without libstdc++ has no handler to call and no one
 * to catch std::bad_alloc: a throwing new that fails there stops it with a
 * diagnostic, as an uncaught exception would.
 *
 * The unwinder passes through these C frames (x86-64 objects carry unwind
 * tables by default; they need no cleanups), so a handler's or new's
 * std::bad_alloc reaches the caller's catch. */
#include "internal.h"
#include "entry.h"
#include "log.h"

#include <dlfcn.h>
#include <errno.h>

typedef void (*new_handler_t)(void);

/* libstdc++'s, or NULL. */
extern new_handler_t cxx_get_new_handler(void) __asm__("_ZSt15get_new_handlerv")
	__attribute__((weak));
extern void cxx_throw_bad_alloc(void) __asm__("_ZSt17__throw_bad_allocv")
	__attribute__((weak, noreturn));

/* What the failure paths use of the C++ runtime; every member may be NULL. */
typedef struct cxx_runtime {
	new_handler_t (*get_new_handler)(void);
	void (*throw_bad_alloc)(void); /* does not return */
	/* libstdc++'s own nothrow operators: they call the throwing operator
	 * (hakmem's, reached through the global scope) inside a catch (...). */
	void *(*new_nothrow)(size_t size, const void *tag);
	void *(*new_aligned_nothrow)(size_t size, size_t align, const void *tag);
} cxx_runtime_t;

/* Looked up at each failure (a slow path): libstdc++ may come and go with
 * dlopen and dlclose. */
static void cxx_runtime(cxx_runtime_t *rt, void *self_nothrow, void *self_aligned_nothrow)
{
	*rt = (cxx_runtime_t){ cxx_get_new_handler, cxx_throw_bad_alloc, NULL, NULL };
	int saved = errno;
	void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
	if (h != NULL) {
		if (rt->get_new_handler == NULL)
			rt->get_new_handler = (new_handler_t(*)(void))dlsym(h, "_ZSt15get_new_handlerv");
		if (rt->throw_bad_alloc == NULL)
			rt->throw_bad_alloc = (void (*)(void))dlsym(h, "_ZSt17__throw_bad_allocv");
		void *n = dlsym(h, "_ZnwmRKSt9nothrow_t");
		void *na = dlsym(h, "_ZnwmSt11align_val_tRKSt9nothrow_t");
		/* Never our own (that would recurse): libstdc++ defines them. */
		if (n != self_nothrow)
			rt->new_nothrow = (void *(*)(size_t, const void *))n;
		if (na != self_aligned_nothrow)
			rt->new_aligned_nothrow = (void *(*)(size_t, size_t, const void *))na;
		dlclose(h); /* it stays loaded: someone else loaded it */
	}
	errno = saved;
}

static new_handler_t current_handler(const cxx_runtime_t *rt)
{
	return rt->get_new_handler != NULL ? rt->get_new_handler() : NULL;
}

/* align 0: malloc's alignment. */
static void *new_alloc(size_t size, size_t align)
{
	return align == 0 ? entry_malloc(size) : entry_aligned_alloc(align, size);
}

/* The throwing forms after a failed allocation ([new.delete.single]): while
 * a new-handler is installed, call it and try again; then std::bad_alloc. */
static SLOW_PATH void *new_retry(size_t size, size_t align)
{
	cxx_runtime_t rt;
	cxx_runtime(&rt, NULL, NULL);
	for (;;) {
		new_handler_t h = current_handler(&rt);
		if (h == NULL)
			break;
		h(); /* may throw std::bad_alloc itself, or end the program */
		void *p = new_alloc(size, align);
		if (p != NULL)
			return p;
	}
	if (rt.throw_bad_alloc != NULL)
		rt.throw_bad_alloc();
	hm_fatal("operator new(%zu) failed, and no C++ runtime is loaded to throw std::bad_alloc",
	         size);
}

EXPORT void *cxx_new(size_t size) __asm__("_Znwm");
EXPORT void *cxx_new_array(size_t size) __asm__("_Znam");
EXPORT void *cxx_new_nothrow(size_t size, const void *tag) __asm__("_ZnwmRKSt9nothrow_t");
EXPORT void *cxx_new_array_nothrow(size_t size, const void *tag) __asm__("_ZnamRKSt9nothrow_t");
EXPORT void *cxx_new_aligned(size_t size, size_t align) __asm__("_ZnwmSt11align_val_t");
EXPORT void *cxx_new_array_aligned(size_t size, size_t align) __asm__("_ZnamSt11align_val_t");
EXPORT void *cxx_new_aligned_nothrow(size_t size, size_t align, const void *tag)
	__asm__("_ZnwmSt11align_val_tRKSt9nothrow_t");
EXPORT void *cxx_new_array_aligned_nothrow(size_t size, size_t align, const void *tag)
	__asm__("_ZnamSt11align_val_tRKSt9nothrow_t");

/* The nothrow forms: as the throwing one, but NULL instead of the exception,
 * including one a new-handler throws, which must not leave a noexcept
 * function. C cannot catch it; libstdc++'s nothrow operator can, around a
 * call of the throwing operator, which is hakmem's. */
static SLOW_PATH void *new_retry_nothrow(size_t size, size_t align, const void *tag)
{
	cxx_runtime_t rt;
	cxx_runtime(&rt, (void *)cxx_new_nothrow, (void *)cxx_new_aligned_nothrow);
	if (current_handler(&rt) == NULL)
		return NULL; /* the common case: no handler; errno is ENOMEM */
	if (align == 0 && rt.new_nothrow != NULL)
		return rt.new_nothrow(size, tag);
	if (align != 0 && rt.new_aligned_nothrow != NULL)
		return rt.new_aligned_nothrow(size, align, tag);
	/* A get_new_handler without a shared libstdc++ (linked statically into
	 * the executable): the handler is called as it is. */
	for (;;) {
		new_handler_t h = current_handler(&rt);
		if (h == NULL)
			return NULL;
		h();
		void *p = new_alloc(size, align);
		if (p != NULL)
			return p;
	}
}

/* ---- new ---- */

void *cxx_new(size_t size)
{
	void *p = entry_malloc(size);
	if (LIKELY(p != NULL))
		return p;
	return new_retry(size, 0);
}

void *cxx_new_array(size_t size)
{
	void *p = entry_malloc(size);
	if (LIKELY(p != NULL))
		return p;
	return new_retry(size, 0);
}

void *cxx_new_nothrow(size_t size, const void *tag)
{
	void *p = entry_malloc(size);
	if (LIKELY(p != NULL))
		return p;
	return new_retry_nothrow(size, 0, tag);
}

void *cxx_new_array_nothrow(size_t size, const void *tag)
{
	return cxx_new_nothrow(size, tag);
}

void *cxx_new_aligned(size_t size, size_t align)
{
	void *p = entry_aligned_alloc(align, size);
	if (LIKELY(p != NULL))
		return p;
	return new_retry(size, align);
}

void *cxx_new_array_aligned(size_t size, size_t align)
{
	void *p = entry_aligned_alloc(align, size);
	if (LIKELY(p != NULL))
		return p;
	return new_retry(size, align);
}

void *cxx_new_aligned_nothrow(size_t size, size_t align, const void *tag)
{
	void *p = entry_aligned_alloc(align, size);
	if (LIKELY(p != NULL))
		return p;
	return new_retry_nothrow(size, align, tag);
}

void *cxx_new_array_aligned_nothrow(size_t size, size_t align, const void *tag)
{
	return cxx_new_aligned_nothrow(size, align, tag);
}

/* ---- delete ----
 * The size of a sized delete goes to hakmem_free_sized (C23's free_sized);
 * free's fast path finds a block's class in its slab header with a mask and
 * a shift, so the size saves nothing there. A debug build checks that it
 * fits the block. The alignment needs no handling: every hakmem block is
 * freed the same way. */

EXPORT void cxx_delete(void *p) __asm__("_ZdlPv");
EXPORT void cxx_delete_array(void *p) __asm__("_ZdaPv");
EXPORT void cxx_delete_nothrow(void *p, const void *tag) __asm__("_ZdlPvRKSt9nothrow_t");
EXPORT void cxx_delete_array_nothrow(void *p, const void *tag) __asm__("_ZdaPvRKSt9nothrow_t");
EXPORT void cxx_delete_sized(void *p, size_t size) __asm__("_ZdlPvm");
EXPORT void cxx_delete_array_sized(void *p, size_t size) __asm__("_ZdaPvm");
EXPORT void cxx_delete_aligned(void *p, size_t align) __asm__("_ZdlPvSt11align_val_t");
EXPORT void cxx_delete_array_aligned(void *p, size_t align) __asm__("_ZdaPvSt11align_val_t");
EXPORT void cxx_delete_aligned_nothrow(void *p, size_t align, const void *tag)
	__asm__("_ZdlPvSt11align_val_tRKSt9nothrow_t");
EXPORT void cxx_delete_array_aligned_nothrow(void *p, size_t align, const void *tag)
	__asm__("_ZdaPvSt11align_val_tRKSt9nothrow_t");
EXPORT void cxx_delete_sized_aligned(void *p, size_t size, size_t align)
	__asm__("_ZdlPvmSt11align_val_t");
EXPORT void cxx_delete_array_sized_aligned(void *p, size_t size, size_t align)
	__asm__("_ZdaPvmSt11align_val_t");

static inline void delete_sized(void *p, size_t size)
{
	if (hakmem_debug && p != NULL && UNLIKELY(size > entry_usable_size(p)))
		hm_fatal("sized delete of %p with size %zu: the block holds %zu", p, size,
		         entry_usable_size(p));
	entry_free_sized(p, size);
}

void cxx_delete(void *p)                                      { entry_free(p); }
void cxx_delete_array(void *p)                                { entry_free(p); }
void cxx_delete_nothrow(void *p, const void *tag)             { entry_free(p); }
void cxx_delete_array_nothrow(void *p, const void *tag)       { entry_free(p); }
void cxx_delete_sized(void *p, size_t size)                   { delete_sized(p, size); }
void cxx_delete_array_sized(void *p, size_t size)             { delete_sized(p, size); }
void cxx_delete_aligned(void *p, size_t align)                { entry_free(p); }
void cxx_delete_array_aligned(void *p, size_t align)          { entry_free(p); }
void cxx_delete_aligned_nothrow(void *p, size_t align, const void *tag)       { entry_free(p); }
void cxx_delete_array_aligned_nothrow(void *p, size_t align, const void *tag) { entry_free(p); }
void cxx_delete_sized_aligned(void *p, size_t size, size_t align)       { delete_sized(p, size); }
void cxx_delete_array_sized_aligned(void *p, size_t size, size_t align) { delete_sized(p, size); }
