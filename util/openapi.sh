#!/bin/bash
#
# The OpenAPI document (docs/openapi.json) and its checks.
#
#   util/openapi.sh emit FILE   the module writes its document to FILE:
#                               nginx -t with crm_openapi_file (no stack,
#                               no port)
#   util/openapi.sh write       emit docs/openapi.json (make openapi)
#   util/openapi.sh stale       fail when docs/openapi.json is not what
#                               the module emits
#   util/openapi.sh tools       install the npm tools of util/openapi
#                               (pinned by its package-lock.json) when
#                               missing; nothing to fetch once installed
#   util/openapi.sh lint        @redocly/cli lint docs/openapi.json
#   util/openapi.sh validate [SUITES]
#                               run Test::Nginx suites (default
#                               t/010-contacts.t) through Prism's proxy
#                               (@stoplight/prism-cli): every response
#                               must conform to the document
#   util/openapi.sh docs        docs/api.html: Redoc, one static file
#   util/openapi.sh render      docs, then headless Chromium renders
#                               docs/api.html (util/openapi/render.js)
#   util/openapi.sh check       stale, tools, lint, render, validate
#                               (make test)
#
# Environment: NGX_BIN (/usr/sbin/nginx), MODULE (build/...so); validate
# also what make test exports (TEST_NGINX_*), and CRM_TEST_PRISM_PORT
# (default TEST_NGINX_SERVER_PORT + 3); render CHROMIUM (/usr/bin/chromium)
# and RENDER_TIMEOUT (ms per wait, 60000).

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
tools=$top/util/openapi
bin=$tools/node_modules/.bin
work=$top/.run/openapi
ngx_bin=${NGX_BIN:-/usr/sbin/nginx}
module=${MODULE:-$top/build/ngx_http_crm_module.so}

# no telemetry, no update check: the tools run offline
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

die() { echo "openapi: $*" >&2; exit 1; }

emit() {
    local out=$1 dir
    mkdir -p "$work"
    dir=$(mktemp -d "$work/emit.XXXXXX")
    mkdir -p "$dir/logs"
    cat > "$dir/nginx.conf" <<EOF
load_module $module;
error_log stderr error;
pid $dir/nginx.pid;
events {}
http {
    crm_openapi_file $out;
}
EOF
    if ! "$ngx_bin" -q -t -p "$dir/" -c "$dir/nginx.conf"; then
        rm -rf "$dir"
        die "nginx -t could not emit the document"
    fi
    rm -rf "$dir"
}

stale() {
    mkdir -p "$work"
    emit "$work/openapi.json"
    if ! cmp -s "$work/openapi.json" "$top/docs/openapi.json"; then
        diff -u "$top/docs/openapi.json" "$work/openapi.json" | head -20
        die "docs/openapi.json is stale: run make openapi and commit it"
    fi
    echo "openapi: docs/openapi.json is what the module serves"
}

# npm ci only when node_modules is missing or older than the lock file
tools() {
    local stamp=$tools/node_modules/.package-lock.json
    if [ -f "$stamp" ] && [ "$stamp" -nt "$tools/package-lock.json" ] \
       && [ -x "$bin/redocly" ] && [ -x "$bin/prism" ]; then
        return 0
    fi
    command -v npm > /dev/null || die "npm is missing (Debian: npm)"
    echo "openapi: installing the npm tools into util/openapi/node_modules"
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error) \
        || die "npm ci failed"
    touch "$stamp"
}

lint() {
    tools
    mkdir -p "$work"
    if ! (cd "$tools" && "$bin/redocly" lint --config redocly.yaml \
              "$top/docs/openapi.json") > "$work/lint.log" 2>&1; then
        grep -v "^ *[║╔╚]" "$work/lint.log" | tail -60
        die "redocly lint found problems"
    fi
    if grep -q "You have [0-9]* warning" "$work/lint.log"; then
        grep -v "^ *[║╔╚]" "$work/lint.log" | tail -60
        die "redocly lint warns"
    fi
    echo "openapi: redocly lint: valid, no warning"
}

# Prism validates each response against the document and logs a
# violation; requests are not judged (the suites send wrong ones on
# purpose), only responses
validate() {
    local suites=${*:-${OPENAPI_SUITES:-t/010-contacts.t t/120-bulk.t t/200-campaigns.t}}
    local nginx_port=${TEST_NGINX_SERVER_PORT:-1984}
    local port=${CRM_TEST_PRISM_PORT:-$((nginx_port + 3))}
    local log=$work/prism.log pid n m inc i

    tools
    mkdir -p "$work"
    : > "$log"

    # Prism matches a request's path against the paths of the document
    # as they are (servers are not stripped): its copy has every path
    # under each server's, the same operations
    node -e '
        const fs = require("fs");
        const doc = JSON.parse(fs.readFileSync(process.argv[1]));
        const paths = {};
        for (const s of doc.servers)
            for (const p of Object.keys(doc.paths))
                paths[s.url + p] = doc.paths[p];
        doc.paths = paths;
        delete doc.servers;
        fs.writeFileSync(process.argv[2], JSON.stringify(doc));
    ' "$top/docs/openapi.json" "$work/prism.json" \
        || die "cannot prepare the document for prism"

    "$bin/prism" proxy "$work/prism.json" \
        "http://127.0.0.1:$nginx_port" --host 127.0.0.1 --port "$port" \
        --errors=false --validate-request=false > "$log" 2>&1 &
    pid=$!

    for i in $(seq 1 200); do
        if grep -q "Prism is listening" "$log"; then
            break
        fi
        if ! kill -0 "$pid" 2> /dev/null; then
            cat "$log"
            die "prism did not start"
        fi
        sleep 0.1
    done

    if perl -MTest::Nginx::Socket -e1 2> /dev/null; then
        inc="-I t/lib"
    else
        inc="-I t/lib -I t/compat/lib"
    fi

    # the suites' own assertions are not the point here (Prism
    # re-serializes JSON bodies, so byte-exact ones fail): their
    # requests are
    (cd "$top" && TEST_NGINX_CLIENT_PORT=$port prove $inc $suites) \
        > "$work/prove.log" 2>&1

    kill "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null

    n=$(grep -c "Violation: response" "$log")
    if [ "$n" -gt 0 ]; then
        grep -B2 -A3 "Violation: response" "$log" | head -60
        echo "openapi: $n responses do not conform to docs/openapi.json"
        return 1
    fi

    if ! grep -q "Request received" "$log"; then
        die "no request went through prism"
    fi

    # requests of no route (404s, 405s the suites ask for on purpose)
    n=$(grep -c "Violation: request Selected route not found" "$log")
    m=$(grep -c "Request received" "$log")
    if [ "$n" -ge "$m" ]; then
        die "no request matched a route of the document"
    fi

    echo "openapi: $m requests of $suites through prism:" \
         "every response conforms ($n were of no route)"
}

# Redoc's menu ends with "API docs by" and Redocly's logo, an image it
# loads from cdn.redoc.ly once its script runs (no option turns it off):
# the page shows the name as an inline SVG instead, so that opening it
# sends no request anywhere
logo='data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22'
logo+=' width=%2264%22 height=%2216%22%3E%3Ctext x=%220%22 y=%2213%22'
logo+=' font-family=%22sans-serif%22 font-size=%2213%22'
logo+=' fill=%22gray%22%3ERedocly%3C/text%3E%3C/svg%3E'

docs() {
    local html=$top/docs/api.html
    tools
    (cd "$tools" && "$bin/redocly" build-docs "$top/docs/openapi.json" \
        --output "$html" --title "CRM API" --inlineBundle) \
        || die "redocly build-docs failed"
    LOGO=$logo perl -pi -e 's{https://cdn\.redoc\.ly/redoc/logo-mini\S*?\.svg}
                               {$ENV{LOGO}}g' "$html" \
        || die "cannot edit docs/api.html"
    if grep -q -e "cdn\.redoc\.ly/" -e "cdn\.redocly\.com/redoc" "$html"; then
        die "docs/api.html loads Redoc or its logo from the network"
    fi
}

# the page as a browser shows it: headless Chromium (Debian: chromium,
# util/deps.sh installs it), driven by playwright-core, opens
# docs/api.html with no network and checks what Redoc's script renders
# (util/openapi/render.js); no Chromium, no check: it fails
render() {
    local chromium=${CHROMIUM:-/usr/bin/chromium}
    mkdir -p "$work"
    if ! (docs) > "$work/docs.log" 2>&1; then
        grep -v "^ *[║╔╚]" "$work/docs.log" | tail -20
        exit 1
    fi
    if [ ! -x "$chromium" ]; then
        die "$chromium is missing: headless Chromium renders docs/api.html" \
            "(Debian: apt-get install chromium, which util/deps.sh does;" \
            "CHROMIUM=path for another one)"
    fi
    (cd "$tools" && CHROMIUM=$chromium timeout 600 \
        node render.js "$top/docs/api.html" "$top/docs/openapi.json") \
        || die "docs/api.html does not render in headless Chromium"
}

case "${1:-}" in
    emit)     shift; emit "$(realpath -m "$1")" ;;
    write)    emit "$top/docs/openapi.json"
              echo "openapi: docs/openapi.json written" ;;
    stale)    stale ;;
    tools)    tools ;;
    lint)     lint ;;
    validate) shift; validate "$@" ;;
    docs)     docs ;;
    render)   render ;;
    check)    stale && tools && lint && render && validate ;;
    *)        sed -n '3,25p' "$0"; exit 2 ;;
esac
