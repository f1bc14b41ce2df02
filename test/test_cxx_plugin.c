/* test_cxx_plugin - a C program linked with hakmem (no libstdc++ of its own)
 * opens a C++ module with RTLD_LOCAL (test/cxx_plugin.cc): the module's new
 * is hakmem's, and its std::bad_alloc and new-handler work, found through
 * the libstdc++ the module loaded locally. */
#include "expect.h"

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <hakmem.h>
#include <stdio.h>
#include <stdlib.h>

static void test_plugin(void)
{
	const char *top = getenv("abs_top_builddir");
	char path[4096];
	snprintf(path, sizeof path, "%s/test/.libs/cxx_plugin.so", top ? top : ".");
	void *early = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
	if (early != NULL) { /* a sanitizer's runtime needs it: then it is global */
		fprintf(stderr, "libstdc++ is loaded before the module: not only its local copy\n");
		dlclose(early);
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!expect_ptr_not_null(h, "%s: %s", path, dlerror()))
		return;
	int (*run)(void *) = (int (*)(void *))dlsym(h, "plugin_run");
	if (!expect_ptr_not_null(run))
		return;
	void *hakmem_new = dlsym(RTLD_DEFAULT, "_Znwm");
	Dl_info di, dh;
	expect_int_ne(dladdr(hakmem_new, &di), 0);
	expect_int_ne(dladdr((void *)hakmem_ctl, &dh), 0);
	expect_ptr_eq(di.dli_fbase, dh.dli_fbase, "the global _Znwm is hakmem's: %s", di.dli_fname);
	expect_int_eq(run(hakmem_new), 0,
	              "1: not hakmem's new, 2: containers, 3: no bad_alloc, 4: handler calls, "
	              "5: nothrow not NULL, 6: throwing handler calls");
}

int main(void)
{
	test_run(test_plugin);
	return test_summary();
}
