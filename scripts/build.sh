#!/usr/bin/env bash
# Configures and builds hakmem in ./build (out of tree). Prints nothing but
# errors unless VERBOSE=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p build
cd build
if [ ! -f Makefile ]; then
	../configure --prefix="$top/build/_inst" >/dev/null
fi
make -j"$(nproc)" >/dev/null
