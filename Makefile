# roomcast -- see README.md. `make` builds, `make run` starts a broker and a
# gateway, `make test` runs every test, `make bench` the benchmark.

CC      ?= cc
VERSION := 0.1.0
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon -Ibroker -Igateway \
           -DROOMCAST_VERSION='"$(VERSION)"' -MMD -MP
LDLIBS_GW := -lcivetweb -lnng -ljson-c -lpthread
LDLIBS_BK := -lnng -ljson-c -lsqlite3 -lcrypto -lcurl -lraft -luv -lpthread
# The sanitizer build (unit tests) also turns on every assertion (invariant.h).
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
           -DROOMCAST_ASSERT

COMMON_SRC := $(wildcard common/*.c)
GW_SRC     := $(wildcard gateway/*.c)
BK_LIB_SRC := $(filter-out broker/bk_main.c broker/token_main.c broker/backup_main.c,$(wildcard broker/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,build/$(1)/%.o,$(2))

BINS := bin/roomcast-broker bin/roomcast-gateway bin/roomcast-token bin/roomcast-backup

# Debian packages the build, the tests and the benchmark need.
DEB_BUILD := build-essential curl pkg-config libcivetweb-dev libnng-dev libjson-c-dev \
             libsqlite3-dev libssl-dev libcurl4-openssl-dev libraft-dev libuv1-dev
DEB_TEST  := nodejs npm chromium nginx openssl clang libclang-rt-14-dev sqlite3

# Keep objects of the unit-test binaries between runs.
.SECONDARY:

.PHONY: all deps deps-test run test unit bench fuzz soak clean debug
all: $(BINS)

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
build/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c $< -o $@

bin/roomcast-gateway: $(call obj,rel,$(GW_SRC) $(COMMON_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_GW)
bin/roomcast-broker: $(call obj,rel,broker/bk_main.c $(BK_LIB_SRC) $(COMMON_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BK)
bin/roomcast-token: $(call obj,rel,broker/token_main.c $(BK_LIB_SRC) $(COMMON_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BK)
bin/roomcast-backup: $(call obj,rel,broker/backup_main.c $(COMMON_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BK)

# Unit tests: one binary per tests/unit/test_*.c, under ASan and UBSan, linked
# with common/ and the broker's modules (and the gateway's pure modules).
GW_UNIT_SRC := $(filter-out gateway/gw_main.c,$(wildcard gateway/gw_frame.c gateway/gw_rate.c gateway/gw_binary.c gateway/gw_request.c gateway/gw_b64.c gateway/gw_records.c))
UNIT_BINS := $(patsubst tests/unit/%.c,build/san/tests/unit/%,$(UNIT_SRC))
build/san/tests/unit/%: $(call obj,san,tests/unit/%.c $(COMMON_SRC) $(BK_LIB_SRC) $(GW_UNIT_SRC))
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_BK) $(LDLIBS_GW)
build/san/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -Itests/unit -c $< -o $@

# The allocation-failure tests (tests/unit/oom.h) count and fail the
# allocations of the code under test: the linker sends the malloc family of
# these binaries alone to the tests' wrappers.
OOM_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
build/san/tests/unit/test_oom_%: $(call obj,san,tests/unit/test_oom_%.c $(COMMON_SRC) $(BK_LIB_SRC) $(GW_UNIT_SRC))
	$(CC) $(CFLAGS) $(SAN) $(OOM_WRAP) -o $@ $^ $(LDLIBS_BK) $(LDLIBS_GW)

# `make debug`: the programs with every assertion on (invariant.h: the walks
# and lock-owner checks too), in build/debug/bin/ (a rule each, as for bin/).
# Run tests on them with ROOMCAST_BIN_DIR=build/debug/bin.
DEBUG_BINS := $(patsubst bin/%,build/debug/bin/%,$(BINS))
build/debug/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DROOMCAST_ASSERT -c $< -o $@
build/debug/bin/roomcast-gateway: $(call obj,debug,$(GW_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_GW)
build/debug/bin/roomcast-broker: $(call obj,debug,broker/bk_main.c $(BK_LIB_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BK)
build/debug/bin/roomcast-token: $(call obj,debug,broker/token_main.c $(BK_LIB_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BK)
build/debug/bin/roomcast-backup: $(call obj,debug,broker/backup_main.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BK)
debug: $(DEBUG_BINS)

deps:
	@sh tests/deps.sh build $(DEB_BUILD)
deps-test: deps
	@sh tests/deps.sh test $(DEB_TEST)
	@cd tests && (npm ci --no-audit --no-fund --silent || npm ci --no-audit --no-fund)

run: deps
	@$(MAKE) --no-print-directory all
	@sh tests/run-dev.sh

unit: $(UNIT_BINS)
test: deps-test
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory -C tests/fuzz build
	@sh tests/run.sh

bench: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C tests/bench
	@sh tests/bench/run.sh

fuzz:
	@$(MAKE) --no-print-directory -C tests/fuzz run

# Memory and delivery over time (SOAK_MINUTES, default 10); not part of test.
soak: all
	@node tests/soak/soak.mjs

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
