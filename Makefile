# inferlb - XDP load balancer for AI inference traffic.
#
#   make            install missing Debian packages, then build everything
#   make test       build and run every test (root: BPF and network namespaces)
#   make bench      build and run the benchmarks (figures with same-run baselines)
#   make bench-e2e  the simulated GPU fleet end to end, against what users pick instead
#   make bench-cluster  load-aware steering over 3 balancer hosts vs 1 (namespaces)
#   make man        the man pages: man/*.scd -> build/man/ (scdoc)
#   make fuzz       fuzz the parsers (FUZZ_SECONDS per target; make test: FUZZ_TEST_SECONDS)
#   make demo       build and run the main job on this machine (namespaces)
#   make demo-cluster  3 balancer hosts behind a BGP router's ECMP (namespaces)
#   make deb        the Debian package (debian/) -> build/deb/inferlb_*.deb
#   make test-package  build it, install it here, check, purge (root)
#   make clean
#
# BPF objects: bpf/*.bpf.c -> build/bpf/*.bpf.o (clang -target bpf -g, so
# every map carries BTF) -> build/*.skel.h (bpftool gen skeleton).
# Userspace, by layer (each only includes the layers below it):
#   lib/*.c    -> build/libinferlb.a: opens, reads and writes the maps, builds
#                 tables (lbctl, lb-agent, tests, bench and examples link it)
#   cli/*.c    -> build/lbctl: the operator's CLI over the library
#   agent/*.c  -> build/libagent.a + build/lb-agent: the daemon
#   tools/     -> simulators and test clients (HTTP/TCP only, no project code)

BUILD   := build
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

CFLAGS  ?= -O2 -g
NL_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0 2>/dev/null || echo -I/usr/include/libnl3)
NL_LIBS   := $(shell pkg-config --libs libnl-route-3.0 2>/dev/null || echo -lnl-route-3 -lnl-3)
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Iinclude -I$(BUILD) $(NL_CFLAGS)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Werror -Iinclude -Ibpf -I$(ARCH_INC)
# What each layer links: the library needs libbpf and libnl (and libyaml
# for the topology file); the agent adds libcurl, libcap, libmicrohttpd and
# libcrypt (bcrypt for /metrics basic auth).
LIB_LDLIBS := -lbpf -lelf -lz $(NL_LIBS) $(shell pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml) -lm
# lib/lb_etcd.c (the agent's cluster mode) needs libcurl and json-c: only
# binaries that call it link them (the library is a static archive).
JSON_CFLAGS := $(shell pkg-config --cflags json-c 2>/dev/null || echo -I/usr/include/json-c)
JSON_LIBS   := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)
# agent/dns.c: c-ares, and glibc's libresolv for the TTLs of SRV records
CARES_LIBS := $(shell pkg-config --libs libcares 2>/dev/null || echo -lcares) -lresolv
# agent/sdnotify.c: readiness and watchdog for lb-agent.service (sd_notify)
SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
AGENT_LIBS := $(shell pkg-config --libs libcurl libcap 2>/dev/null || echo -lcurl -lcap) -lcrypt $(JSON_LIBS) \
	      $(CARES_LIBS) $(SYSTEMD_LIBS)
LDLIBS  := $(LIB_LDLIBS) -lpthread $(AGENT_LIBS)

BPF_SRCS   := $(wildcard bpf/*.bpf.c) $(wildcard bench/*.bpf.c)
BPF_OBJS   := $(patsubst %.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst %.bpf.c,$(BUILD)/%.skel.h,$(notdir $(BPF_SRCS)))
SKELS      := $(addprefix $(BUILD)/,$(notdir $(SKELS)))
BPF_HDRS   := $(wildcard bpf/*.h) $(wildcard include/*.h) $(wildcard bench/*.h)

AGENT_SRCS := $(filter-out agent/main.c,$(wildcard agent/*.c))
AGENT_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(AGENT_SRCS))
AGENT_LIB  := $(BUILD)/libagent.a
LIB_SRCS   := $(wildcard lib/*.c)
LIB_HDRS   := $(wildcard lib/*.h) $(wildcard include/*.h)
CLI_SRCS   := $(wildcard cli/*.c)
CLI_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRCS))
LIB_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB        := $(BUILD)/libinferlb.a

LBCTL      := $(BUILD)/lbctl
AGENT      := $(BUILD)/lb-agent
TEST_UNIT  := $(BUILD)/tests/test_maglev $(BUILD)/tests/test_print $(BUILD)/tests/test_prom \
	      $(BUILD)/tests/test_policy $(BUILD)/tests/test_config $(BUILD)/tests/test_poll \
	      $(BUILD)/tests/test_maps $(BUILD)/tests/test_speed $(BUILD)/tests/test_cluster \
	      $(BUILD)/tests/test_discovery $(BUILD)/tests/test_registry
TEST_ROOT  := $(BUILD)/tests/test_datapath $(BUILD)/tests/test_hitless $(BUILD)/tests/test_admission \
	      $(BUILD)/tests/test_dp_errors $(BUILD)/tests/test_ops $(BUILD)/tests/test_nexthop_sync \
	      $(BUILD)/tests/test_secondchance
TEST_HELPERS := $(BUILD)/tests/testlib.o
TEST_DRIVERS := $(BUILD)/tests/neigh_probe $(BUILD)/tests/dns_probe
# BPF objects only tests load (tests/*.bpf.c)
TEST_BPF   := $(BUILD)/tests/upgrade_shape.bpf.o
BENCHES    := $(BUILD)/bench/bench_maglev $(BUILD)/bench/bench_xdp $(BUILD)/bench/bench_prom \
	      $(BUILD)/bench/bench_react $(BUILD)/bench/bench_httpfloor $(BUILD)/bench/bench_ops \
	      $(BUILD)/bench/bench_chain
TOOLS      := $(BUILD)/examples/dp_demo $(BUILD)/tools/e2e/httpd $(BUILD)/tools/e2e/conns \
	      $(BUILD)/tools/e2e/synflood $(BUILD)/tools/gpusim $(BUILD)/tools/fleetsim $(BUILD)/tools/loadgen
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

.PHONY: all deps build deb test-package test bench bench-e2e bench-cluster demo demo-cluster demo-datapath fuzz man clean
.DELETE_ON_ERROR:
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory build

# Installs whatever Debian packages are missing (a no-op when all are there).
deps:
	@scripts/install-deps.sh

build: $(SKELS) $(LIB) $(LBCTL) $(AGENT) $(TEST_UNIT) $(TEST_ROOT) $(TEST_DRIVERS) $(TEST_BPF) $(BENCHES) $(TOOLS)

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/bench/%.bpf.o: bench/%.bpf.c $(BPF_HDRS) | $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/tests/%.bpf.o: tests/%.bpf.c $(BPF_HDRS) | $(BUILD)/tests
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# One skeleton per BPF object, named after it (lb.skel.h -> struct lb_bpf).
$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@
$(BUILD)/%.skel.h: $(BUILD)/bench/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(BUILD)/lib/%.o: lib/%.c $(LIB_HDRS) $(SKELS) | $(BUILD)/lib
	$(CC) $(CFLAGS) $(JSON_CFLAGS) -Ilib -c $< -o $@
$(LIB): $(LIB_OBJS)
	rm -f $@; $(AR) rcs $@ $^

# The agent's parts (libagent.a), linked by the tests and, later, lb-agent.
$(BUILD)/agent/%.o: agent/%.c $(wildcard agent/*.h) $(LIB_HDRS) $(SKELS) | $(BUILD)/agent
	$(CC) $(CFLAGS) $(MHD_CFLAGS) $(JSON_CFLAGS) -Ilib -Iagent -c $< -o $@
$(AGENT_LIB): $(AGENT_OBJS)
	rm -f $@; $(AR) rcs $@ $^

# lbctl: the operator's CLI (cli/) over the library.
# (the library only: no agent header, no agent object)
$(BUILD)/cli/%.o: cli/%.c $(wildcard cli/*.h) $(LIB_HDRS) | $(BUILD)/cli
	$(CC) $(CFLAGS) -Ilib -Icli -c $< -o $@
# (lbctl register talks to etcd through lib/lb_etcd.c: libcurl and json-c)
$(LBCTL): $(CLI_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIB_LDLIBS) $(CURL_LIBS) $(JSON_LIBS)

# lb-agent: the daemon (agent/main.c) over libagent.a and the library.
# jemalloc: libcurl allocates and frees a good deal per transfer, and glibc's
# malloc was a fifth of the agent's CPU at 1,000 workers (perf); jemalloc
# took 5-12% off the agent's total in make bench (agent CPU at 1,000 workers).
$(AGENT): $(BUILD)/agent/main.o $(AGENT_LIB) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(MHD_LIBS) -ljemalloc

$(BUILD)/tests/%.o: tests/%.c $(wildcard tests/*.h) $(LIB_HDRS) $(wildcard cli/*.h) $(wildcard agent/*.h) $(SKELS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(JSON_CFLAGS) -Itests -Ilib -Icli -Iagent -c $< -o $@
# (test_print links lbctl's output module)
$(BUILD)/tests/test_print: $(BUILD)/cli/lb_print.o
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_HELPERS) $(AGENT_LIB) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(MHD_LIBS) -lcmocka -lm
# drivers that shell tests run inside network namespaces
$(BUILD)/tests/neigh_probe: $(BUILD)/tests/neigh_probe.o $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LIB_LDLIBS)
$(BUILD)/tests/dns_probe: $(BUILD)/tests/dns_probe.o $(AGENT_LIB) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench/%.o: bench/%.c $(SKELS) $(LIB_HDRS) $(wildcard tests/*.h) $(wildcard bench/*.h) | $(BUILD)/bench
	$(CC) $(CFLAGS) -Itests -Ilib -c $< -o $@
$(BUILD)/bench/bench_%: $(BUILD)/bench/bench_%.o $(TEST_HELPERS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LIB_LDLIBS) $(BENCH_LDLIBS)
# (bench_react reads the agent's /metrics over HTTP)
$(BUILD)/bench/bench_react: BENCH_LDLIBS := -lcurl

# the simulated GPU inference worker
$(BUILD)/tools/gpusim: $(wildcard tools/gpusim/*.c) $(wildcard tools/gpusim/*.h) $(wildcard tools/simhttp/*) | $(BUILD)/tools
	$(CC) $(CFLAGS) $(MHD_CFLAGS) -Itools/simhttp $(filter %.c,$^) -o $@ $(MHD_LIBS) -lpthread -lm

# many simulated workers' metrics/health endpoints in one process (bench)
$(BUILD)/tools/fleetsim: tools/fleetsim/fleetsim.c $(wildcard tools/simhttp/*) | $(BUILD)/tools
	$(CC) $(CFLAGS) $(MHD_CFLAGS) -Itools/simhttp $(filter %.c,$^) -o $@ $(MHD_LIBS) -lpthread -lm

# the streaming inference load generator (TTFT percentiles), libcurl multi
$(BUILD)/tools/loadgen: $(wildcard tools/loadgen/*.c) $(wildcard tools/loadgen/*.h) | $(BUILD)/tools
	$(CC) $(CFLAGS) $(filter %.c,$^) -o $@ -lcurl -lm

# Prometheus parser throughput (agent sources only)
$(BUILD)/bench/bench_prom: bench/bench_prom.c agent/prom.c agent/engine.c $(wildcard agent/*.h) | $(BUILD)/bench
	$(CC) $(CFLAGS) -Iagent $(filter %.c,$^) -o $@ -lm

# the floor under the agent's polling cost: raw keep-alive GETs (+ parse)
$(BUILD)/bench/bench_httpfloor: bench/bench_httpfloor.c agent/prom.c agent/engine.c $(wildcard agent/*.h) | $(BUILD)/bench
	$(CC) $(CFLAGS) -Iagent $(filter %.c,$^) -o $@ -lm

# test-network tools (no project libraries)
$(BUILD)/tools/e2e/%: tools/e2e/%.c | $(BUILD)/tools/e2e
	$(CC) $(CFLAGS) $< -o $@ -lm -lpthread

# examples: programs over the library and the test helpers
$(BUILD)/examples/%.o: examples/%.c $(SKELS) $(LIB_HDRS) $(wildcard tests/*.h) | $(BUILD)/examples
	$(CC) $(CFLAGS) -Itests -Ilib -c $< -o $@
$(BUILD)/examples/%: $(BUILD)/examples/%.o $(TEST_HELPERS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LIB_LDLIBS)

$(BUILD)/bpf $(BUILD)/bench $(BUILD)/lib $(BUILD)/cli $(BUILD)/agent $(BUILD)/tests $(BUILD)/tools $(BUILD)/tools/e2e $(BUILD)/examples:
	mkdir -p $@

test: deps
	@$(MAKE) --no-print-directory build $(FUZZ_BINS)
	@FUZZ_TEST_SECONDS=$(FUZZ_TEST_SECONDS) tests/run.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)

# End to end: a simulated GPU fleet behind inferlb (+ agent) against static
# weights, rr, least-conn, HAProxy and an nftables balancer (installs them).
bench-e2e: deps
	@$(MAKE) --no-print-directory build
	@bench/e2e.sh $(BUILD)

# The same kind of fleet behind 1 and behind 3 hosts (BIRD + ECMP, lb-agent
# in cluster mode through etcd): goodput 3 hosts vs 1 host.
bench-cluster: deps
	@$(MAKE) --no-print-directory build
	@bench/cluster.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory build
	@tools/demo.sh $(BUILD)

# Three balancer hosts behind a BGP router's ECMP (BIRD 2), a host
# leaving and coming back under live streams (namespaces).
demo-cluster: deps
	@$(MAKE) --no-print-directory build
	@tools/demo-cluster.sh $(BUILD)

# The datapath alone, through BPF_PROG_TEST_RUN (no network needed).
demo-datapath: deps
	@$(MAKE) --no-print-directory build
	@$(BUILD)/examples/dp_demo

# Fuzz the parsers that read untrusted text: /metrics scrapes, config
# files, the addresses operators type (libFuzzer, ASan + UBSan).
# FUZZ_SECONDS per target (default 60) for `make fuzz`; make test runs each
# target FUZZ_TEST_SECONDS (default 10) after its corpus (fuzz/corpus/, in
# the repository; fuzz/README.md). Crashes are written to build/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 10
FUZZ_BINS := $(BUILD)/fuzz/fuzz_prom $(BUILD)/fuzz/fuzz_config $(BUILD)/fuzz/fuzz_addr
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-std=gnu11 -Iinclude -Ilib -Iagent -I$(BUILD) $(NL_CFLAGS)
FUZZ_PROM_SRCS := agent/prom.c agent/engine.c
# the agent's config over the library's YAML tree and topology parser
FUZZ_CONFIG_SRCS := agent/config.c agent/announce_conf.c agent/discover_conf.c agent/policy.c agent/engine.c agent/prom.c \
	lib/lb_yaml.c lib/lb_topo.c lib/lb_addr.c lib/lb_names.c lib/lb_maglev.c \
	lib/lb_announce_check.c lib/lb_msg.c
$(BUILD)/fuzz/fuzz_prom: fuzz/fuzz_prom.c $(FUZZ_PROM_SRCS) $(wildcard agent/*.h) | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@ -lm
$(BUILD)/fuzz/fuzz_config: fuzz/fuzz_config.c $(FUZZ_CONFIG_SRCS) $(wildcard agent/*.h) $(LIB_HDRS) | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@ -lyaml -lm
# the strings operators type: addresses, VIPs, durations, enum names
$(BUILD)/fuzz/fuzz_addr: fuzz/fuzz_addr.c lib/lb_addr.c lib/lb_names.c $(LIB_HDRS) | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@
$(BUILD)/fuzz:
	mkdir -p $@

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@fuzz/run.sh $(BUILD) $(FUZZ_SECONDS)

# Man pages, scdoc source -> roff: lbctl(8), lb-agent(8),
# inferlb-fleet.yaml(5) (tests/test_manpages.sh checks them against
# `lbctl help`, `lb-agent --help` and the config parser's keys).
MAN_PAGES := $(patsubst man/%.scd,$(BUILD)/man/%,$(wildcard man/*.scd))
man: $(MAN_PAGES)
$(BUILD)/man/%: man/%.scd | $(BUILD)/man
	scdoc < $< > $@
$(BUILD)/man:
	mkdir -p $@

# The Debian package (debhelper, debian/): built by dpkg-buildpackage in a
# copy of the tree under build/deb/src/ (it writes its output to the
# parent directory, so nothing lands outside build/), then moved to
# build/deb/. The version's one home is LBCTL_VERSION (cli/main.c);
# debian/changelog must say the same, or nothing is built.
LB_VERSION = $(shell sed -n 's/^\#define LBCTL_VERSION "\(.*\)"/\1/p' cli/main.c)
deb: deps
	@v=$$(dpkg-parsechangelog -S Version); \
	if [ "$$v" != "$(LB_VERSION)" ]; then \
		echo "Error: debian/changelog says $$v, cli/main.c's LBCTL_VERSION $(LB_VERSION)" >&2; \
		exit 1; fi
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/src/inferlb-$(LB_VERSION)
	tar -cf - --exclude=./$(BUILD) --exclude=./.git . | \
		tar -xf - -C $(BUILD)/deb/src/inferlb-$(LB_VERSION)
	cd $(BUILD)/deb/src/inferlb-$(LB_VERSION) && \
		dpkg-buildpackage -us -uc -b -j2 >../build.log 2>&1 || \
		{ tail -40 ../build.log >&2; exit 1; }
	mv $(BUILD)/deb/src/inferlb*_$(LB_VERSION)_* $(BUILD)/deb/
	rm -rf $(BUILD)/deb/src/inferlb-$(LB_VERSION)
	@ls $(BUILD)/deb/*.deb

# Build the package, install it on this machine, check the installed
# files, units and programs, purge it and check nothing is left
# (tests/test_package.sh; root).
test-package: deb
	@tests/test_package.sh $(BUILD)

clean:
	rm -rf $(BUILD)
