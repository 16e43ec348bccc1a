# pipa: one Makefile, the entry point for everything.
#
#   make demo        install missing Debian packages, build, run the four demos on 4 ranks
#   make test        install, build, run the whole suite (closing line: "N passed, N failed"),
#                    then, where MPI is built, the tests that start ranks again under mpirun
#   make test-asan   the suite again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench       the benchmarks of BENCHMARKS.md
#   make fuzz        the libFuzzer targets, FUZZ_SECONDS (60) each; needs clang
#   make CC=clang    build with clang;  make BLAS=openblas|blis  choose the BLAS library
#   make MPI=0       build without the MPI transport (MPI=auto, the default: built when mpicc is
#                    found; MPI=1: required). Switching MPI in one BUILD rebuilds what depends on it.
#
# Everything is built under $(BUILD) (build/ by default; build-asan/ for the sanitizer run).

CC      ?= cc
BUILD   ?= build
BLAS    ?= openblas
OPT     ?= -O2
CFLAGS  += -std=c11 -g $(OPT) -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -pthread
LDLIBS  += -lm -pthread

ifeq ($(BLAS),blis)
  CFLAGS += -DPIPA_BLAS_BLIS -isystem /usr/include/x86_64-linux-gnu/blis-openmp
  LDLIBS += -lblis
else ifeq ($(BLAS),openblas)
  CFLAGS += -DPIPA_BLAS_OPENBLAS
  LDLIBS += -lopenblas
else
  $(error BLAS must be openblas or blis, not '$(BLAS)')
endif

# ---- MPI: the second transport (src/comm/transport_mpi.c), the only object that includes mpi.h.
# Its flags come from Open MPI's compiler wrapper (mpicc --showme), never from hard-coded paths;
# -isystem so that -Werror judges pipa's code, not MPI's headers. The other objects compile as
# without MPI; transport.c registers the transport (-DPIPA_MPI) and every program links MPI.
MPI ?= auto
ifeq ($(MPI),auto)
  override MPI := $(if $(shell command -v mpicc 2>/dev/null),1,0)
endif
ifeq ($(MPI),1)
  MPI_CFLAGS := $(patsubst -I%,-isystem %,$(shell mpicc --showme:compile 2>/dev/null))
  MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null)
  ifeq ($(strip $(MPI_LIBS)),)
    $(error MPI=1 but 'mpicc --showme:link' gave nothing: install Open MPI (openmpi-bin, libopenmpi-dev; make deps) or build with MPI=0)
  endif
  LDLIBS += $(MPI_LIBS)
else ifneq ($(MPI),0)
  $(error MPI must be auto, 0 or 1, not '$(MPI)')
endif
# A stamp per setting: switching MPI in one BUILD rebuilds transport.o and relinks the programs.
MPI_STAMP := $(BUILD)/obj/mpi-$(MPI).stamp

LIB_SRC   := $(sort $(wildcard src/*/*.c))
ifeq ($(MPI),0)
  LIB_SRC := $(filter-out src/comm/transport_mpi.c src/comm/transport_mpi_%.c,$(LIB_SRC))
endif
LIB_OBJ   := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
# A program is tools/NAME.c (or bench/NAME.c) plus its parts tools/NAME_*.c, if it has any.
TOOL_SRC  := $(filter-out $(wildcard tools/*_*.c),$(sort $(wildcard tools/*.c)))
TOOLS     := $(patsubst tools/%.c,$(BUILD)/%,$(TOOL_SRC))
BENCH_SRC := $(filter-out $(wildcard bench/*_*.c),$(sort $(wildcard bench/*.c)))
BENCHES   := $(patsubst bench/%.c,$(BUILD)/%,$(BENCH_SRC))
TEST_SRC  := $(sort $(wildcard tests/*.c))
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
HEADERS   := $(wildcard src/*/*.h) $(wildcard tests/*.h)

.PHONY: all deps demo test test-asan bench bench-peer clean info fuzz fuzz-build
all: info $(BUILD)/libpipa.a $(TOOLS) $(BENCHES) $(TESTS)

info:
	@echo "pipa: CC=$(CC) BLAS=$(BLAS) BUILD=$(BUILD) MPI=$(MPI)"
	@echo "pipa: transports: shm$(if $(filter 1,$(MPI)), and mpi ($(MPI_LIBS)), (no mpi: MPI=0 or no mpicc found))"
	@echo "pipa: building $(notdir $(TOOLS) $(BENCHES)) and $(words $(TESTS)) test programs"

deps:
	@sh scripts/install-deps.sh

$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(MPI_STAMP):
	@mkdir -p $(dir $@)
	@rm -f $(BUILD)/obj/mpi-*.stamp
	@touch $@

$(BUILD)/obj/comm/transport_mpi.o: CFLAGS += $(MPI_CFLAGS)
$(BUILD)/obj/comm/transport_mpi_%.o: CFLAGS += $(MPI_CFLAGS)
# The vector kernels' loops (src/model/ops_elem.c, ops_rows.c) become vector code only if comparisons may be
# if-converted (no FP traps: pipa never enables them) and, under gcc, a loop with a remainder is
# worth vectorising (-O2's "very cheap" model says no). Neither changes a result's bits.
CC_IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -qi clang && echo 1)
$(BUILD)/obj/model/ops_elem.o $(BUILD)/obj/model/ops_rows.o: CFLAGS += -fno-trapping-math $(if $(CC_IS_CLANG),,-fvect-cost-model=dynamic)
# pipa-bench measures MPI's own point-to-point beside pipa's (bench/pipa-bench_mpi.c)
$(BUILD)/pipa-bench: $(MPI_STAMP)
$(BUILD)/pipa-bench: CFLAGS += $(if $(filter 1,$(MPI)),$(MPI_CFLAGS) -DPIPA_MPI)
$(BUILD)/obj/comm/transport.o: $(MPI_STAMP)
$(BUILD)/obj/comm/transport.o: CFLAGS += $(if $(filter 1,$(MPI)),-DPIPA_MPI)

$(BUILD)/libpipa.a: $(LIB_OBJ) $(MPI_STAMP)
	@rm -f $@
	ar rcs $@ $(LIB_OBJ)

.SECONDEXPANSION:
$(BUILD)/%: tools/%.c $$(wildcard tools/$$*_*.c) $(wildcard tools/*.h) $(BUILD)/libpipa.a $(HEADERS)
	$(CC) $(CFLAGS) -Itools $(filter %.c,$^) $(BUILD)/libpipa.a -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/%: bench/%.c $$(wildcard bench/$$*_*.c) $(wildcard bench/*.h) $(BUILD)/libpipa.a $(HEADERS)
	$(CC) $(CFLAGS) -Ibench $(filter %.c,$^) $(BUILD)/libpipa.a -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libpipa.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< $(BUILD)/libpipa.a -o $@ $(LDFLAGS) $(LDLIBS)

demo: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/pipa-run --nproc-per-node=4 $(BUILD)/pipa-demo

# Two passes: every test over shm (pipa-run); then, where MPI is built, every test that starts
# ranks again under mpirun (tests/run.sh's mpi pass). Both run even when the first fails.
test: deps
	@$(MAKE) --no-print-directory all
	@echo "pipa: the shm pass (pipa-run)"; sh tests/run.sh $(BUILD); shm=$$?; \
	if [ "$(MPI)" = 1 ]; then echo "pipa: the mpi pass (mpirun)"; \
	    PIPA_TEST_TRANSPORT=mpi sh tests/run.sh $(BUILD); mpi=$$?; \
	else echo "pipa: the mpi pass: not built (MPI=0 or no mpicc found)"; mpi=0; fi; \
	[ $$shm -eq 0 ] && [ $$mpi -eq 0 ]

test-asan: deps
	@$(MAKE) --no-print-directory all BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" LDFLAGS="-fsanitize=address,undefined"
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 PIPA_TEST_SCALE=asan sh tests/run.sh build-asan

bench: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/pipa-run -n 2 --bind $(BUILD)/pipa-bench p2p
	$(BUILD)/pipa-run -n 2 --bind $(BUILD)/pipa-bench pipeline

# pipa against its PyTorch peer on issue 10's work, alternating (bench/peers/compare.py);
# PEER_ARGS=--quick for a tiny model in seconds, --only NAME,... for some rows (--list)
bench-peer: deps
	@$(MAKE) --no-print-directory all
	sh bench/peers/compare.sh --build $(BUILD) $(PEER_ARGS)

# ---- fuzzing: clang's libFuzzer, outside `all`, so a gcc-only machine builds as before -------
#   make fuzz        build every tests/fuzz/fuzz_*.c into build-fuzz/ and run each FUZZ_SECONDS
#                    seconds on a scratch copy of its seeds (tests/fuzz/run.sh; `make test` runs
#                    a short fixed-seed pass of each, or says it skipped them)
FUZZ_SECONDS ?= 60
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

fuzz:
	@sh tests/fuzz/run.sh --seconds $(FUZZ_SECONDS)

# Called by tests/fuzz/run.sh with BUILD=build-fuzz, CC=clang and the sanitizer flags.
fuzz-build: $(FUZZ_BINS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libpipa.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libpipa.a -o $@ $(LDFLAGS) $(LDLIBS)

clean:
	rm -rf build build-asan build-clang build-fuzz
