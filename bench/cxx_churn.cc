/* cxx_churn - a C++ workload: map, string and vector churn in THREADS threads.
 *
 * Each thread keeps a std::map<std::string, std::vector<int>> of at most KEYS
 * entries and does OPS random operations on it: insert a key (a string of
 * 8-40 characters, so some are longer than the short-string buffer) with a
 * vector of 1-64 ints, erase a key, append to a key's vector, or replace a
 * key's string value through a copy. Every operation allocates and frees
 * through operator new/delete, which the allocator under test serves (hakmem
 * exports its own operators; the peers do too, glibc's libstdc++ forwards to
 * malloc). The map is checked at the end. One op is one map operation;
 * `allocs` is a lower bound (one node per insert).
 */
#include "bench.h"

#include <map>
#include <pthread.h>
#include <string>
#include <vector>

static const char *prog = "cxx_churn";

struct work {
	uint64_t ops, keys, seed;
	uint64_t inserts;
	int bad;
};

static std::string make_key(bench_rng_t *rng)
{
	size_t n = (size_t)bench_rng_range(rng, 8, 40);
	std::string s(n, 'a');
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + bench_rng_range(rng, 0, 25));
	return s;
}

static void *worker(void *arg)
{
	work *w = (work *)arg;
	bench_rng_t rng;
	bench_rng_seed(&rng, w->seed);
	std::map<std::string, std::vector<int>> m;
	std::vector<std::string> names;
	names.reserve(w->keys);
	for (uint64_t i = 0; i < w->ops; i++) {
		uint64_t r = bench_rng_range(&rng, 0, 99);
		if (r < 40 || names.empty()) {
			if (names.size() >= w->keys)
				continue;
			std::string k = make_key(&rng);
			size_t len = (size_t)bench_rng_range(&rng, 1, 64);
			std::vector<int> v(len, (int)len);
			if (m.emplace(k, std::move(v)).second) {
				names.push_back(k);
				w->inserts++;
			}
		} else if (r < 70) {
			size_t at = (size_t)bench_rng_range(&rng, 0, names.size() - 1);
			m.erase(names[at]);
			names[at] = names.back();
			names.pop_back();
		} else if (r < 90) {
			size_t at = (size_t)bench_rng_range(&rng, 0, names.size() - 1);
			std::vector<int> &v = m[names[at]];
			size_t add = (size_t)bench_rng_range(&rng, 1, 16);
			for (size_t k = 0; k < add; k++)
				v.push_back((int)v.size());
		} else {
			size_t at = (size_t)bench_rng_range(&rng, 0, names.size() - 1);
			std::string copy = names[at] + "-" + std::to_string(i);
			m[copy].assign(4, 7);
			m.erase(copy);
		}
	}
	/* Every entry still holds what it was given. */
	for (const auto &e : m)
		if (e.second.empty() || e.first.size() < 8)
			w->bad = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	bench_usage_text = "THREADS OPS KEYS SEED";
	if (argc != 5)
		bench_usage(prog, "wrong number of arguments");
	unsigned threads = (unsigned)bench_arg_u64(prog, "THREADS", argv[1], 1, 256);
	uint64_t ops = bench_arg_u64(prog, "OPS", argv[2], 1, UINT64_C(1) << 34);
	uint64_t keys = bench_arg_u64(prog, "KEYS", argv[3], 1, UINT64_C(1) << 24);
	uint64_t seed = bench_arg_u64(prog, "SEED", argv[4], 0, UINT64_MAX);
	std::vector<work> w(threads);
	std::vector<pthread_t> t(threads);
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < threads; i++) {
		w[i] = work{ ops, keys, seed + i * 7919, 0, 0 };
		if (pthread_create(&t[i], NULL, worker, &w[i]) != 0)
			bench_die(prog, "pthread_create failed");
	}
	uint64_t inserts = 0;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		if (w[i].bad)
			bench_die(prog, "thread %u: a corrupted entry", i);
		inserts += w[i].inserts;
	}
	uint64_t elapsed = bench_now_ns() - t0;
	char extra[128];
	snprintf(extra, sizeof extra, "threads=%u ops_per_thread=%" PRIu64 " keys=%" PRIu64
	         " seed=%" PRIu64, threads, ops, keys, seed);
	bench_report(prog, extra, ops * threads, elapsed, inserts);
	return 0;
}
