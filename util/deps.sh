#!/usr/bin/env bash
# Installs the Debian packages the build, the local stack and the tests
# need.  As root it runs apt-get; otherwise it says what is missing.

set -euo pipefail

pkgs=(gcc make perl clang-14 libclang-rt-14-dev
      nginx nginx-dev libpq-dev libjansson-dev libhiredis-dev libssl-dev
      pkg-config libgmime-3.0-dev python3-aiosmtpd libcurl4-openssl-dev
      postgresql postgresql-contrib redis-server wrk curl openssl
      ca-certificates
      libtest-base-perl libtext-diff-perl liblist-moreutils-perl
      libtest-longstring-perl liburi-perl libwww-perl libipc-run-perl
      libjson-pp-perl prometheus
      debhelper dpkg-dev lintian
      chromium)
# chromium: make test opens docs/api.html in it, headless
# (util/openapi.sh render); about 120 MB to fetch, half a minute

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# keep the packaged services from starting on the default ports (the
# local stack runs its own, see util/stack.sh); a policy-rc.d that is
# already there belongs to the administrator and is left alone
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# util/deps.sh: temporary\nexit 101\n' \
        > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
