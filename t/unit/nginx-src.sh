#!/bin/sh
# Prints a directory that holds nginx's own core sources (src/core/*.c,
# src/os/unix/*.c) of the installed nginx's version, for the unit tests
# and the fuzzer, which link the pure parts of the module against the
# real ngx_palloc.c, ngx_array.c, ngx_string.c, ...
#
#   t/unit/nginx-src.sh NGX_SRC CACHE_DIR
#
# NGX_SRC is used as it is when it has the .c files (a full nginx source
# tree).  Debian's nginx-dev ships the headers only: then the upstream
# tarball of the same version is fetched once with apt-get source (from
# Debian's archive, checked by apt against the signed Sources index) and
# unpacked under CACHE_DIR (the whole tree: "make asan" builds an nginx
# from it).  The unit tests still take the headers from NGX_SRC, the ones
# the module is built with.

set -eu

ngx_src=${1:?usage: nginx-src.sh NGX_SRC CACHE_DIR}
cache=${2:?usage: nginx-src.sh NGX_SRC CACHE_DIR}

if [ -f "$ngx_src/src/core/ngx_palloc.c" ] && [ -x "$ngx_src/configure" ]
then
    echo "$ngx_src"
    exit 0
fi

version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"$/\1/p' \
          "$ngx_src/src/core/nginx.h")

if [ -z "$version" ]; then
    echo "nginx-src.sh: no NGINX_VERSION in $ngx_src/src/core/nginx.h" >&2
    exit 1
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
dir=$cache/nginx-$version

if [ -f "$dir/src/core/ngx_palloc.c" ] && [ -x "$dir/configure" ]; then
    echo "$dir"
    exit 0
fi

echo "nginx-src.sh: fetching the sources of nginx $version" >&2

apt=$cache/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"

# deb-src entries for the archives this machine's apt already uses
mkdir -p "$apt/parts"
: > "$apt/sources.list"
if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list \
        > "$apt/sources.list"
fi
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types:.*$/Types: deb-src/' "$f" > "$apt/parts/${f##*/}"
done
for f in /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" > "$apt/parts/${f##*/}"
done

# a private apt state: the system's configuration is left alone
opts="-q -o Dir::Etc::SourceList=$apt/sources.list
      -o Dir::Etc::SourceParts=$apt/parts -o Dir::State::Lists=$apt/lists
      -o Dir::Cache=$apt/cache -o APT::Sandbox::User=$(id -un)"

tarball=nginx_$version.orig.tar.gz

# shellcheck disable=SC2086
# a third-party archive without sources may fail the update: the source
# download below is what counts
apt-get $opts update >&2 || true

if ! (cd "$apt" && apt-get $opts source --download-only --tar-only \
                              nginx >&2) \
   || [ ! -f "$apt/$tarball" ]
then
    echo "nginx-src.sh: cannot fetch $tarball with apt-get source;" \
         "pass NGX_SRC=<a full nginx-$version source tree>" >&2
    exit 1
fi

tar -xzf "$apt/$tarball" -C "$cache"
rm -rf "$apt"

if [ ! -f "$dir/src/core/ngx_palloc.c" ] || [ ! -x "$dir/configure" ]; then
    echo "nginx-src.sh: $tarball has no src/core/ngx_palloc.c" >&2
    exit 1
fi

echo "$dir"
