# fedrecall build. `make` builds the library and programs, `make test` runs every
# test and ends with "N passed, M failed", `make asan` runs them under
# AddressSanitizer + UBSan, `make bench` measures against the PyTorch peer,
# `make demo` trains on generated data end to end, `make fuzz` runs the data readers'
# libFuzzer targets (FUZZ_SECONDS each), `make lint` the static checks (tests/lint.sh).

.DEFAULT_GOAL := all
BUILD ?= build
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

PKGS := msgpack jansson openblas libsodium libevent libevent_openssl openssl libcurl sqlite3 inih
DEPS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)

CC ?= cc
# Native code by default: a node builds on the machine it runs on.
OPT ?= -O3 -march=native
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP -fopenmp -g \
	-Icommon $(OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -fopenmp -lm $(EXTRA_LDFLAGS)

# The CUDA backend (common/backend/fr_backend_cuda*.cu) is built when nvcc is found on PATH or
# in /usr/local/cuda/bin, or when CUDA=1 (then a missing nvcc is an error); CUDA=0
# builds CPU-only. Without it, common/backend/fr_backend_cuda_none.c answers `--device cuda`.
# Kernels for sm_80 (A100) and sm_90 (H100, H200), plus compute_90 PTX that newer
# GPUs compile at load. They and cuBLAS (rpath to the toolkit) live in
# build/libfedrecall_cuda.so, which common/backend/fr_backend_cuda_load.c opens on first use:
# the programs link no CUDA library, start as fast as CPU-only ones (loading cuBLAS
# takes most of a second), and run on machines without the toolkit, a driver or a
# GPU, where `--device auto` falls back to the CPU.
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && \
	echo /usr/local/cuda/bin/nvcc; })
CUDA ?= $(if $(NVCC),1,0)
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but no nvcc on PATH or in /usr/local/cuda/bin)
endif
CUDA_ROOT := $(abspath $(dir $(NVCC))..)
CUDA_LIB := $(firstword $(wildcard $(CUDA_ROOT)/lib64 $(CUDA_ROOT)/lib))
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
	-gencode arch=compute_90,code=compute_90
NVCCFLAGS = -std=c++17 -O3 -g -lineinfo -Icommon $(CUDA_ARCH) -Werror all-warnings \
	-Xcompiler -Wall,-Wextra,-Werror,-fPIC,-fvisibility=hidden -MMD -MP
CUDA_SRC := $(sort $(wildcard common/*/*.cu))
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/%.o)
CUDA_SO := $(BUILD)/libfedrecall_cuda.so
CUDA_ENTRY := common/backend/fr_backend_cuda_load.c
CUDA_BUILT := built for sm_80, sm_90 + PTX in $(CUDA_SO) ($(NVCC))
else
CUDA_OBJ :=
CUDA_SO :=
# CUDA_LOADER=1: no kernels here, but the programs keep the loader, which opens a
# libfedrecall_cuda.so built elsewhere ($$FR_CUDA_LIB): the container images build their
# programs so, and the GPU image adds the library (deploy/docker/Dockerfile.node-gpu).
ifeq ($(CUDA_LOADER),1)
CUDA_ENTRY := common/backend/fr_backend_cuda_load.c
CUDA_BUILT := not built here; the programs open $$FR_CUDA_LIB at run time
else
CUDA_ENTRY := common/backend/fr_backend_cuda_none.c
CUDA_BUILT := not built ($(if $(NVCC),CUDA=0,no nvcc found))
endif
endif

LIB_SRC := $(sort $(filter-out common/backend/fr_backend_cuda_none.c common/backend/fr_backend_cuda_load.c,\
	$(wildcard common/*/*.c)) $(CUDA_ENTRY))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
NODE_SRC := $(sort $(wildcard node/*.c))
NODE_OBJ := $(NODE_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# The CUDA backend against the CPU one (`make test-cuda`: tests/gpu/test_cuda_*.c, op by op
# and the model); built by `all` so that they always compile, run only on request: they
# need a GPU and skip without one.
CUDA_TEST := $(patsubst tests/%.c,$(BUILD)/tests/%,$(sort $(wildcard tests/gpu/test_cuda_*.c)))
# Helper programs the shell tests drive (a TLS test server, ...).
TOOL_SRC := $(sort $(wildcard tests/tool_*.c))
TOOL_BIN := $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

COORD_SRC := $(sort $(wildcard coordinator/*.c))
COORD_OBJ := $(COORD_SRC:%.c=$(BUILD)/%.o)

NODE_BIN := $(BUILD)/fedrecall-node
COORD_BIN := $(BUILD)/fedrecall-coordinator
# The node for fault tests: the same objects with tests/fault_drop_after.c in place of
# the product's empty fault points (node/fr_fed_fault.h), so that the shipped node
# carries no test switch.
NODE_FAULTS_BIN := $(BUILD)/tests/fedrecall-node-faults
NODE_FAULTS_OBJ := $(filter-out $(BUILD)/node/fr_fed_fault_none.o,$(NODE_OBJ)) \
	$(BUILD)/tests/fault_drop_after.o

.PHONY: FORCE all deps test test-cuda asan bench demo demo-local clean style fuzz format format-check images
# keep test and bench objects between builds
.SECONDARY:

all: deps $(NODE_BIN) $(NODE_FAULTS_BIN) $(COORD_BIN) $(TEST_BIN) $(TOOL_BIN) $(BENCH_BIN) $(CUDA_TEST) $(CUDA_SO)
	@echo "built: $(NODE_BIN) $(COORD_BIN) (BLAS: OpenBLAS; CUDA backend: $(CUDA_BUILT))"

# The build needs a few Debian packages; install them when we can, else say how.
# Compiler flags are expanded when a recipe runs, so they see the packages installed
# here before the first object is compiled.
deps:
ifneq ($(DEPS_OK),yes)
	@if [ "$$(id -u)" = 0 ]; then deploy/install-deps.sh; else \
	  echo "missing packages: run  sudo deploy/install-deps.sh" >&2; exit 2; fi
endif

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC $<")
	$(Q)$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/common/backend/fr_backend_cuda_load.o: CFLAGS_ALL += \
	-DFR_CUDA_LIB_BUILT='"$(abspath $(BUILD))/libfedrecall_cuda.so"'

# The DP noise's square roots are of positive numbers: without errno to set they run
# in vectors (fr_dp_rng_normals_at); the values are the same.
$(BUILD)/common/privacy/fr_dp_rng.o: CFLAGS_ALL += -fno-math-errno
# The tap products' row updates as one multiply-add each, where ISO C11 keeps a
# multiply and an add apart (fr_backend_cpu_tap.c says why this file alone).
$(BUILD)/common/backend/fr_backend_cpu_tap.o: CFLAGS_ALL += -ffp-contract=fast

# cudart is linked statically into the object (nvcc's default), cuBLAS from the toolkit.
$(CUDA_SO): $(CUDA_OBJ)
	@$(if $(Q),echo "  NVCC $@")
	$(Q)$(NVCC) -shared $(CUDA_ARCH) -o $@ $(CUDA_OBJ) -L$(CUDA_LIB) -Xlinker -rpath,$(CUDA_LIB) \
	  -lcublas

# Switching CUDA between builds in one folder must rebuild the library.
$(BUILD)/cuda-config: FORCE
	@mkdir -p $(dir $@)
	@echo "$(CUDA) $(CUDA_LOADER)" | cmp -s - $@ || echo "$(CUDA) $(CUDA_LOADER)" >$@

$(BUILD)/libfedrecall.a: $(LIB_OBJ) $(BUILD)/cuda-config
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJ)

$(NODE_BIN): $(NODE_OBJ) $(BUILD)/libfedrecall.a
	@$(if $(Q),echo "  LD $@")
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $(NODE_OBJ) $(BUILD)/libfedrecall.a $(LDLIBS_ALL)

$(NODE_FAULTS_BIN): $(NODE_FAULTS_OBJ) $(BUILD)/libfedrecall.a
	@$(if $(Q),echo "  LD $@")
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $(NODE_FAULTS_OBJ) $(BUILD)/libfedrecall.a $(LDLIBS_ALL)

$(COORD_BIN): $(COORD_OBJ) $(BUILD)/libfedrecall.a
	@$(if $(Q),echo "  LD $@")
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $(COORD_OBJ) $(BUILD)/libfedrecall.a $(LDLIBS_ALL)

# The store lives in coordinator/ (fr_store*.c), outside the library; its test links it
# directly (and so do the tests of its quality figures and catalogue confirmations).
STORE_OBJ := $(filter $(BUILD)/coordinator/fr_store%.o,$(COORD_OBJ))
$(BUILD)/tests/test_store $(BUILD)/tests/test_store_metrics \
		$(BUILD)/tests/test_store_catalogue: $(BUILD)/tests/%: $(BUILD)/tests/%.o \
		$(STORE_OBJ) $(BUILD)/libfedrecall.a
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(STORE_OBJ) $(BUILD)/libfedrecall.a $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libfedrecall.a
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libfedrecall.a $(LDLIBS_ALL)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libfedrecall.a
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libfedrecall.a $(LDLIBS_ALL)

test: all
	$(Q)BUILD=$(BUILD) tests/run.sh

# Every binary runs even when one before it fails; the exit status is that of the last
# one that failed.
test-cuda: all
	$(Q)rc=0; for t in $(CUDA_TEST); do $$t || rc=$$?; done; exit $$rc

# CPU-only: nvcc's objects would not be instrumented, and ASan's protected shadow gap
# collides with the CUDA driver's device mappings (it needs protect_shadow_gap=0),
# so a sanitized CUDA program tests neither side well.
asan:
	$(Q)$(MAKE) --no-print-directory test BUILD=build-asan CUDA=0 \
	  OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

bench: all
	$(Q)BUILD=$(BUILD) bench/run.sh

demo: all
	$(Q)BUILD=$(BUILD) deploy/demo.sh

demo-local: all
	$(Q)BUILD=$(BUILD) deploy/demo-local.sh

# libFuzzer targets (tests/fuzz/), built with clang under ASan and UBSan: one per data
# format, over the data module's sources alone, and one per decoder of network input
# (fuzz_proto_* for each wire message, fuzz_secagg_* for secure aggregation's,
# fuzz_modelfile, fuzz_sign), over the sources that decoder needs. `make fuzz
# FUZZ_SECONDS=30` runs each for 30 s. Needs clang, its runtime and libomp:
# FR_WITH_FUZZ=1 deploy/install-deps.sh.
FUZZ_SECONDS ?= 600
COMMON_H := $(wildcard common/*/*.h)
FUZZ_CC ?= clang
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Icommon -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# A decoder that lets a small input allocate gigabytes is missing a cap: the limits
# turn that into a finding rather than a slow run.
FUZZ_RUN := -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1
FUZZ_LIB := common/util/fr_status.c common/data/fr_csv.c common/data/fr_clean.c \
	$(sort $(wildcard common/data/fr_data*.c common/data/fr_format_*.c))
FUZZ_PROTO_LIB := common/util/fr_status.c common/util/fr_mpread.c common/fed/fr_proto.c
FUZZ_MODEL_LIB := common/util/fr_status.c common/util/fr_mpread.c common/nn/fr_model.c common/util/fr_rng.c \
	common/util/fr_file.c common/nn/fr_modelfile.c common/nn/fr_modelfile_load.c \
	$(wildcard common/backend/fr_backend_cpu*.c)
FUZZ_SIGN_LIB := common/util/fr_status.c common/util/fr_file.c common/util/fr_hex.c common/fed/fr_sign.c
FUZZ_SECAGG_MSG_LIB := common/util/fr_status.c common/util/fr_mpread.c common/secagg/fr_secagg_msg.c \
	common/secagg/fr_secagg_check.c
FUZZ_SECAGG_LIB := $(FUZZ_SECAGG_MSG_LIB) common/secagg/fr_secagg.c common/secagg/fr_secagg_shamir.c \
	common/secagg/fr_secagg_client.c common/secagg/fr_secagg_server.c
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
# $(call fuzz_link,pkg-config packages,extra flags): one target from the .c files
# among its prerequisites.
define fuzz_link
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(if $(1),$(shell pkg-config --cflags $(1))) $(2) -o $@ \
	  $(filter %.c,$^) $(if $(1),$(shell pkg-config --libs $(1))) $(2) -lm
endef

$(FUZZ_BUILD)/fuzz_proto_%: tests/fuzz/fuzz_proto_%.c tests/fuzz/fr_fuzz_check.h $(FUZZ_PROTO_LIB) $(COMMON_H)
	$(call fuzz_link,msgpack)

# The CPU backend's OpenMP loops run through clang's libomp; at -O1 clang declines to
# vectorise its `omp simd` loops and says so, which is no fault of the code.
$(FUZZ_BUILD)/fuzz_modelfile: tests/fuzz/fuzz_modelfile.c $(FUZZ_MODEL_LIB) $(COMMON_H)
	$(call fuzz_link,msgpack openblas,-fopenmp -Wno-pass-failed)

# Secure aggregation: one target per message decoder (fuzz_secagg_*), and one that feeds
# the node's and the coordinator's step functions in every stage (fuzz_secagg_steps).
$(FUZZ_BUILD)/fuzz_secagg_steps: tests/fuzz/fuzz_secagg_steps.c tests/fuzz/fr_fuzz_check.h \
	  tests/fuzz/fr_fuzz_secagg_round.h $(FUZZ_SECAGG_LIB) $(COMMON_H)
	$(call fuzz_link,msgpack libsodium)

# The setup message of a federation round carries settings the protocol checks.
$(FUZZ_BUILD)/fuzz_secagg_setup: tests/fuzz/fuzz_secagg_setup.c tests/fuzz/fr_fuzz_check.h \
	  tests/fuzz/fr_fuzz_secagg.h $(FUZZ_SECAGG_MSG_LIB) common/secagg/fr_secagg.c \
	  common/secagg/fr_secagg_encode.c common/secagg/fr_secagg_round.c \
	  common/secagg/fr_secagg_layout.c $(COMMON_H)
	$(call fuzz_link,msgpack libsodium)

$(FUZZ_BUILD)/fuzz_secagg_%: tests/fuzz/fuzz_secagg_%.c tests/fuzz/fr_fuzz_check.h \
	  tests/fuzz/fr_fuzz_secagg.h $(FUZZ_SECAGG_MSG_LIB) $(COMMON_H)
	$(call fuzz_link,msgpack libsodium)

# The living catalogue's decoders: catalogue files and the proposals of a join.
$(FUZZ_BUILD)/fuzz_catalogue: tests/fuzz/fuzz_catalogue.c tests/fuzz/fr_fuzz_check.h \
	  $(FUZZ_MODEL_LIB) common/fed/fr_catver.c common/fed/fr_catver_file.c common/fed/fr_catver_reuse.c \
	  common/fed/fr_proposals.c common/data/fr_unknown.c $(COMMON_H)
	$(call fuzz_link,msgpack openblas,-fopenmp -Wno-pass-failed)

$(FUZZ_BUILD)/fuzz_sign: tests/fuzz/fuzz_sign.c tests/fuzz/fr_fuzz_check.h $(FUZZ_SIGN_LIB) $(COMMON_H)
	$(call fuzz_link,libsodium)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fr_fuzz.h $(FUZZ_LIB) $(COMMON_H)
	$(call fuzz_link,)

# Each target first replays its past findings (tests/fuzz/crashes/TARGET-*), then
# fuzzes. Every target runs even when one before it fails, so that one finding does not
# hide the others; the failures are named at the end.
fuzz: $(FUZZ_BIN)
	$(Q)failed=""; for t in $(FUZZ_BIN); do n=$$(basename $$t); \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n; echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  old=$$(ls tests/fuzz/crashes/$$n-* 2>/dev/null); \
	  if [ -n "$$old" ] && ! $$t $(FUZZ_RUN) $$old; then failed="$$failed $$n"; continue; fi; \
	  $$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN) -artifact_prefix=$(FUZZ_BUILD)/$$n- \
	    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/seeds/$$n || failed="$$failed $$n"; done; \
	if [ -n "$$failed" ]; then echo "fuzz: findings in:$$failed (inputs in $(FUZZ_BUILD)/)" >&2; \
	  exit 1; fi

# One layout for every C, header and CUDA source (.clang-format at the root): `make
# format` rewrites them, `make format-check` (CI) fails naming each file that differs.
FORMAT_SRC = $(sort $(wildcard common/*/*.[ch] common/*/*.cu node/*.[ch] coordinator/*.[ch] \
	tests/*.[ch] tests/*/*.[ch] bench/*.[ch]))
format:
	$(Q)command -v clang-format >/dev/null || FR_WITH_LINT=1 deploy/install-deps.sh
	$(Q)clang-format -i $(FORMAT_SRC)

format-check:
	@mkdir -p $(BUILD)
	$(Q)command -v clang-format >/dev/null || FR_WITH_LINT=1 deploy/install-deps.sh
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRC) 2>&1 | grep '^[^ ].*: error:' | \
	  sed 's/:[0-9]*:[0-9]*: error:.*/: not formatted (make format)/' | sort -u >$(BUILD)/.format-check; \
	  if [ -s $(BUILD)/.format-check ]; then cat $(BUILD)/.format-check >&2; exit 1; fi; \
	  echo "format: $(words $(FORMAT_SRC)) files as .clang-format says"

# Container images (deploy/docker/) with podman or docker: fedrecall-coordinator,
# fedrecall-node and, where the CUDA backend is built, fedrecall-node-gpu, on a Debian
# 12 base made from the archive when the public one cannot be pulled.
images: $(NODE_BIN) $(CUDA_SO)
	$(Q)BUILD=$(BUILD) deploy/images.sh

style:
	$(Q)! grep -nE '\b(strcpy|sprintf|strcat|atoi|atol|gets)\(' common/*/*.c node/*.c coordinator/*.c tests/*.c || \
	  { echo "banned function used" >&2; exit 1; }

# Static checks (tests/lint.sh): the banned functions above, cppcheck over the C sources
# (suppressions with their reasons in .cppcheck-suppressions), files of at most 700
# lines, and the library's layers (tests/cli_layers.sh). Needs no build; cppcheck comes
# with FR_WITH_LINT=1 deploy/install-deps.sh, which it runs when missing (as root).
.PHONY: lint
lint: style
	$(Q)tests/lint.sh

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CUDA_OBJ:.o=.d) $(NODE_OBJ:.o=.d) $(COORD_OBJ:.o=.d) $(TEST_BIN:=.d) $(TOOL_BIN:=.d) \
	$(BENCH_BIN:=.d) $(CUDA_TEST:=.d) $(BUILD)/tests/fault_drop_after.d
