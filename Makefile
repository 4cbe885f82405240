# flamewatch build. `make` installs missing Debian build packages, then builds the
# CLI (build/flamewatch) and the agent extension for every CPython 3.9-3.15 found
# (python3 on PATH, $(pyenv root)/versions/*, or PYTHONS="...").

CC      ?= cc
CSTD     = -std=c11 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT     ?= -O2 -g
CFLAGS_FW = $(CSTD) $(WARN) $(OPT) -fPIC -pthread -Icommon
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
BUILD    = build

COMMON_SRC = $(wildcard common/*.c)
CLI_SRC    = $(wildcard cli/*.c server/*.c server/analysis/*.c store/*.c store/sqlite/*.c store/clickhouse/*.c)
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UNIT_ASAN  = $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/%,$(UNIT_SRC))
# No -lcurl: common/fw_curl.c dlopen()s libcurl at the CLI's first request (as in the agent), so
# `flamewatch run` does not pay ~3 ms of CPU to load it and its ~30 dependencies at every start.
# The server's ClickHouse store (store/clickhouse/) loads it the same way, when it is opened.
CLI_LIBS   = -lz -ldeflate -lpthread -lmicrohttpd -lm -lsqlite3

PYTHON_LIST := $(shell sh scripts/find-pythons.sh)

.SECONDARY:
.PHONY: all deps agent agent-asan cli unit-tests test run-tests lint demo clean bench bench-tools
all: deps cli agent

deps:
	@sh scripts/ensure-deps.sh build

cli: $(BUILD)/flamewatch

# ---- common objects, normal and sanitizer builds ----
$(BUILD)/obj/%.o: %.c $(wildcard common/*.h agent/*.h cli/*.h server/*.h server/analysis/*.h store/*.h store/sqlite/*.h store/clickhouse/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FW) -c $< -o $@

$(BUILD)/asan/obj/%.o: %.c $(wildcard common/*.h agent/*.h cli/*.h server/*.h server/analysis/*.h store/*.h store/sqlite/*.h store/clickhouse/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FW) -O1 $(SAN) -c $< -o $@

COMMON_OBJ      = $(patsubst %.c,$(BUILD)/obj/%.o,$(COMMON_SRC))
CURL_STUB_OBJ   = $(BUILD)/obj/common/fw_curl.o
COMMON_ASAN_OBJ = $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(COMMON_SRC))
CLI_OBJ         = $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC))
# Unit tests may exercise CLI modules too; main.c is the only file they must not link.
CLI_LIB_OBJ      = $(filter-out $(BUILD)/obj/cli/main.o,$(CLI_OBJ))
CLI_LIB_ASAN_OBJ = $(patsubst $(BUILD)/obj/%,$(BUILD)/asan/obj/%,$(CLI_LIB_OBJ))

# ---- the web console (web/, docs/CONSOLE.md): npm ci when needed, assets compiled into the binary ----
WEB_GEN = $(BUILD)/gen/fw_web_assets_data.c
CLI_OBJ += $(BUILD)/obj/gen/fw_web_assets_data.o
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@
$(WEB_GEN): scripts/embed-assets.py node_modules/.package-lock.json $(shell find web -type f 2>/dev/null)
	python3 scripts/embed-assets.py --out $@
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c server/fw_web_assets.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FW) -Iserver -c $< -o $@
$(BUILD)/asan/obj/gen/%.o: $(BUILD)/gen/%.c server/fw_web_assets.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FW) -O1 $(SAN) -Iserver -c $< -o $@

$(BUILD)/flamewatch: $(CLI_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS_FW) -o $@ $^ $(CLI_LIBS)

# ---- the agent extension, once per interpreter ----
agent:
	@for py in $(PYTHON_LIST); do \
	  $(MAKE) --no-print-directory -f mk/agent.mk PY=$$py BUILD=$(BUILD) || exit 1; \
	done
	@mkdir -p $(BUILD)/python/flamewatch
	@cp -r python/flamewatch/. $(BUILD)/python/flamewatch/
	@find $(BUILD)/python -name __pycache__ -prune -exec rm -rf {} +
	@# Bytecode for each interpreter now, so a process started under the agent does not compile
	@# the package at every start (PYTHONDONTWRITEBYTECODE=1 stops Python from caching it).
	@for py in $(PYTHON_LIST); do $$py -m compileall -q $(BUILD)/python/flamewatch >/dev/null || exit 1; done

# ---- the agent under ASan+UBSan, for the first interpreter found (python3 on PATH), run with
# libasan preloaded by scripts/run-tests.py: the memory and robustness tests ----
ASAN_AGENT = $(BUILD)/asan-agent
ASAN_PY = $(firstword $(PYTHON_LIST))
agent-asan: cli
	@$(MAKE) --no-print-directory -f mk/agent.mk PY=$(ASAN_PY) BUILD=$(ASAN_AGENT) SAN_FLAGS="$(SAN)"
	@cp -r python/flamewatch/. $(ASAN_AGENT)/python/flamewatch/
	@find $(ASAN_AGENT)/python -name __pycache__ -prune -exec rm -rf {} +
	@ln -sf ../flamewatch $(ASAN_AGENT)/flamewatch
	@echo $(ASAN_PY) > $(ASAN_AGENT)/python.txt

# ---- unit tests (cmocka), normal and ASan+UBSan ----
$(BUILD)/tests/%: tests/unit/%.c $(COMMON_OBJ) $(CLI_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FW) -Icli -o $@ $(filter-out %.h,$^) -lcmocka $(CLI_LIBS)

$(BUILD)/asan/tests/%: tests/unit/%.c $(COMMON_ASAN_OBJ) $(CLI_LIB_ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FW) -Icli -O1 $(SAN) -o $@ $(filter-out %.h,$^) -lcmocka $(CLI_LIBS)

# Helpers shared by several unit tests (tests/unit/*.h) rebuild them when they change.
$(UNIT_BINS) $(UNIT_ASAN): $(wildcard tests/unit/*.h)

unit-tests: $(UNIT_BINS) $(UNIT_ASAN)

# scripts/get-pythons.sh first fetches the interpreters bookworm lacks (3.14, 3.15) into a private
# root; the second make then finds them (PYTHON_LIST is read when a make starts).
test:
	@sh scripts/ensure-deps.sh test
	@sh scripts/get-pythons.sh
	@$(MAKE) --no-print-directory all unit-tests agent-asan
	@$(MAKE) --no-print-directory run-tests

run-tests:
	@python3 scripts/run-tests.py --build $(BUILD) $(PYTHON_LIST)

lint:
	@sh scripts/ensure-deps.sh lint
	@sh scripts/lint.sh

demo: all
	@python3 demo/run_demo.py --build $(BUILD)

bench: all
	@python3 bench/run_all.py --build $(BUILD)

# C benchmark tools (docs/BENCHMARKS.md, "Server"): the ingest load generator and the dataset generator.
bench-tools: $(BUILD)/ingest_load $(BUILD)/gen_dataset
# Neither uses libcurl's lazy loader (common/fw_curl.c): the load generator links libcurl itself
# (its own start-up is not measured); the dataset generator makes no request, but it links the
# store objects, and the ClickHouse backend among them calls libcurl.
$(BUILD)/ingest_load: bench/ingest_load.c $(filter-out $(CURL_STUB_OBJ),$(COMMON_OBJ))
	$(CC) $(CFLAGS_FW) -o $@ $^ -lcurl -lz -ldeflate -lm
$(BUILD)/gen_dataset: bench/gen_dataset.c $(filter-out $(CURL_STUB_OBJ),$(COMMON_OBJ)) \
                      $(filter $(BUILD)/obj/store/%,$(CLI_OBJ))
	$(CC) $(CFLAGS_FW) -o $@ $^ -lcurl -lz -ldeflate -lsqlite3 -lm

clean:
	rm -rf $(BUILD)
