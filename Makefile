# lossplug: set-up, build and tests in one command on a fresh Debian machine.
#
#   make demo            install what is missing, build, train CartPole with PPO until solved
#   make test            install what is missing, build and run ctest, plain and with ASan+UBSan
#   make valgrind        ctest of the plain build under valgrind memcheck
#   make install PREFIX=/opt/lossplug
#   make format | format-check | clean
#
# Recipes run with umask 022: the loader refuses plugins in group- or
# other-writable directories, by design.

# Debian packages the build, the tests and the tools need (one list).
DEB_PACKAGES := cmake make gcc pkg-config libyaml-dev libopenblas-dev libcmocka-dev \
                valgrind clang-format python3 libopenmpi-dev openmpi-bin

# Quiet recursive make: no "Entering directory" lines around the build.
MAKEFLAGS += --no-print-directory

BUILD_DIR := build
ASAN_DIR := build-asan
BUILD_TYPE := RelWithDebInfo
JOBS := -j2
PREFIX ?= /usr/local
# liblossplug-mpi and the multi-process tests: AUTO (when Open MPI is
# found), ON (required: CI), OFF.
LP_MPI ?= AUTO

CMAKE ?= cmake
CTEST ?= ctest
CLANG_FORMAT ?= clang-format
VALGRIND_OPTIONS := --leak-check=full --errors-for-leak-kinds=definite,indirect \
                    --error-exitcode=99

# Every C source and header of ours (not the build trees).
C_FILES = $(shell find sdk host plugins tests examples bench -name '*.[ch]' 2>/dev/null | sort)

# configure + build: $(call lp_build,DIR,EXTRA CMAKE ARGS)
lp_build = $(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLP_MPI=$(LP_MPI) $(2) && \
           $(CMAKE) --build $(1) $(JOBS)

.PHONY: all deps build build-asan demo test valgrind install format format-check clean help

all: build

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

# Install missing Debian packages when root; otherwise say how, and fail.
deps:
	@missing=; \
	for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then \
	    echo "==> installing missing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else \
	    echo "lossplug: missing Debian packages:$$missing" >&2; \
	    echo "Install them, then run make again:" >&2; \
	    echo "    sudo apt-get install -y$$missing" >&2; \
	    exit 1; \
	fi

build: deps
	@umask 022 && $(call lp_build,$(BUILD_DIR),-DLP_SANITIZE=OFF)

build-asan: deps
	@umask 022 && $(call lp_build,$(ASAN_DIR),-DLP_SANITIZE=ON)

demo: build
	@umask 022; echo; \
	echo "==> cartpole-train examples/cartpole/ppo.yaml: PPO on CartPole-v1 until the mean return of the last 100 episodes reaches 475"; \
	OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1} ./$(BUILD_DIR)/bin/cartpole-train examples/cartpole/ppo.yaml --until-return 475

# Both builds always run; the summary says which failed, the exit code is
# non-zero if any did.
test: deps
	@umask 022; plain="FAILED (build)"; asan="FAILED (build)"; \
	echo "==> plain build ($(BUILD_DIR)/, $(BUILD_TYPE))"; \
	if $(call lp_build,$(BUILD_DIR),-DLP_SANITIZE=OFF); then \
	    plain="FAILED (tests)"; \
	    if (cd $(BUILD_DIR) && $(CTEST) --output-on-failure $(JOBS)); then plain=passed; fi; \
	fi; \
	echo "==> sanitizer build ($(ASAN_DIR)/, ASan + UBSan)"; \
	if $(call lp_build,$(ASAN_DIR),-DLP_SANITIZE=ON); then \
	    asan="FAILED (tests)"; \
	    if (cd $(ASAN_DIR) && $(CTEST) --output-on-failure $(JOBS)); then asan=passed; fi; \
	fi; \
	echo; echo "==> make test summary"; \
	echo "    plain build and tests ($(BUILD_DIR)/):          $$plain"; \
	echo "    sanitizer build and tests ($(ASAN_DIR)/): $$asan"; \
	test "$$plain" = passed && test "$$asan" = passed

# Compiled tests run under ctest's memcheck; the shell-script tests (label
# "script") run the CLI under valgrind through LP_TEST_WRAPPER instead of
# valgrinding the shell; the install test (label "install") is skipped, and
# so are the multi-process tests (label "mpi"): valgrind cannot follow
# mpirun's children, and Open MPI's own start-up is not ours to check.
valgrind: build
	@umask 022; cd $(BUILD_DIR) && \
	$(CTEST) -T memcheck -LE 'script|mpi' $(JOBS) --output-on-failure \
	    --overwrite MemoryCheckCommand="$$(command -v valgrind)" \
	    --overwrite MemoryCheckCommandOptions="$(VALGRIND_OPTIONS)" && \
	LP_TEST_WRAPPER="valgrind -q $(VALGRIND_OPTIONS)" \
	    $(CTEST) -L script -LE 'install|mpi' $(JOBS) --output-on-failure

install: build
	@umask 022 && $(CMAKE) --install $(BUILD_DIR) --prefix "$(PREFIX)"

format:
	$(CLANG_FORMAT) -i $(C_FILES)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(C_FILES) && echo "format-check: $(words $(C_FILES)) files formatted"

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
