#!/bin/sh
# test_cxx.sh - hakmem's C++ operators in every way a program gets them, and
# no C++ runtime in the C library:
#
#   1. test_cxx_plain (test/test_cxx.cc built without hakmem) with
#      libhakmem.so in LD_PRELOAD passes; without it, it fails (it looks
#      hakmem up with dlsym: the check has teeth)
#   2. libhakmem.so needs no libstdc++ (readelf -d), its libtool file adds
#      none to a program's link line, it exports the 20 operators (nm -D) and
#      refers to libstdc++'s std::get_new_handler and std::__throw_bad_alloc
#      only weakly
#   3. a C program linked with libhakmem (test_api) needs libhakmem and
#      no libstdc++
#   4. libhakmem.a holds the operators; test_cxx_static needs no
#      libhakmem.so and exports its own operators (so libstdc++'s calls reach
#      them); test_cxx_asneeded, linked with -Wl,--as-needed, still needs
#      libhakmem.so (only the operators tie it there)
. "${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}/test/preload_common.sh"

B=$abs_top_builddir
command -v readelf >/dev/null 2>&1 || skip "readelf (Debian package binutils) is needed"
command -v nm >/dev/null 2>&1 || skip "nm (Debian package binutils) is needed"
nfail=0
bad() { echo "FAIL: $*" >&2; nfail=$((nfail + 1)); }

# The ELF file of a program libtool may have wrapped in a script.
elf_of() {
	for f in "$B/test/.libs/$1" "$B/test/.libs/lt-$1" "$B/test/$1"; do
		if [ -f "$f" ] && [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

OPERATORS='_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t
_ZnamSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t
_ZdlPv _ZdaPv _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZdlPvm _ZdaPvm
_ZdlPvSt11align_val_t _ZdaPvSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t
_ZdaPvSt11align_val_tRKSt9nothrow_t _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t'

# ---- 1. LD_PRELOAD ----------------------------------------------------------
plain=$B/test/test_cxx_plain
[ -x "$plain" ] || fail "no $plain"
if timeout 300 env LD_PRELOAD="$LIBHAKMEM" "$plain" >"$TMPD/preload.out" 2>&1; then
	echo "preloaded: $(tail -n 1 "$TMPD/preload.out")"
else
	bad "test_cxx_plain under LD_PRELOAD:"
	grep -v '^pass' "$TMPD/preload.out" | head -40 >&2
fi
if timeout 300 "$plain" >"$TMPD/nopreload.out" 2>&1; then
	bad "test_cxx_plain passed without hakmem: its checks would not see a missing operator"
else
	echo "without hakmem: fails as it must ($(head -n 1 "$TMPD/nopreload.out"))"
fi

# ---- 2. the shared library ----------------------------------------------------
so=$(readlink -f "$LIBHAKMEM")
if needed "$so" | grep -q 'stdc++'; then
	bad "libhakmem.so needs libstdc++: $(needed "$so" | tr '\n' ' ')"
fi
if grep -q 'stdc++' "$B/libhakmem.la"; then
	bad "libhakmem.la adds libstdc++ to its users' link: $(grep dependency_libs "$B/libhakmem.la")"
fi
nm -D --defined-only "$so" >"$TMPD/so.syms"
for op in $OPERATORS; do
	grep -q " T $op\$" "$TMPD/so.syms" || bad "libhakmem.so does not export $op"
done
nm -D --undefined-only "$so" >"$TMPD/so.undef"
for ref in _ZSt15get_new_handlerv _ZSt17__throw_bad_allocv; do
	grep -q " w $ref\$" "$TMPD/so.undef" || bad "libhakmem.so: $ref is not a weak reference: $(grep "$ref" "$TMPD/so.undef")"
done
if grep -v ' w ' "$TMPD/so.undef" | grep -q ' _Z'; then
	bad "libhakmem.so refers to C++ symbols: $(grep -v ' w ' "$TMPD/so.undef" | grep ' _Z' | head -5 | tr '\n' ' ')"
fi
echo "libhakmem.so: needs $(needed "$so" | tr '\n' ' '); exports the 20 operators"

# ---- 3. a C program -------------------------------------------------------------
cprog=$(elf_of test_api) || fail "no test_api program"
if needed "$cprog" | grep -q 'stdc++'; then
	bad "C program $cprog needs libstdc++: $(needed "$cprog" | tr '\n' ' ')"
fi
needed "$cprog" | grep -q '^libhakmem\.so' || bad "C program $cprog does not need libhakmem.so"
echo "C program: needs $(needed "$cprog" | tr '\n' ' ')"

# ---- 4. static and --as-needed links -------------------------------------------
a=$B/.libs/libhakmem.a
if [ -f "$a" ]; then
	nm "$a" 2>/dev/null >"$TMPD/a.syms"
	for op in $OPERATORS; do
		grep -q " T $op\$" "$TMPD/a.syms" || bad "libhakmem.a does not define $op"
	done
	st=$(elf_of test_cxx_static) || fail "no test_cxx_static program"
	if needed "$st" | grep -q '^libhakmem'; then
		bad "test_cxx_static needs $(needed "$st" | grep hakmem): not linked from the archive"
	fi
	nm -D --defined-only "$st" >"$TMPD/st.syms"
	for op in _Znwm _ZdlPv _ZdlPvm _ZnwmSt11align_val_t; do
		grep -q " T $op\$" "$TMPD/st.syms" || bad "test_cxx_static does not export $op"
	done
	echo "static: libhakmem.a defines the operators; the program exports them and needs $(needed "$st" | tr '\n' ' ')"
else
	echo "no libhakmem.a (built with --disable-static): static checks skipped"
fi
an=$(elf_of test_cxx_asneeded) || fail "no test_cxx_asneeded program"
needed "$an" | grep -q '^libhakmem\.so' ||
	bad "test_cxx_asneeded (-Wl,--as-needed) lost libhakmem.so: needs $(needed "$an" | tr '\n' ' ')"
echo "--as-needed: needs $(needed "$an" | tr '\n' ' ')"

[ "$nfail" -eq 0 ] || exit 1
echo "test_cxx.sh: PASS"
