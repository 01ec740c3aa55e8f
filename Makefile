# cangate: see README.md. `make`, `make check`, `make demo` install missing
# Debian packages first (scripts/install-deps).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share/cangate
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d

CC ?= cc
CFLAGS ?= -O2 -g
FUZZ_SECONDS ?= 60
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wwrite-strings
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

ifdef SANITIZE
BUILD ?= build-san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD ?= build
SANFLAGS :=
endif

PKGS := libsodium libsystemd inih libsocketcan zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

override CFLAGS += -std=gnu11 $(WARNINGS) -fstack-protector-strong \
	-D_FORTIFY_SOURCE=2 -DCANGATE_VERSION='"$(VERSION)"' -I. $(SANFLAGS) -MMD -MP
override LDFLAGS += $(SANFLAGS)

DBC_SRCS := $(wildcard dbc/*.c)
# daemon/core: pure modules both binaries share (no libev, no logging);
# daemon/: the live daemon; daemon/cli: the cangate command.
CORE_SRCS := $(wildcard daemon/core/*.c)
DAEMON_SRCS := $(filter-out daemon/cangated.c,$(wildcard daemon/*.c))
CLI_SRCS := $(filter-out daemon/cli/cangate.c,$(wildcard daemon/cli/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

DBC_OBJS := $(DBC_SRCS:%.c=$(BUILD)/%.o)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
BINS := $(BUILD)/cangated $(BUILD)/cangate

.PHONY: all deps check unit integration corpus bench fuzz fuzz-smoke demo \
	install uninstall clean cli core-purity

all: deps
	@$(MAKE) --no-print-directory $(BINS)

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/libdbc.a: $(DBC_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libcore.a: $(CORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libdaemon.a: $(DAEMON_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libcli.a: $(CLI_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

LIBS_ALL := $(BUILD)/libcli.a $(BUILD)/libdaemon.a $(BUILD)/libcore.a \
	$(BUILD)/libdbc.a

$(BUILD)/cangated: $(BUILD)/daemon/cangated.o $(BUILD)/libdaemon.a \
		$(BUILD)/libcore.a $(BUILD)/libdbc.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# ncurses (cangate monitor) goes into cangate only, never into the daemon.
CURSES_LIBS = $(shell pkg-config --libs ncurses 2>/dev/null || echo -lncurses)

$(BUILD)/cangate: $(BUILD)/daemon/cli/cangate.o $(BUILD)/libcli.a \
		$(BUILD)/libcore.a $(BUILD)/libdbc.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CURSES_LIBS)

# The core stays pure: no libev (ev_*) and no daemon log (log_*) symbol may
# be referenced from it.
core-purity: $(BUILD)/libcore.a
	@if nm -u $(BUILD)/libcore.a | grep -E ' (ev_|log_)'; then \
		echo "core-purity: daemon/core references the symbols above" >&2; \
		exit 1; fi; echo "core-purity: daemon/core has no ev_ or log_ symbol"

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)

$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Test tools (tests/tools/*.c): the DBC corpus checker, the bundle maker of
# the evidence tests. Built here so that they get this BUILD's flags.
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Unit tests: table-driven cmocka suites; tests read fixtures relative to the
# source tree.
unit: deps
	@$(MAKE) --no-print-directory $(BINS) $(UNIT_BINS)
	@$(MAKE) --no-print-directory core-purity
	@scripts/run-unit $(UNIT_BINS)
	@$(MAKE) --no-print-directory cli

# Command-line tests: each tests/cli/*.sh prints PASS/FAIL lines and exits
# non-zero on failure; they run the binaries of this BUILD.
cli: $(BINS) $(TOOL_BINS)
	@st=0; for t in tests/cli/*.sh; do [ -e "$$t" ] || continue; \
		BUILD=$(BUILD) sh "$$t" || st=1; done; exit $$st

corpus: all
	@scripts/corpus-check ../shared/dbc-corpus

# Integration tests on the kernel's vcan: natively when the host can create
# vcan interfaces, otherwise inside a qemu VM (scripts/vmtest).
integration: all
	@scripts/integration

check: deps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory corpus
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory integration

bench: deps
	@$(MAKE) --no-print-directory $(BINS) $(BENCH_BINS)
	@scripts/bench $(BENCH_BINS)

# Fuzz targets: the library and core are compiled once with sanitizer
# coverage, then each target links against them.
FUZZ_CFLAGS := -std=gnu11 -g -O1 -I. -DCANGATE_VERSION='"$(VERSION)"' \
	-fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -MMD -MP
FUZZ_OBJS := $(DBC_SRCS:%.c=build-fuzz/obj/%.o) $(CORE_SRCS:%.c=build-fuzz/obj/%.o)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

build-fuzz/%: build-fuzz/obj/tests/fuzz/%.o $(FUZZ_OBJS)
	clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $^ $(PKG_LIBS)

fuzz: deps $(FUZZ_BINS)
	@scripts/fuzz $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: deps $(FUZZ_BINS)
	@scripts/fuzz 10 $(FUZZ_BINS)

demo: deps
	@$(MAKE) --no-print-directory $(BINS)
	@BUILD=$(BUILD) scripts/demo

# What install puts where (uninstall removes exactly this). Units get the
# install paths substituted; example configs get absolute paths to the
# installed rule packs and vehicle, and the demo's outputs go to /tmp.
INST_UNITS := cangated.service cangated@.service
INST_RULES := $(notdir $(wildcard configs/rules/*.ini))
INST_VEHICLES := demo-ev.dbc demo-ev.ini demo-drive.log demo-expected-verdicts.txt
INST_RIGS := demo-rig.dbc
INST_EXAMPLES := demo.ini demo-translate.ini rig-example.ini vcan-example.ini
INST_MAN1 := cangate.1
INST_MAN5 := cangate.conf.5
INST_MAN8 := cangated.8
# deepest first: removed by uninstall when empty
INST_DIRS := $(DATADIR)/rules $(DATADIR)/vehicles $(DATADIR)/rigs $(DATADIR)/examples \
	$(DATADIR) $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man8 $(MANDIR) \
	$(UNITDIR) $(SYSUSERSDIR) $(TMPFILESDIR) $(BINDIR) $(SBINDIR) \
	$(PREFIX)/share $(PREFIX)/lib/systemd $(PREFIX)/lib $(PREFIX)
UNIT_SED := -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
EXAMPLE_SED := -e 's|^include = vehicles/|include = $(DATADIR)/vehicles/|' \
	-e 's|^include = rules/|include = $(DATADIR)/rules/|' \
	-e 's|^dbc = vehicles/|dbc = $(DATADIR)/vehicles/|' \
	-e 's|^dbc = rigs/|dbc = $(DATADIR)/rigs/|' \
	-e 's|replay:vehicles/|replay:$(DATADIR)/vehicles/|' \
	-e 's|/usr/share/cangate/|$(DATADIR)/|g' \
	-e 's|^dir = \.\./build/|dir = /tmp/cangate-|' \
	-e 's|^control = \.\./build/|control = /tmp/cangate-|'

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(BUILD)/cangated $(DESTDIR)$(SBINDIR)/cangated
	install -m 0755 $(BUILD)/cangate $(DESTDIR)$(BINDIR)/cangate
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DATADIR)/rules \
		$(DESTDIR)$(DATADIR)/vehicles $(DESTDIR)$(DATADIR)/rigs \
		$(DESTDIR)$(DATADIR)/examples \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	for u in $(INST_UNITS); do \
		sed $(UNIT_SED) systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 systemd/cangate-sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/cangate.conf
	install -m 0644 systemd/cangate-tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/cangate.conf
	install -m 0644 $(addprefix configs/rules/,$(INST_RULES)) $(DESTDIR)$(DATADIR)/rules/
	install -m 0644 $(addprefix configs/vehicles/,$(INST_VEHICLES)) $(DESTDIR)$(DATADIR)/vehicles/
	install -m 0644 $(addprefix configs/rigs/,$(INST_RIGS)) $(DESTDIR)$(DATADIR)/rigs/
	for e in $(INST_EXAMPLES); do \
		sed $(EXAMPLE_SED) configs/$$e > $(DESTDIR)$(DATADIR)/examples/$$e && \
		chmod 0644 $(DESTDIR)$(DATADIR)/examples/$$e || exit 1; \
	done
	install -m 0644 $(addprefix man/,$(INST_MAN1)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(addprefix man/,$(INST_MAN5)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(addprefix man/,$(INST_MAN8)) $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/cangated $(DESTDIR)$(BINDIR)/cangate
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(INST_UNITS)) \
		$(DESTDIR)$(SYSUSERSDIR)/cangate.conf \
		$(DESTDIR)$(TMPFILESDIR)/cangate.conf \
		$(addprefix $(DESTDIR)$(DATADIR)/rules/,$(INST_RULES)) \
		$(addprefix $(DESTDIR)$(DATADIR)/vehicles/,$(INST_VEHICLES)) \
		$(addprefix $(DESTDIR)$(DATADIR)/rigs/,$(INST_RIGS)) \
		$(addprefix $(DESTDIR)$(DATADIR)/examples/,$(INST_EXAMPLES)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man1/,$(INST_MAN1)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(INST_MAN5)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(INST_MAN8))
	for d in $(INST_DIRS); do \
		if [ -d "$(DESTDIR)$$d" ]; then \
			rmdir --ignore-fail-on-non-empty "$(DESTDIR)$$d"; fi; \
	done

clean:
	rm -rf build build-san build-fuzz

-include $(shell find build build-san build-fuzz -name '*.d' 2>/dev/null)
