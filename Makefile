# inferlb - XDP load balancer for AI inference traffic.
#
#   make            install missing Debian packages, then build everything
#   make test       build and run every test (root: BPF and network namespaces)
#   make bench      build and run the benchmarks (figures with same-run baselines)
#   make demo       build and run the main job on this machine (namespaces)
#   make clean
#
# BPF objects: bpf/*.bpf.c -> build/bpf/*.bpf.o (clang -target bpf -g, so
# every map carries BTF) -> build/*.skel.h (bpftool gen skeleton).
# Userspace: ctl/*.c -> build/libinferlb.a, linked by tests, bench and tools.

BUILD   := build
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

CFLAGS  ?= -O2 -g
NL_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0 2>/dev/null || echo -I/usr/include/libnl3)
NL_LIBS   := $(shell pkg-config --libs libnl-route-3.0 2>/dev/null || echo -lnl-route-3 -lnl-3)
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Iinclude -Ictl -I$(BUILD) $(NL_CFLAGS)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Werror -Iinclude -Ibpf -I$(ARCH_INC)
LDLIBS  := -lbpf -lelf -lz -lpthread $(NL_LIBS)

BPF_SRCS   := $(wildcard bpf/*.bpf.c) $(wildcard bench/*.bpf.c)
BPF_OBJS   := $(patsubst %.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst %.bpf.c,$(BUILD)/%.skel.h,$(notdir $(BPF_SRCS)))
SKELS      := $(addprefix $(BUILD)/,$(notdir $(SKELS)))
BPF_HDRS   := $(wildcard bpf/*.h) $(wildcard include/*.h) $(wildcard bench/*.h)

AGENT_SRCS := $(wildcard agent/*.c)
AGENT_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(AGENT_SRCS))
AGENT_LIB  := $(BUILD)/libagent.a
LIB_SRCS   := $(wildcard ctl/lb_*.c)
LIB_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB        := $(BUILD)/libinferlb.a

LBCTL      := $(BUILD)/lbctl
TEST_UNIT  := $(BUILD)/tests/test_maglev $(BUILD)/tests/test_print $(BUILD)/tests/test_prom \
	      $(BUILD)/tests/test_policy
TEST_ROOT  := $(BUILD)/tests/test_datapath $(BUILD)/tests/test_hitless
TEST_HELPERS := $(BUILD)/tests/testlib.o
TEST_DRIVERS := $(BUILD)/tests/neigh_probe
BENCHES    := $(BUILD)/bench/bench_maglev $(BUILD)/bench/bench_xdp
TOOLS      := $(BUILD)/tools/dp_demo $(BUILD)/tools/e2e/httpd $(BUILD)/tools/e2e/conns \
	      $(BUILD)/tools/gpusim
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

.PHONY: all deps build test bench demo demo-datapath clean
.DELETE_ON_ERROR:
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory build

# Installs whatever Debian packages are missing (a no-op when all are there).
deps:
	@scripts/install-deps.sh

build: $(SKELS) $(LIB) $(LBCTL) $(TEST_UNIT) $(TEST_ROOT) $(TEST_DRIVERS) $(BENCHES) $(TOOLS)

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/bench/%.bpf.o: bench/%.bpf.c $(BPF_HDRS) | $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# One skeleton per BPF object, named after it (lb.skel.h -> struct lb_bpf).
$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@
$(BUILD)/%.skel.h: $(BUILD)/bench/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(BUILD)/ctl/%.o: ctl/%.c $(wildcard ctl/*.h) $(wildcard include/*.h) $(SKELS) | $(BUILD)/ctl
	$(CC) $(CFLAGS) -c $< -o $@
$(LIB): $(LIB_OBJS)
	$(AR) rcs $@ $^

# The agent's parts (libagent.a), linked by the tests and, later, lb-agent.
$(BUILD)/agent/%.o: agent/%.c $(wildcard agent/*.h) $(wildcard include/*.h) | $(BUILD)/agent
	$(CC) $(CFLAGS) -Iagent -c $< -o $@
$(AGENT_LIB): $(AGENT_OBJS)
	$(AR) rcs $@ $^

# lbctl: the operator's CLI (ctl/lbctl.c) over the ctl library.
$(LBCTL): $(BUILD)/ctl/lbctl.o $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c $(wildcard tests/*.h) $(wildcard ctl/*.h) $(wildcard agent/*.h) $(SKELS) $(wildcard include/*.h) | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests -Iagent -c $< -o $@
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_HELPERS) $(LIB) $(AGENT_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) -lcmocka -lm
# drivers that shell tests run inside network namespaces
$(BUILD)/tests/neigh_probe: $(BUILD)/tests/neigh_probe.o $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench/%.o: bench/%.c $(SKELS) $(wildcard include/*.h) $(wildcard tests/*.h) $(wildcard ctl/*.h) $(wildcard bench/*.h) | $(BUILD)/bench
	$(CC) $(CFLAGS) -Itests -c $< -o $@
$(BUILD)/bench/bench_%: $(BUILD)/bench/bench_%.o $(TEST_HELPERS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) -lm

# the simulated GPU inference worker
$(BUILD)/tools/gpusim: $(wildcard tools/gpusim/*.c) $(wildcard tools/gpusim/*.h) | $(BUILD)/tools
	$(CC) $(CFLAGS) $(MHD_CFLAGS) $(filter %.c,$^) -o $@ $(MHD_LIBS) -lpthread -lm

# test-network tools (no project libraries)
$(BUILD)/tools/e2e/%: tools/e2e/%.c | $(BUILD)/tools/e2e
	$(CC) $(CFLAGS) $< -o $@ -lm

$(BUILD)/tools/%.o: tools/%.c $(SKELS) $(wildcard include/*.h) $(wildcard tests/*.h) $(wildcard ctl/*.h) | $(BUILD)/tools
	$(CC) $(CFLAGS) -Itests -c $< -o $@
$(BUILD)/tools/%: $(BUILD)/tools/%.o $(TEST_HELPERS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bpf $(BUILD)/bench $(BUILD)/ctl $(BUILD)/agent $(BUILD)/tests $(BUILD)/tools $(BUILD)/tools/e2e:
	mkdir -p $@

test: deps
	@$(MAKE) --no-print-directory build
	@tests/run.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory build
	@tools/demo.sh $(BUILD)

# The datapath alone, through BPF_PROG_TEST_RUN (no network needed).
demo-datapath: deps
	@$(MAKE) --no-print-directory build
	@$(BUILD)/tools/dp_demo

clean:
	rm -rf $(BUILD)
