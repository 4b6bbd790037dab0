# sailsync: one plain Makefile.  `make`, `make check`, `make demo`,
# `make bench`, `make install PREFIX=... DESTDIR=...`.
# Objects of each flag set live in their own build directory, so a
# sanitizer build never mixes with a plain one.

CC	?= cc
PREFIX	?= /usr/local
SYSCONFDIR ?= /etc
OPT	?= -O2 -g
SANITIZE ?=

comma	:= ,
# The plain build is build/default; another compiler or sanitizers get a
# directory of their own (build/clang, build/san-address-undefined, ...).
ifeq ($(CC),cc)
B	:= build/default
else
B	:= build/$(notdir $(CC))
endif
ifneq ($(strip $(SANITIZE)),)
B	:= $(patsubst build/default-%,build/%,$(B)-san-$(subst $(comma),-,$(SANITIZE)))
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
SANFLAGS :=
endif

WARN	:= -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Wvla
DEFS	:= -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
PKGS	:= libzmq msgpack lmdb libcurl jansson openssl libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lm
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)

ALL_CFLAGS = $(WARN) $(DEFS) $(OPT) $(SANFLAGS) $(PKG_CFLAGS) $(MHD_CFLAGS) \
	     -Icommon -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

PROCS	:= fetcher mapper writer exporter
PROC_INC := $(foreach p,$(PROCS),-I$(p))

COMMON_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard common/*.c))
SIM_OBJ	   := $(patsubst %.c,$(B)/%.o,$(wildcard tests/sim/*.c))
TOOLS	   := $(patsubst tests/tools/%.c,$(B)/bin/%,$(wildcard tests/tools/*.c))
UNIT	   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/t_*.c))
PROC_LIBS  := $(foreach p,$(PROCS),$(B)/lib$(p).a)
BINS	   := $(foreach p,$(PROCS),$(B)/bin/sailsync-$(p))

all: $(BINS) $(B)/bin/sailthru-sim $(TOOLS) $(UNIT)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libcommon.a: $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Each process: main.c only wires things; the rest is lib<proc>.a so that
# unit tests can link the logic.
define proc_rules
$(1)_OBJ := $$(patsubst %.c,$$(B)/%.o,$$(filter-out $(1)/main.c,$$(wildcard $(1)/*.c)))
$$(B)/lib$(1).a: $$($(1)_OBJ)
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
$$(B)/bin/sailsync-$(1): $$(B)/$(1)/main.o $$(B)/lib$(1).a $$(B)/libcommon.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(PKG_LIBS)
endef
$(foreach p,$(PROCS),$(eval $(call proc_rules,$(p))))

$(B)/bin/sailthru-sim: $(SIM_OBJ) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MHD_LIBS) $(PKG_LIBS)

$(B)/bin/%: tests/tools/%.c $(PROC_LIBS) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PROC_INC) $(ALL_LDFLAGS) -o $@ $< $(PROC_LIBS) $(B)/libcommon.a $(PKG_LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/tap.h $(PROC_LIBS) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PROC_INC) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(PROC_LIBS) $(B)/libcommon.a $(PKG_LIBS)

# Dependencies come from Debian; deploy/deps.sh installs what is missing.
deps:
	@sh deploy/deps.sh

# The targets below run deps first, then re-enter make so that pkg-config
# sees freshly installed packages.
check: deps
	@$(MAKE) --no-print-directory check-run

# Under SANITIZE, every process the suite starts (the daemons too, whose
# stderr no test reads, and those that exit by a path no test checks)
# writes its sanitizer reports into $(SANREPORTS); any report fails the
# run, even when every test passed.
ifneq ($(strip $(SANITIZE)),)
SANREPORTS := $(CURDIR)/$(B)/sanitizer-reports
SANENV	:= ASAN_OPTIONS=log_path=$(SANREPORTS)/asan:detect_leaks=1 \
	   UBSAN_OPTIONS=log_path=$(SANREPORTS)/ubsan:print_stacktrace=1
SANPREP	:= rm -rf $(SANREPORTS) && mkdir -p $(SANREPORTS) &&
SANCHECK := if [ -n "$$(ls -A $(SANREPORTS))" ]; then \
	      cat $(SANREPORTS)/*; \
	      echo "sanitizers: $$(ls $(SANREPORTS) | wc -l) report(s) in $(SANREPORTS)"; \
	      exit 1; \
	    fi;
endif

check-run: all check-headers
	@$(SANPREP) $(SANENV) SAILSYNC_BIN=$(CURDIR)/$(B)/bin SAILSYNC_TOP=$(CURDIR) \
	  prove --exec '' $(PROVEFLAGS) $(UNIT) $(sort $(wildcard tests/t/[0-9]*.sh)); \
	rc=$$?; $(SANCHECK) exit $$rc

# Every header compiles on its own, before anything else includes it.
HEADERS	:= $(wildcard common/*.h $(foreach p,$(PROCS),$(p)/*.h))
check-headers:
	@for h in $(HEADERS); do \
	  echo "#include \"$$h\"" | $(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) \
	    $(PROC_INC) -I. -fsyntax-only -x c - || { echo "$$h does not compile alone"; exit 1; }; \
	done

demo: deps
	@$(MAKE) --no-print-directory all
	@SAILSYNC_BIN=$(CURDIR)/$(B)/bin sh deploy/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@SAILSYNC_BIN=$(CURDIR)/$(B)/bin sh tests/bench/run.sh $(BENCHFLAGS)
	@SAILSYNC_BIN=$(CURDIR)/$(B)/bin sh tests/bench/export.sh $(EXPORTBENCHFLAGS)

install: $(BINS)
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/sailsync
	for b in $(BINS); do install -m 0755 $$b $(DESTDIR)$(PREFIX)/bin/; done
	install -m 0755 deploy/sailsync $(DESTDIR)$(PREFIX)/bin/sailsync
	install -m 0644 deploy/sailsync.json $(DESTDIR)$(PREFIX)/share/sailsync/sailsync.example.json
	mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d
	# The units name the binaries under PREFIX and the configuration
	# under SYSCONFDIR.
	for u in deploy/systemd/*; do \
		sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' \
		    -e 's|/etc/sailsync/|$(SYSCONFDIR)/sailsync/|g' $$u \
		    >$(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u) && \
		chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u) || exit 1; \
	done
	install -m 0644 deploy/sysusers.d/sailsync.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/
	sh deploy/install-config.sh $(DESTDIR)$(SYSCONFDIR)/sailsync

clean:
	rm -rf build

.PHONY: all deps check check-run check-headers demo bench install clean
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
