# ngx_http_crm_module
#
#   make          build build/ngx_http_crm_module.so against Debian's nginx
#   make run      install what is missing, build, start PostgreSQL, Redis,
#                 the SMTP sink (every message sent is kept as a file in
#                 .run/run/mail/) and nginx under .run/run/, print a demo
#                 key and a curl line; says what it does at each step and
#                 how long it took
#   make stop     stop what "make run" started
#   make status   what is running, for make run and make test
#   make test     the same stack on other ports under .run/test/ (no
#                 long-running nginx: the tests start their own), an empty
#                 database, an empty SMTP sink, then the unit tests, the
#                 SQL function tests (t/sql), the SMTP sink's self-test
#                 (t/smtp), the Debian package (t/deb: built, installed
#                 into the system's nginx, nginx -t, removed), make fuzz
#                 and the Test::Nginx suites (a failure of any fails make
#                 test);
#                 one file: make test T=t/010-contacts.t;
#                 keep PostgreSQL and Redis up afterwards: make test KEEP=1;
#                 more prove options: make test PROVE_FLAGS=-v
#   make unit     C unit tests of the pure parts (TAP, prove)
#   make layers   the layering check (also part of make test): includes
#                 point down the layers of src/, no include or call cycle
#   make directives  every directive of the commands table is in the
#                 README in nginx's form, with its context and an example,
#                 and every example passes nginx -t with the module, wrapped
#                 in its context (util/directives.pl; also part of make
#                 test)
#   make openapi  write docs/openapi.json, the OpenAPI 3.1 document the
#                 module serves at /openapi.json (nginx -t with
#                 crm_openapi_file: no stack needed); make test fails
#                 when the committed one is stale, lints it with
#                 @redocly/cli and runs t/010-contacts.t through Prism's
#                 validating proxy (npm tools pinned in util/openapi,
#                 installed there on first use)
#   make docs     docs/api.html: the document as a Redoc page (one
#                 static file, no request to the network); make test
#                 renders it in headless Chromium (util/openapi/render.js)
#   make fuzz     build every libFuzzer target of fuzz/ (the parsers: query
#                 string, JSON bodies, cursors, credentials, idempotency
#                 fingerprint) with clang, AddressSanitizer and
#                 UndefinedBehaviorSanitizer, and run each for FUZZ_SECONDS
#                 (5) on its seeds; any crash, leak or undefined behaviour
#                 fails it (longer runs: make -C fuzz run, see fuzz/README)
#   make asan     the Test::Nginx suites (T=... as for make test) against
#                 an nginx and module built with AddressSanitizer and
#                 NGX_DEBUG_PALLOC (pool overruns become ASan errors)
#   make seed N=1000000  fill a workspace of the make-run stack with N
#                 contacts (default 100000; and companies, deals, leads,
#                 activities) for bench/scale.sh, emptied first on every
#                 run; prints its API key, the time of each table and,
#                 while a table fills, rows/s, percent and time left
#   make deb      build/libnginx-mod-http-crm_<version>_<arch>.deb, built
#                 the way Debian builds its nginx modules (util/deb.sh,
#                 packaging in util/debian/; lintian errors fail it);
#                 make test installs it into the system's nginx and
#                 removes it again (t/deb/run.sh, as root)
#   make distclean  clean, stop both stacks and delete .run/
#
# Ports (127.0.0.1 only), from the environment or the command line:
#   make run:   CRM_HTTP_PORT=8080 CRM_PG_PORT=54320 CRM_REDIS_PORT=63790
#               CRM_SMTP_PORT=2525
#   make test:  TEST_NGINX_SERVER_PORT=1984 CRM_TEST_PG_PORT=54321
#               CRM_TEST_REDIS_PORT=63791 CRM_TEST_SMTP_PORT=25871
#               [CRM_TEST_HOOK_PORT=TEST_NGINX_SERVER_PORT+2]

SHELL      := /bin/bash
TOP        := $(abspath .)
NGX_SRC    ?= /usr/share/nginx/src
NGX_BIN    ?= /usr/sbin/nginx
BUILD      := $(TOP)/build
NGX_BUILD  := $(BUILD)/nginx
MODULE     := $(BUILD)/ngx_http_crm_module.so
CC_OPT     ?= -g -O2 -fPIC -Wall -Wextra -Wno-unused-parameter

SOURCES    := config ngx_http_crm_module.c $(wildcard src/*.[ch] src/*/*.[ch])

# make test
T          ?=
KEEP       ?=
PROVE_FLAGS ?=
TEST_PG_PORT    := $(or $(CRM_TEST_PG_PORT),54321)
TEST_REDIS_PORT := $(or $(CRM_TEST_REDIS_PORT),63791)
TEST_HTTP_PORT  := $(or $(TEST_NGINX_SERVER_PORT),1984)
TEST_SMTP_PORT  := $(or $(CRM_TEST_SMTP_PORT),25871)
# the webhook receiver of the suites (t/191, t/192): empty is
# TEST_NGINX_SERVER_PORT + 2 (CRM::Test::hook_port())
TEST_HOOK_PORT  := $(CRM_TEST_HOOK_PORT)
# the test DNS server of t/193: empty is TEST_NGINX_SERVER_PORT + 53
# (CRM::Test::dns_port())
TEST_DNS_PORT   := $(CRM_TEST_DNS_PORT)

.PHONY: all deps configure run stop seed status test test-locked unit fuzz layers \
        directives deb openapi docs \
        clean distclean bench asan

all: $(MODULE)

deps:
	@util/deps.sh

$(NGX_BUILD)/Makefile: config
	@util/deps.sh
	rm -rf $(NGX_BUILD)
	mkdir -p $(NGX_BUILD)
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    --with-cc-opt="$(CC_OPT)" --with-ld-opt="-fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(TOP) --builddir=$(NGX_BUILD) \
	    > $(BUILD)/configure.log 2>&1 \
	    || { tail -30 $(BUILD)/configure.log; exit 1; }

configure: $(NGX_BUILD)/Makefile

# copied by rename, never in place: a running nginx has the old file
# mapped, and overwriting it would crash its workers
$(MODULE): $(NGX_BUILD)/Makefile $(SOURCES)
	$(MAKE) -s -f $(NGX_BUILD)/Makefile -C $(NGX_SRC) modules
	cp $(NGX_BUILD)/ngx_http_crm_module.so $(MODULE).new
	mv -f $(MODULE).new $(MODULE)

# includes point down the layers, no include or call cycle (docs/DESIGN.md)
layers: $(MODULE)
	@perl util/layers.pl -o $(NGX_BUILD) .

directives: $(MODULE)
	@perl util/directives.pl --nginx $(NGX_BIN) --module $(MODULE) .

openapi: $(MODULE)
	@NGX_BIN=$(NGX_BIN) MODULE=$(MODULE) util/openapi.sh write

docs: $(MODULE)
	@NGX_BIN=$(NGX_BIN) MODULE=$(MODULE) util/openapi.sh docs

unit: $(NGX_BUILD)/Makefile
	$(MAKE) -s -C t/unit NGX_SRC=$(NGX_SRC) NGX_BUILD=$(NGX_BUILD)
	prove t/unit/run.sh

FUZZ_SECONDS ?= 5

fuzz: $(NGX_BUILD)/Makefile
	$(MAKE) -s -C fuzz check NGX_SRC=$(NGX_SRC) NGX_BUILD=$(NGX_BUILD) \
	    FUZZ_SECONDS=$(FUZZ_SECONDS)

# ---- Debian package -------------------------------------------------------

deb:
	@util/deps.sh
	@util/deb.sh

# ---- local stack ----------------------------------------------------------

# each step says what it does and how long it took (step of util/lib.sh)
run:
	@. util/lib.sh; export STEP_PREFIX="make run"; start=$$(clock_ms); \
	step "Debian packages (util/deps.sh)" util/deps.sh && \
	step "the module (make all)" $(MAKE) -s all && \
	util/stack.sh run up && \
	echo "make run: ready in $$(fmt_ms $$(( $$(clock_ms) - start )))"

stop:
	@util/stack.sh run down

N ?= 100000

seed:
	@util/deps.sh
	@$(MAKE) -s all
	@util/seed.sh $(N)

status:
	@echo "make run:";  util/stack.sh run status
	@echo "make test:"; util/stack.sh test status

# ---- tests ----------------------------------------------------------------

# what the Test::Nginx suites get (t/lib reads these)
TEST_TARGETS := test test-locked
$(TEST_TARGETS): export TEST_NGINX_BINARY      := $(NGX_BIN)
$(TEST_TARGETS): export TEST_NGINX_LOAD_MODULES := $(MODULE)
$(TEST_TARGETS): export TEST_NGINX_SERVROOT    := $(TOP)/t/servroot
$(TEST_TARGETS): export TEST_NGINX_SERVER_PORT := $(TEST_HTTP_PORT)
$(TEST_TARGETS): export TEST_NGINX_PG_PORT     := $(TEST_PG_PORT)
$(TEST_TARGETS): export TEST_NGINX_PG_DB       := crm_test
$(TEST_TARGETS): export TEST_NGINX_PG_USER     := crm
$(TEST_TARGETS): export TEST_NGINX_PG_DSN      := host=127.0.0.1 port=$(TEST_PG_PORT) dbname=crm_test user=crm
$(TEST_TARGETS): export TEST_NGINX_REDIS_PORT  := $(TEST_REDIS_PORT)
$(TEST_TARGETS): export TEST_NGINX_SMTP_PORT   := $(TEST_SMTP_PORT)
$(TEST_TARGETS): export TEST_NGINX_SMTP_DIR    := $(TOP)/.run/test/mail
$(TEST_TARGETS): export TEST_NGINX_CRM_STACK   := $(TOP)/util/stack.sh test
$(TEST_TARGETS): export CRM_TEST_PG_PORT       := $(TEST_PG_PORT)
$(TEST_TARGETS): export CRM_TEST_REDIS_PORT    := $(TEST_REDIS_PORT)
$(TEST_TARGETS): export CRM_TEST_SMTP_PORT     := $(TEST_SMTP_PORT)
$(TEST_TARGETS): export CRM_TEST_HOOK_PORT     := $(TEST_HOOK_PORT)
$(TEST_TARGETS): export CRM_TEST_DNS_PORT      := $(TEST_DNS_PORT)

# one "make test" at a time per checkout: they share .run/test/
test:
	@util/deps.sh
	@$(MAKE) -s all
	@mkdir -p .run; \
	if ! flock -n .run/test.lock true; then \
	    echo "make test: waiting for the other make test in this checkout"; \
	fi; \
	flock -o .run/test.lock $(MAKE) -s test-locked

test-locked:
	@util/stack.sh test reset-db > /dev/null
	@status=0; \
	if [ -z "$(T)" ]; then \
	    if [ -f t/unit/Makefile ]; then \
	        make -s unit || status=1; \
	    else \
	        echo "make test: no t/unit/Makefile yet, unit tests skipped"; \
	    fi; \
	    prove t/sql/run.sh || status=1; \
	    prove t/smtp/run.sh || status=1; \
	    prove t/deb/run.sh || status=1; \
	    perl util/layers.pl -o $(NGX_BUILD) . || status=1; \
	    perl util/directives.pl --nginx $(NGX_BIN) --module $(MODULE) . \
	        || status=1; \
	    NGX_BIN=$(NGX_BIN) MODULE=$(MODULE) util/openapi.sh check \
	        || status=1; \
	    make -s fuzz || status=1; \
	fi; \
	if perl -MTest::Nginx::Socket -e1 2>/dev/null; then \
	    inc="-I t/lib"; \
	else \
	    inc="-I t/lib -I t/compat/lib"; \
	fi; \
	mkdir -p $(TOP)/.run; \
	prove $(PROVE_FLAGS) $$inc -r $(or $(T),t/) 2>&1 \
	    | tee $(TOP)/.run/prove.log; \
	[ $${PIPESTATUS[0]} -eq 0 ] || status=1; \
	if grep -E '^WARNING: .* \[(alert|crit|emerg)\] ' \
	        $(TOP)/.run/prove.log > /dev/null; then \
	    echo "make test: an [alert], [crit] or [emerg] in an error log" \
	         "that no block names (the WARNING lines above)"; \
	    status=1; \
	fi; \
	if [ -n "$(ASAN)" ] && ls $(ASAN_LOGS)/asan.* > /dev/null 2>&1; then \
	    echo "make asan: AddressSanitizer reports in $(ASAN_LOGS):"; \
	    head -40 $(ASAN_LOGS)/asan.*; status=1; \
	fi; \
	if [ -z "$(KEEP)" ]; then util/stack.sh test down || status=1; fi; \
	exit $$status

# the suites against nginx + module built with AddressSanitizer; leaks are
# not reported (nginx leaves its pools to exit), nor the ODR "violation"
# of ngx_module_names that every dynamic module defines again
ASAN_LOGS := $(TOP)/.run/asan

asan:
	@util/deps.sh
	@util/asan.sh > /dev/null
	@rm -rf $(ASAN_LOGS); mkdir -p $(ASAN_LOGS)
	@flock -o .run/test.lock $(MAKE) -s test-locked ASAN=1 \
	    NGX_BIN=$(BUILD)/asan/nginx \
	    MODULE=$(BUILD)/asan/ngx_http_crm_module.so \
	    ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:log_path=$(ASAN_LOGS)/asan

clean:
	rm -rf $(BUILD)

distclean: clean
	@util/stack.sh run wipe
	@util/stack.sh test wipe
	rm -rf .run t/servroot
