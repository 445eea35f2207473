# The module's pure sources and the nginx core objects they need, built
# outside nginx: included by t/unit/Makefile (the unit tests, gcc) and
# fuzz/Makefile (libFuzzer targets, clang with sanitizers), each with its
# own compiler, flags and $(OUT).
#
# The includer sets TOP, OUT, CC and CFLAGS_ALL (which should have
# $(PURE_INCS)); PURE_CFLAGS is added for the module's sources only (the
# fuzzer's coverage instrumentation).  NGX_BUILD is a configured nginx
# build tree (ngx_auto_config.h, ngx_auto_headers.h); NGX_SRC has nginx's
# headers.  The core .c files come from NGX_SRC when it has them, else
# nginx-src.sh fetches the upstream sources of the same version into
# NGX_CACHE (Debian's nginx-dev has headers only).

NGX_SRC    ?= /usr/share/nginx/src
NGX_BUILD  ?= $(TOP)/build/nginx
NGX_CACHE  ?= $(TOP)/build/nginx-src
PURE_CFLAGS ?=

# the module's pure sources: all of them, in every binary
PURE       := crm_query crm_value crm_cursor crm_sql crm_render crm_schema \
              crm_validate \
              crm_credential crm_fingerprint crm_mime crm_addr crm_track \
              crm_merge crm_campaign crm_sign crm_analytics crm_metrics \
              crm_ratelimit

# nginx's core objects the pure sources need
NGX_CORE   := core/ngx_palloc core/ngx_array core/ngx_list core/ngx_inet \
              core/ngx_string os/unix/ngx_alloc

# GMime 3 and glib (crm_mime.c), as config finds them
GMIME_INCS := $(shell pkg-config --cflags-only-I gmime-3.0)
GMIME_LIBS := $(shell pkg-config --libs gmime-3.0)

PURE_INCS  := -I $(NGX_BUILD) -I $(NGX_SRC)/src/core \
              -I $(NGX_SRC)/src/event -I $(NGX_SRC)/src/event/modules \
              -I $(NGX_SRC)/src/os/unix -I $(TOP)/src $(GMIME_INCS)
PURE_LIBS  := -ljansson -lcrypto $(GMIME_LIBS)

PURE_OBJS  := $(patsubst %,$(OUT)/%.o,$(PURE))
CORE_OBJS  := $(patsubst %,$(OUT)/ngx/%.o,$(NGX_CORE))
STUB_OBJS  := $(OUT)/ngx_stubs.o

$(OUT)/%.o: $(TOP)/src/model/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(PURE_CFLAGS) -MMD -MP -c -o $@ $<

$(OUT)/ngx_stubs.o: $(TOP)/t/unit/ngx_stubs.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

# nginx's own sources, wherever nginx-src.sh finds or puts them
$(OUT)/ngx-src.dir:
	@mkdir -p $(@D)
	sh $(TOP)/t/unit/nginx-src.sh $(NGX_SRC) $(NGX_CACHE) > $@.tmp
	mv $@.tmp $@

$(OUT)/ngx/%.o: $(OUT)/ngx-src.dir
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $$(cat $(OUT)/ngx-src.dir)/src/$*.c

# The dependency files name the sources where they were: after a move of
# the sources (config lists them) they would name files that are gone,
# so they are read only while the stamp is newer than config, and the
# objects start over otherwise.
PURE_FRESH := $(shell test $(OUT)/.config -nt $(TOP)/config && echo yes)

ifeq ($(PURE_FRESH),yes)
-include $(wildcard $(OUT)/*.d)
else
$(shell rm -f $(OUT)/*.o $(OUT)/*.d; mkdir -p $(OUT); touch $(OUT)/.config)
endif
