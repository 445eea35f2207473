#!/usr/bin/env bash
# util/asan.sh: nginx and the module built with AddressSanitizer, for
# "make asan" (the whole suite against them).
#
# The nginx is the upstream source of the installed version (fetched once
# by t/unit/nginx-src.sh) configured with --with-debug and
# NGX_DEBUG_PALLOC, which makes every pool allocation a malloc() of its
# own: an overrun of memory from ngx_palloc() is then a heap-buffer-
# overflow that ASan reports, where the stock build (and valgrind on it)
# sees nothing, the pool being one block.  Output under build/asan/:
#   nginx                       the binary
#   ngx_http_crm_module.so      the module, built with the same flags
# Prints the directory.

set -euo pipefail

# shellcheck source=util/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NGX_HEADERS=${NGX_SRC:-/usr/share/nginx/src}
OUT=$TOP/build/asan
FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address -DNGX_DEBUG_PALLOC=1"

src=$(sh "$TOP/t/unit/nginx-src.sh" "$NGX_HEADERS" "$TOP/build/nginx-src")

# the modules the suites use besides the module (t/000's sub_filter,
# t/160's stub_status)
ARGS=(--builddir="$OUT" --prefix="$OUT/prefix" --with-debug --with-threads
      --with-http_sub_module --with-http_stub_status_module
      --with-cc-opt="$FLAGS" --with-ld-opt="-fsanitize=address"
      --add-dynamic-module="$TOP")

# again when the module's config (its sources and headers) changed
if [ ! -f "$OUT/Makefile" ] \
   || [ "$(cat "$OUT/configure.args" 2>/dev/null)" != "${ARGS[*]}" ] \
   || [ "$TOP/config" -nt "$OUT/Makefile" ]
then
    rm -rf "$OUT"
    mkdir -p "$OUT"
    echo "asan: configuring nginx ($src) into $OUT" >&2
    (cd "$src" && ./configure "${ARGS[@]}" > "$OUT/configure.log" 2>&1) \
        || { tail -30 "$OUT/configure.log" >&2; rm -f "$OUT/Makefile";
             die "configure failed (see $OUT/configure.log)"; }
    echo "${ARGS[*]}" > "$OUT/configure.args"
fi

echo "asan: building" >&2
make -s -f "$OUT/Makefile" -C "$src" build modules > "$OUT/make.log" 2>&1 \
    || { tail -30 "$OUT/make.log" >&2; die "build failed (see $OUT/make.log)"; }

echo "$OUT"
