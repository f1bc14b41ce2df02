#!/bin/sh
# man_render.sh - doc/hakmem.3 renders as prose: the words of a sentence that
# follows a macro line stay apart ("cfree), so that linking", not
# "cfree),sothatlinking"). Needs groff (Debian package groff-base); without
# it the test is skipped.
abs_top_srcdir=${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}
page=$abs_top_srcdir/doc/hakmem.3
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$page" ] || fail "no $page"
command -v groff >/dev/null 2>&1 || { echo "SKIP: groff (groff-base) is not installed" >&2; exit 77; }
# Plain text (no overstrike, no SGR), lines long enough that no sentence is
# hyphenated, whitespace folded to single spaces.
text=$(groff -man -Tascii -P-cbou -rLL=250n "$page" 2>/dev/null | tr -s ' \n\t' '   ') ||
	fail "groff failed on $page"
[ -n "$text" ] || fail "groff rendered nothing"
rc=0
case $text in
*"so that linking"*) echo "ok: renders \"so that linking\"" ;;
*) echo "FAIL: doc/hakmem.3 does not render \"so that linking\"" >&2; rc=1 ;;
esac
case $text in
*sothatlinking*)
	echo "FAIL: doc/hakmem.3 renders words glued together:" >&2
	printf '%s\n' "$text" | tr ' ' '\n' | grep sothatlinking | head -3 >&2
	rc=1 ;;
esac
[ $rc -eq 0 ] && echo "doc/hakmem.3 renders cleanly"
exit $rc
