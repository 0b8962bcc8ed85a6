#!/usr/bin/env bash
# Makes the ELF fixtures the verify tests read; they are checked in, so the
# tests need no compiler. Run once, from this folder, where gcc is installed:
#   bash make.sh
# Each is a shared library with one function, no libc, stripped:
#   dep.so          soname libimagebuild_dep.so.1
#   needs-gone.so   DT_NEEDED libimagebuild_gone.so.1 (a library no image has)
#   needs-dep.so    DT_NEEDED libimagebuild_dep.so.1, RUNPATH $ORIGIN/../ext.libs
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'int imagebuild_probe(void) { return 42; }' >"$tmp/x.c"
cc() {
	gcc -shared -fPIC -nostdlib -s -Wl,--build-id=none -Wl,-z,max-page-size=4096 \
		-Wl,-z,noseparate-code -Wl,--hash-style=gnu -Wl,--no-as-needed "$tmp/x.c" "$@"
}
cc -o "$tmp/libimagebuild_gone.so" -Wl,-soname,libimagebuild_gone.so.1
cc -o dep.so -Wl,-soname,libimagebuild_dep.so.1
cp dep.so "$tmp/libimagebuild_dep.so"
cc -o needs-gone.so -L"$tmp" -limagebuild_gone
cc -o needs-dep.so -L"$tmp" -limagebuild_dep '-Wl,-rpath,$ORIGIN/../ext.libs' -Wl,--enable-new-dtags
