# Makefile -- hand-written build for sesmilter.
#
#   make            build sesmilter, sesctl (runs autoreconf + configure if needed)
#   make deps       install the Debian packages it needs (root, apt-get)
#   make check      deps + build + unit tests + end-to-end tests through Postfix
#   make demo       deps + build + one signed message through a private Postfix
#   make bench      benchmarks (see docs/PERFORMANCE.md)
#   make docs       regenerate docs/configuration.md, docs/lua-hooks.md and examples/sesmilter.toml
#   make install    prefix=/usr/local DESTDIR=
#   make fuzz       libFuzzer targets (clang)

BUILD    ?= build
PYTHON   ?= /usr/bin/python3
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

# Goals that must work before configure has run (fresh clone, no packages).
NOCONF_GOALS := deps clean distclean check demo bench
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

$(BUILD)/libses.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sesmilter: $(BUILD)/src/main/sesmilter.o $(BUILD)/libses.a
	$(CXX) $(OPT) -o $@ $^ $(PKG_LIBS) -pthread

$(BUILD)/sesctl: $(BUILD)/src/main/sesctl.o $(BUILD)/libses.a
	$(CXX) $(OPT) -o $@ $^ $(PKG_LIBS) -pthread

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

test: format-check unit docs-check e2e

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

docs: $(BUILD)/sesmilter
	$(BUILD)/sesmilter --config-reference > docs/configuration.md
	$(BUILD)/sesmilter --config-example > examples/sesmilter.toml
	$(BUILD)/sesmilter --lua-reference > docs/lua-hooks.md

# Fails when the committed reference no longer matches the key table.
docs-check: $(BUILD)/sesmilter
	@$(BUILD)/sesmilter --config-reference | diff -u docs/configuration.md - \
	  || { echo "docs/configuration.md is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesmilter --config-example | diff -u examples/sesmilter.toml - \
	  || { echo "examples/sesmilter.toml is stale: run 'make docs'" >&2; exit 1; }
	@$(BUILD)/sesmilter --lua-reference | diff -u docs/lua-hooks.md - \
	  || { echo "docs/lua-hooks.md is stale: run 'make docs'" >&2; exit 1; }
	@echo "docs-check: configuration reference is current"

format-check:
	@clang-format --dry-run --Werror $(shell find src tests/unit tests/fuzz bench -name '*.cpp' -o -name '*.hpp')

# ---- fuzzing (clang + libFuzzer) ---------------------------------------

FUZZ_SRC := $(wildcard tests/fuzz/*.cpp)
fuzz: $(FUZZ_SRC:tests/fuzz/%.cpp=$(BUILD)/fuzz/%)
$(BUILD)/fuzz/%: tests/fuzz/%.cpp $(LIB_SRC) config.mk
	@mkdir -p $(dir $@)
	clang++ $(CXXSTD) -g -O1 -fsanitize=fuzzer,address $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_SRC) $(PKG_LIBS)

# ---- install -----------------------------------------------------------

install: all
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(bindir) $(DESTDIR)$(datadir)/sesmilter/lua \
	  $(DESTDIR)$(sysconfdir)/sesmilter
	install -m 0755 $(BUILD)/sesmilter $(DESTDIR)$(sbindir)/sesmilter
	install -m 0755 $(BUILD)/sesctl $(DESTDIR)$(bindir)/sesctl
	install -m 0644 lua/*.lua $(DESTDIR)$(datadir)/sesmilter/lua/
	install -m 0644 examples/sesmilter.toml $(DESTDIR)$(datadir)/sesmilter/sesmilter.toml.example

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf config.mk config.log config.status autom4te.cache configure aclocal.m4

.PHONY: all unit e2e test check demo bench bench-bins deps docs docs-check format-check fuzz install clean distclean

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(BUILD)/src/main/sesmilter.d $(BUILD)/src/main/sesctl.d
