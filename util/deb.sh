#!/usr/bin/env bash
# util/deb.sh: make deb.  Builds the Debian package of the module,
#
#   build/libnginx-mod-http-crm_<version>_<arch>.deb
#
# the way Debian 12 builds its libnginx-mod-* packages: the packaging
# is util/debian/ (the version is the one of util/debian/changelog); a
# build tree is assembled in build/deb/ from the sources, util/debian/
# as its debian/, and dpkg-buildpackage -b builds it there with
# dh-sequence-nginx (Debian's nginx source configured with the module
# as a dynamic module and the build flags of dpkg-buildflags, hardening
# on; dh_auto_test has nginx load it; dh_nginx writes mod-http-crm.conf
# and the maintainer scripts that link it into modules-enabled).
# lintian then checks the package: an error fails the build, warnings
# are printed.  The log of the build is build/deb/build.log.
#
# Nothing is done when the .deb is newer than every file it is made of
# (DEB_FORCE=1 builds anyway).  Prints the path of the .deb last.
#
# Needs the Debian packages debhelper, dpkg-dev, nginx-dev (dh_nginx)
# and lintian (util/deps.sh installs them); LINTIAN=0 skips lintian.

set -euo pipefail

# shellcheck source=util/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STEP_PREFIX="make deb"
NAME=libnginx-mod-http-crm

# what the package is made of, relative to the top of the checkout
INPUTS=(config ngx_http_crm_module.c src sql util/debian util/migrate.sh
        util/lib.sh README nginx.conf.example docs)

cd "$TOP"
for t in dpkg-buildpackage dpkg-parsechangelog dh dh_nginx; do
    command -v "$t" > /dev/null \
        || die "$t is missing: util/deps.sh installs it (as root)"
done

VERSION=$(dpkg-parsechangelog -l util/debian/changelog -S Version)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
DEB=$TOP/build/${NAME}_${VERSION}_${ARCH}.deb
TREE=$TOP/build/deb
SRC=$TREE/$NAME-${VERSION%-*}

if [ -z "${DEB_FORCE:-}" ] && [ -s "$DEB" ] \
   && [ -z "$(find "${INPUTS[@]}" -newer "$DEB" -print -quit)" ]; then
    echo "make deb: up to date"
    echo "$DEB"
    exit 0
fi

# the build tree: the sources and util/debian as debian/
assemble() {
    rm -rf "$TREE"
    mkdir -p "$SRC"
    cp -a --parents "${INPUTS[@]}" "$SRC/"
    rm -rf "$SRC/util/debian"
    cp -a util/debian "$SRC/debian"
}

# binary packages only (-b), unsigned; in parallel as far as the
# machine goes (-J: DEB_BUILD_OPTIONS=parallel=N)
build() {
    (cd "$SRC" && dpkg-buildpackage -b -us -uc -J) > "$TREE/build.log" 2>&1 \
        || { tail -n 40 "$TREE/build.log"; exit 1; }
}

# lintian's advice against running it as root is left out
check() {
    local rc=0
    lintian --fail-on error --display-info --color never \
        "$TREE/${NAME}_${VERSION}_${ARCH}.deb" > "$TREE/lintian.log" 2>&1 \
        || rc=$?
    grep -v '^running with root privileges' "$TREE/lintian.log" || true
    return "$rc"
}

mkdir -p build
step "assembling the build tree in build/deb/" assemble
step "dpkg-buildpackage -b (dh-sequence-nginx; log: build/deb/build.log)" \
    build
if [ "${LINTIAN:-1}" != 0 ]; then
    command -v lintian > /dev/null \
        || die "lintian is missing: util/deps.sh installs it (as root)"
    step "lintian" check
fi
cp "$TREE/${NAME}_${VERSION}_${ARCH}.deb" "$DEB.new"
mv -f "$DEB.new" "$DEB"
echo "$DEB"
