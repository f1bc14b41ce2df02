/* cxx_plugin - a C++ module that test_cxx_plugin (a C program linked with
 * hakmem, without libstdc++) opens with RTLD_LOCAL: its libstdc++ is then
 * outside the global scope, where hakmem's weak references cannot see it.
 * plugin_run() returns 0 when its operators are the host's (hakmem's), when
 * a throwing new calls the new-handler (set through the plugin's own
 * libstdc++) until it uninstalls itself and then throws std::bad_alloc, and
 * when nothrow new catches a handler's throw; else the number of the check
 * that failed. */
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

static int calls;

static void uninstalling_handler()
{
	if (++calls == 2)
		std::set_new_handler(nullptr);
}

static void throwing_handler()
{
	calls++;
	throw std::bad_alloc();
}

extern "C" __attribute__((visibility("default"))) int plugin_run(void *host_new)
{
	void *(*pnew)(std::size_t) = ::operator new;
	if ((void *)pnew != host_new)
		return 1;
	std::vector<std::string> v;
	for (int i = 0; i < 1000; i++)
		v.push_back(std::string(100, (char)('a' + i % 26)));
	if (v[999][0] != 'a' + 999 % 26)
		return 2;
	volatile std::size_t huge = PTRDIFF_MAX;
	calls = 0;
	std::set_new_handler(uninstalling_handler);
	try {
		::operator delete(::operator new(huge));
		return 3;
	} catch (const std::bad_alloc &) {
	}
	if (calls != 2)
		return 4;
	calls = 0;
	std::set_new_handler(throwing_handler);
	if (::operator new(huge, std::nothrow) != nullptr)
		return 5;
	if (calls != 1)
		return 6;
	std::set_new_handler(nullptr);
	return 0;
}
