# Makefile -- hand-written build for sesmilter.
#
#   make            build sesmilter, sesctl (runs autoreconf + configure if needed)
#   make deps       install the Debian packages it needs (root, apt-get)
#   make check      deps + build + unit tests + end-to-end tests through Postfix
#   make demo       deps + build + one signed message through a private Postfix
#   make bench      benchmarks (see docs/PERFORMANCE.md)
#   make docs       regenerate docs/configuration.md, examples/sesmilter.toml,
#                   docs/store-layout.md, docs/replies.md and docs/lua-hooks.md
#   make install    DESTDIR= (paths from ./configure: prefix /usr, sysconfdir /etc)
#   make deb        the Debian package, written to build/deb/ (docs/operations.md)
#   make deb-check  build, install, test and purge the package (root, throwaway machine)
#   make fuzz       libFuzzer targets (clang)

# `all` is the default goal even though config.mk's rule comes first: in a
# fresh clone a plain `make` must configure and then build.
.DEFAULT_GOAL := all

BUILD    ?= build
PYTHON   ?= /usr/bin/python3
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

# Goals that must work before configure has run (fresh clone, no packages).
NOCONF_GOALS := deps deps-check clean distclean check demo bench deb deb-check
ifneq ($(filter-out $(NOCONF_GOALS),$(or $(MAKECMDGOALS),all)),)
include config.mk
endif

config.mk: configure.ac config.mk.in
	@test -x "$$(command -v autoreconf)" || { echo "autoreconf missing: run 'make deps' first" >&2; exit 1; }
	autoreconf -fi
	./configure

CXXSTD   := -std=c++20
WARN     := -Wall -Wextra -Wno-unused-parameter
OPT      ?= -O2 -g
CPPFLAGS += -Isrc -D_GNU_SOURCE
# The default configuration file is $(sysconfdir)/sesmilter/sesmilter.toml,
# the same directory `make install` creates (src/config/paths.hpp).
PATH_FLAGS = -DSES_SYSCONFDIR='"$(sysconfdir)"'
CXXFLAGS ?=
ALL_CXXFLAGS = $(CXXSTD) $(OPT) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(CXXFLAGS) -MMD -MP

LIB_SRC  := $(sort $(filter-out src/main/%,$(shell find src -name '*.cpp')))
LIB_OBJ  := $(LIB_SRC:%.cpp=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/*.cpp))
UNIT_OBJ := $(UNIT_SRC:%.cpp=$(BUILD)/%.o)
BENCH_SRC := $(sort $(wildcard bench/*.cpp))
BENCH_BIN := $(BENCH_SRC:bench/%.cpp=$(BUILD)/bench/%)

all: $(BUILD)/sesmilter $(BUILD)/sesctl

$(BUILD)/%.o: %.cpp config.mk
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

# Only the entry points see the install paths, so overriding them rebuilds two files.
$(BUILD)/src/main/%.o: src/main/%.cpp config.mk
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) $(PATH_FLAGS) -c $< -o $@

$(BUILD)/libses.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sesmilter: $(BUILD)/src/main/sesmilter.o $(BUILD)/libses.a
	$(CXX) $(OPT) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -pthread

$(BUILD)/sesctl: $(BUILD)/src/main/sesctl.o $(BUILD)/libses.a
	$(CXX) $(OPT) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -pthread

$(BUILD)/unit_tests: $(UNIT_OBJ) $(BUILD)/libses.a
	$(CXX) $(OPT) -o $@ $^ $(PKG_LIBS) -pthread

$(BUILD)/bench/%: bench/%.cpp $(BUILD)/libses.a config.mk
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -o $@ $< $(BUILD)/libses.a $(PKG_LIBS) -pthread

# ---- tests -------------------------------------------------------------

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

e2e: all
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

test: format-check deps-check unit docs-check e2e

check:
	$(MAKE) deps
	$(MAKE) -j$(JOBS) all $(BUILD)/unit_tests
	$(MAKE) test

demo:
	$(MAKE) deps
	$(MAKE) -j$(JOBS) all
	$(PYTHON) examples/demo.py

bench:
	$(MAKE) deps
	$(MAKE) -j$(JOBS) all bench-bins
	$(PYTHON) bench/run.py $(BENCH_ARGS)

bench-bins: $(BENCH_BIN)

deps:
	sh packaging/install-deps.sh

# ---- generated docs ----------------------------------------------------

docs: $(BUILD)/sesmilter $(BUILD)/sesctl
	$(BUILD)/sesmilter --config-reference > docs/configuration.md
	$(BUILD)/sesmilter --config-example > examples/sesmilter.toml
	$(BUILD)/sesctl --store-layout > docs/store-layout.md
	$(BUILD)/sesmilter --replies-reference > docs/replies.md
	$(BUILD)/sesmilter --lua-reference > docs/lua-hooks.md
	@mkdir -p man
	$(BUILD)/sesmilter --man sesmilter.8 > man/sesmilter.8
	$(BUILD)/sesmilter --man sesmilter.toml.5 > man/sesmilter.toml.5
	$(BUILD)/sesctl --man > man/sesctl.8

# Fails when the committed reference no longer matches the key table.
docs-check: $(BUILD)/sesmilter $(BUILD)/sesctl
	@$(BUILD)/sesmilter --config-reference | diff -u docs/configuration.md - \
	  || { echo "docs/configuration.md is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesmilter --config-example | diff -u examples/sesmilter.toml - \
	  || { echo "examples/sesmilter.toml is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesctl --store-layout | diff -u docs/store-layout.md - \
	  || { echo "docs/store-layout.md is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesmilter --replies-reference | diff -u docs/replies.md - \
	  || { echo "docs/replies.md is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesmilter --lua-reference | diff -u docs/lua-hooks.md - \
	  || { echo "docs/lua-hooks.md is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesmilter --man sesmilter.8 | diff -u man/sesmilter.8 - \
	  || { echo "man/sesmilter.8 is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesmilter --man sesmilter.toml.5 | diff -u man/sesmilter.toml.5 - \
	  || { echo "man/sesmilter.toml.5 is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesctl --man | diff -u man/sesctl.8 - \
	  || { echo "man/sesctl.8 is stale: run 'make docs'" >&2; exit 1; }
	@if command -v man >/dev/null 2>&1; then for page in man/*.[0-9]; do \
	  w=$$(MANWIDTH=80 man --warnings -l $$page 2>&1 >/dev/null); \
	  [ -z "$$w" ] || { echo "$$page: man --warnings: $$w" >&2; exit 1; }; done; fi
	@echo "docs-check: configuration reference, store layout, reply table, Lua hook reference and man pages are current"

# Layering (docs/ARCHITECTURE.md, "Layers"): folder order and C library owners.
deps-check:
	@$(PYTHON) scripts/check-deps.py

format-check:
	@clang-format --dry-run --Werror $(shell find src tests/unit tests/fuzz bench -name '*.cpp' -o -name '*.hpp')

# ---- fuzzing (clang + libFuzzer) ---------------------------------------
# One target per tests/fuzz/*.cpp, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (any UB report aborts: a finding).  The library
# is compiled once, instrumented, into $(BUILD)/fuzz-obj/; only the targets
# go to $(BUILD)/fuzz/, which .ci/run runs one by one.

FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/*.cpp))
FUZZ_OBJ  := $(LIB_SRC:%.cpp=$(BUILD)/fuzz-obj/%.o)
fuzz: $(FUZZ_SRC:tests/fuzz/%.cpp=$(BUILD)/fuzz/%)
$(BUILD)/fuzz-obj/%.o: %.cpp config.mk
	@mkdir -p $(dir $@)
	clang++ $(CXXSTD) -g -O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/fuzz-obj/libses.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.cpp $(BUILD)/fuzz-obj/libses.a config.mk
	@mkdir -p $(dir $@)
	clang++ $(CXXSTD) -g -O1 -fsanitize=fuzzer $(FUZZ_SAN) $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $< \
	  $(BUILD)/fuzz-obj/libses.a $(PKG_LIBS)

# ---- install -----------------------------------------------------------

# The programs' compiled-in configuration path must be the directory made
# here: refuse to install binaries built for another sysconfdir.  The
# configuration itself is installed only when none exists (never overwrite
# an operator's file; the package marks it a conffile instead).
DOCS_INSTALLED := README.md docs/*.md
# Debian 12 keeps units in /lib/systemd/system (systemd.pc says where).
SYSTEMD_UNIT_DIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
install: all
	@$(BUILD)/sesctl --help | grep -qF "(default $(sysconfdir)/sesmilter/sesmilter.toml)" || { \
	  echo "install: the programs were built to read another configuration path than" \
	       "$(sysconfdir)/sesmilter/sesmilter.toml; run ./configure --sysconfdir=$(sysconfdir) and make again" >&2; \
	  exit 1; }
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(bindir) $(DESTDIR)$(datadir)/sesmilter/lua \
	  $(DESTDIR)$(sysconfdir)/sesmilter $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8 \
	  $(DESTDIR)$(datadir)/doc/sesmilter/examples $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	install -d -m 0700 $(DESTDIR)$(sysconfdir)/sesmilter/keys
	install -d -m 0750 $(DESTDIR)$(localstatedir)/lib/sesmilter
	install -m 0755 $(BUILD)/sesmilter $(DESTDIR)$(sbindir)/sesmilter
	install -m 0755 $(BUILD)/sesctl $(DESTDIR)$(bindir)/sesctl
	install -m 0644 lua/*.lua $(DESTDIR)$(datadir)/sesmilter/lua/
	install -m 0644 man/sesmilter.8 man/sesctl.8 $(DESTDIR)$(mandir)/man8/
	install -m 0644 man/sesmilter.toml.5 $(DESTDIR)$(mandir)/man5/
	install -m 0644 $(DOCS_INSTALLED) $(DESTDIR)$(datadir)/doc/sesmilter/
	cp -R examples/. $(DESTDIR)$(datadir)/doc/sesmilter/examples/
	install -m 0644 packaging/sesmilter.service packaging/sesmilter-release.service \
	  packaging/sesmilter-release.timer $(DESTDIR)$(SYSTEMD_UNIT_DIR)/
	test -e $(DESTDIR)$(sysconfdir)/sesmilter/sesmilter.toml || \
	  install -m 0640 packaging/sesmilter.toml $(DESTDIR)$(sysconfdir)/sesmilter/sesmilter.toml

# dpkg-buildpackage wants debian/ at the top of the source tree: the package
# is built from a copy of the tracked files in $(BUILD)/deb/src, and the
# .deb files land in $(BUILD)/deb/.
DEB_DIR := $(BUILD)/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	git ls-files -z | xargs -0 cp --parents -t $(DEB_DIR)/src
	cp -R packaging/debian $(DEB_DIR)/src/debian
	sh packaging/debian-control.sh packaging/debian-packages.txt \
	  < packaging/debian/control.in > $(DEB_DIR)/src/debian/control
	rm $(DEB_DIR)/src/debian/control.in
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc
	@ls -1 $(DEB_DIR)/*.deb

# Installs the package on this machine: for throwaway CI machines only.
deb-check: deb
	sh packaging/deb-check.sh $(DEB_DIR)

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf config.mk config.log config.status autom4te.cache configure aclocal.m4

.PHONY: all unit e2e test check demo bench bench-bins deps docs docs-check deps-check format-check fuzz install deb deb-check clean distclean

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d) $(BUILD)/src/main/sesmilter.d $(BUILD)/src/main/sesctl.d
