#!/usr/bin/env bash
# Installs, from Debian's package registry, whatever the build, the tests and
# the benchmarks need and this machine lacks. Idempotent; quiet when nothing
# is missing.
set -euo pipefail

PACKAGES=(
	build-essential autoconf automake libtool pkg-config   # the build
	libnuma-dev libhwloc-dev numactl                        # topology and placement
	python3 perl sqlite3 valgrind strace                    # tests and benchmarks
	libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4        # the peers we compare with
	glibc-source                                            # make check-glibc: glibc's malloc tests
	redis-server redis-tools                                # test_redis.sh: a jemalloc program
	lld git                                                 # bench/programs.py, test_programs.sh: multi-threaded programs
	tmux util-linux                                         # test_live.sh: hakmem-ctl top in a terminal, setpriv
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "deps: not root and no sudo; install these packages: ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
