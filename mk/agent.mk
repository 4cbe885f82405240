# Builds the agent extension for one interpreter: make -f mk/agent.mk PY=/path/to/python3
# The compile flags come from the interpreter's own sysconfig, so 3.12 and 3.13
# (which have no setuptools) build the same way as older versions.
PY    ?= python3
BUILD ?= build
CC    ?= cc
# The include folder from sysconfig's paths, not its INCLUDEPY build variable: an interpreter in a
# private root (scripts/get-pythons.sh) reports INCLUDEPY as its build machine's /usr/include.
PYINFO := $(shell $(PY) -c 'import sysconfig as s; print(s.get_paths()["include"], s.get_config_var("EXT_SUFFIX"), "%s.%s" % __import__("sys").version_info[:2])')
INCLUDEPY  := $(word 1,$(PYINFO))
EXT_SUFFIX := $(word 2,$(PYINFO))
PYVER      := $(word 3,$(PYINFO))
OBJDIR     := $(BUILD)/agent/$(PYVER)
OUT        := $(BUILD)/python/flamewatch/_agent$(EXT_SUFFIX)
# -idirafter INCLUDEPY/..: Debian's pyconfig.h includes <TRIPLET/python3.X/pyconfig.h> from there; it
# comes after the system's own headers so that a private root's newer libc headers are never used
# (scripts/get-pythons.sh's interpreters live in such a root).
# SAN_FLAGS: sanitizers for the test build of the agent (make agent-asan), empty otherwise.
SAN_FLAGS ?=
CFLAGS_AGENT := $(SAN_FLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
                -O2 -g -fPIC -pthread -fvisibility=hidden -Icommon -Iagent -I$(INCLUDEPY) \
                -idirafter $(dir $(INCLUDEPY))
# common/ less its readers: the agent encodes and compresses, and never decodes a pprof nor
# decompresses (fw_gunzip needs libdeflate, which the agent does not link). setup.py leaves out
# the same files.
COMMON_AGENT_SKIP := common/fw_gunzip.c common/fw_pprof_decode.c common/fw_pprof_samples.c
SRC := $(wildcard agent/*.c agent/pyversion/*.c) $(filter-out $(COMMON_AGENT_SKIP),$(wildcard common/*.c))
OBJ := $(patsubst %.c,$(OBJDIR)/%.o,$(SRC))
HDR := $(wildcard agent/*.h agent/pyversion/*.h common/*.h)

$(OUT): $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) -shared -pthread -o $@ $^ -lz

$(OBJDIR)/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_AGENT) -c $< -o $@
