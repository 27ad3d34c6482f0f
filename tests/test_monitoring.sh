#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_monitoring.sh - the Grafana dashboard and the Prometheus alert rules
# (monitoring/) use only what lb-agent really exports, and the rules do what
# their unit tests say:
#
#  a. monitoring/grafana/inferlb.json is valid JSON, what its generator
#     (inferlb-dashboard.py) writes, and an importable
#     dashboard: schemaVersion of Grafana 9/10, a DS_PROMETHEUS input, a
#     datasource variable every panel and variable uses, job / instance /
#     vip variables, unique panel ids; every panel query parses as PromQL
#     (promtool, through a scratch rule file);
#  b. every metric name in the dashboard's queries, the alert rules and the
#     rules' unit tests is one lb-agent's /metrics has: the list comes from
#     a real scrape (an agent on pinned maps in a namespace of its own, with
#     a VIP, a backend, a DNS discovery source, announce and cluster mode
#     on, so every family appears), and so do the label values the queries
#     match literally (state, reason, result, outcome, endpoint, of). `up`
#     is Prometheus' own. Without root the names come from the C sources
#     instead (see exported_from_sources) and the label values go unchecked;
#  c. `promtool check rules` and `promtool test rules` pass (skipped, with a
#     message, when promtool is not installed).
# Every wait is bounded; the namespace, pins and agent go on exit.
# Usage: tests/test_monitoring.sh [BUILD_DIR]
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"
dash=$root/monitoring/grafana/inferlb.json
rules=$root/monitoring/prometheus/inferlb-alerts.yml
rtest=$root/monitoring/prometheus/inferlb-alerts.test.yml
lbctl=$build/lbctl
agent=$build/lb-agent
ns=mon-$$
pins=/sys/fs/bpf/mon-$$
tmp=$(mktemp -d)
AGENT_PID=
PASSES=0
FAILS=0

cleanup() {
	trap - EXIT INT TERM
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	if [ -e "/run/netns/$ns" ]; then
		nsenter --net="/run/netns/$ns" "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
	fi
	rm -rf "$pins" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	if [ "$FAILS" -ne 0 ] && [ -f "$tmp/agent.log" ]; then
		echo "---- agent log (last 20 lines)"
		tail -20 "$tmp/agent.log"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }

# ---- a. the dashboard -----------------------------------------------------
if ! python3 -m json.tool "$dash" >/dev/null 2>"$tmp/json.err"; then
	bad "a. $dash is not valid JSON: $(cat "$tmp/json.err")"
	echo "test_monitoring: $PASSES passed, $FAILS failed"
	exit 1
fi
ok "a. the dashboard is valid JSON ($(wc -c <"$dash") bytes)"

# the JSON is generated: its source must say the same
if python3 "$root/monitoring/grafana/inferlb-dashboard.py" >"$tmp/gen.json" &&
	cmp -s "$tmp/gen.json" "$dash"; then
	ok "a. inferlb.json is what monitoring/grafana/inferlb-dashboard.py writes"
else
	bad "a. inferlb.json differs from monitoring/grafana/inferlb-dashboard.py's output: regenerate it"
fi

# the shape Grafana's import needs, and the queries (panel expr, then
# variable queries) one a line into $tmp/dash.exprs
if out=$(python3 - "$dash" "$tmp/dash.exprs" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
err = []
if not (36 <= d.get("schemaVersion", 0) <= 39):
    err.append("schemaVersion %s is not Grafana 9/10's (36..39)" % d.get("schemaVersion"))
if not any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus"
           for i in d.get("__inputs", [])):
    err.append("no DS_PROMETHEUS datasource input")
tv = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
for n in ("datasource", "job", "instance", "vip"):
    if n not in tv:
        err.append("no template variable %s" % n)
if tv.get("datasource", {}).get("current", {}).get("value") != "${DS_PROMETHEUS}":
    err.append("the datasource variable does not default to ${DS_PROMETHEUS}")
ds = {"type": "prometheus", "uid": "${datasource}"}
ids, exprs, n = set(), [], 0
for p in d.get("panels", []):
    for q in [p] + p.get("panels", []):
        if q.get("id") in ids:
            err.append("panel id %s twice" % q.get("id"))
        ids.add(q.get("id"))
        if q.get("type") == "row":
            continue
        n += 1
        if q.get("datasource") != ds:
            err.append("panel %r: datasource is not ${datasource}" % q.get("title"))
        if not q.get("targets"):
            err.append("panel %r has no query" % q.get("title"))
        for t in q.get("targets", []):
            if t.get("datasource") != ds:
                err.append("panel %r: a query's datasource is not ${datasource}" % q.get("title"))
            exprs.append(t["expr"])
for n_ in ("job", "instance", "vip"):
    v = tv.get(n_, {})
    if v.get("datasource") != ds:
        err.append("variable %s: datasource is not ${datasource}" % n_)
    exprs.append(v.get("definition", ""))
open(sys.argv[2], "w").write("\n".join(e.replace("\n", " ") for e in exprs) + "\n")
if err:
    print("; ".join(err))
    sys.exit(1)
print("%d panels, %d queries, variables %s" % (n, len(exprs), ", ".join(sorted(tv))))
EOF
); then
	ok "a. importable dashboard: $out; every panel on the \${datasource} variable"
else
	bad "a. dashboard: $out"
fi

# every panel query through promtool's PromQL parser: a scratch recording
# rule per query, Grafana's variables replaced by what they expand to
if command -v promtool >/dev/null; then
	python3 - "$tmp/dash.exprs" "$tmp/dash-rules.yml" <<'EOF'
import json, sys
ex = [l for l in open(sys.argv[1]).read().splitlines() if l and not l.startswith("label_values(")]
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(ex):
        e = e.replace("$__rate_interval", "1m").replace("$job", ".*") \
             .replace("$instance", ".*").replace("$vip", ".*")
        f.write("      - record: dashboard:query:%d\n        expr: %s\n" % (i, json.dumps(e)))
EOF
	if out=$(promtool check rules "$tmp/dash-rules.yml" 2>&1); then
		ok "a. every panel query parses as PromQL ($(echo "$out" | grep -o '[0-9]* rules found'))"
	else
		bad "a. a panel query does not parse: $out"
	fi
else
	echo "skip - promtool not installed (scripts/install-deps.sh installs it): panel queries not parsed"
fi

# ---- b. the names lb-agent exports ----------------------------------------
# exported_from_sources: the fallback when no agent can run here. A
# mechanical pattern over the files that write /metrics: every quoted
# string literal that starts with inferlb_ (the families are written as
# literals: "inferlb_x", "inferlb_x{..." or "# TYPE inferlb_x"), plus the
# three datapath counters metrics.c builds as "inferlb_vip_%s_total" /
# "inferlb_backend_%s_total" over its what[] list.
exported_from_sources() {
	local f
	for f in agent/metrics.c agent/discover.c agent/cluster.c \
		agent/announce.c agent/nexthops.c; do
		grep -o '"\(# [A-Z]* \)\?inferlb_[a-z0-9_]*' "$root/$f" |
			sed 's/^"\(# [A-Z]* \)\?//'
	done | grep -v '_$'
	for w in packets bytes new_flows; do
		echo "inferlb_vip_${w}_total"
		echo "inferlb_backend_${w}_total"
	done
}

# scrape_agent: a real lb-agent on an attached datapath in namespace $ns,
# its /metrics into $tmp/metrics
scrape_agent() {
	local addr=198.18.77.1 be=198.18.77.2
	if [ ! -x "$lbctl" ] || [ ! -x "$agent" ]; then
		echo "no $lbctl or $agent: run make"
		return 1
	fi
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	ip -n "$ns" link add mon0 type veth peer name mon1 || return 1
	ip -n "$ns" addr add "$addr/24" dev mon0
	ip -n "$ns" link set mon0 up
	ip -n "$ns" link set mon1 up
	# the backend's next hop resolved without an ARP exchange
	ip -n "$ns" neigh add "$be" lladdr 02:00:00:00:00:02 dev mon0 nud permanent
	nsenter --net="/run/netns/$ns" "$lbctl" --pin-dir "$pins" attach mon0 \
		>/dev/null || { echo "lbctl attach failed"; return 1; }
	# etcd and the DNS server: a closed port on the namespace's own
	# address (the agent starts, fails static and counts the errors)
	cat >"$tmp/agent.yaml" <<EOF
agent:
  pin_dir: $pins
  metrics_listen: 127.0.0.1:9464
announce:
  enabled: true
cluster:
  etcd: [http://$addr:9]
  name: mon$$
  host: h1
vips:
  - address: 198.18.77.100:8000/tcp
    mode: l2dsr
    backends:
      - address: $be
        url: http://$be:8000
    discover:
      sources:
        - dns: _llm._tcp.pool.test
          servers: $addr:9
          timeout_ms: 200
EOF
	nsenter --net="/run/netns/$ns" "$agent" -c "$tmp/agent.yaml" \
		>"$tmp/agent.log" 2>&1 &
	AGENT_PID=$!
	wait_for 10 grep -q "/metrics on" "$tmp/agent.log" ||
		{ echo "the agent did not serve /metrics in 10 s"; return 1; }
	# every family, the datapath's and discovery's included
	complete() {
		timeout 5 nsenter --net="/run/netns/$ns" curl -s --max-time 2 \
			http://127.0.0.1:9464/metrics >"$tmp/metrics" &&
			grep -q '^inferlb_discovery_errors_total' "$tmp/metrics" &&
			grep -q '^inferlb_datapath_packets_total' "$tmp/metrics" &&
			grep -q '^inferlb_cluster_etcd_up' "$tmp/metrics"
	}
	wait_for 10 complete || { echo "no complete scrape in 10 s"; return 1; }
	kill "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
}

scraped=0
if [ "$(id -u)" = 0 ]; then
	# not in $(...): cleanup must see AGENT_PID
	if scrape_agent >"$tmp/why" 2>&1; then
		scraped=1
		# names: of the families (HELP/TYPE) and of the samples
		{
			awk '/^# (HELP|TYPE) / { print $3 }' "$tmp/metrics"
			grep -v '^#' "$tmp/metrics" | sed 's/[{ ].*//'
		} | sort -u >"$tmp/names"
		ok "b. exported names from a real /metrics scrape: $(wc -l <"$tmp/names") names, $(grep -c '^# TYPE' "$tmp/metrics") families, $(grep -vc '^#' "$tmp/metrics") samples"
	else
		bad "b. could not scrape a real lb-agent: $(cat "$tmp/why")"
	fi
fi
if [ "$scraped" = 0 ]; then
	[ "$(id -u)" = 0 ] || echo "note - not root: no agent can run here; exported names from the C sources (exported_from_sources)"
	exported_from_sources | sort -u >"$tmp/names"
fi

# what the rules and their tests query or feed
python3 - "$rules" "$rtest" "$tmp/rule.exprs" <<'EOF'
import sys, yaml
ex = []
for g in yaml.safe_load(open(sys.argv[1]))["groups"]:
    ex += [r["expr"] for r in g["rules"]]
for t in yaml.safe_load(open(sys.argv[2]))["tests"]:
    ex += [s["series"] for s in t.get("input_series", [])]
open(sys.argv[3], "w").write("\n".join(e.replace("\n", " ") for e in ex) + "\n")
EOF

# used: the metric names in the expressions. Mechanical: strings, label
# matchers {...}, ranges [...] and grouping label lists by/on/...(...) are
# cut out; an identifier left that is not followed by "(" (a function) and
# is not an operator keyword is a metric name. label_values(M, L) names M.
cat "$tmp/dash.exprs" "$tmp/rule.exprs" | python3 -c '
import re, sys
kw = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
      "ignoring", "group_left", "group_right", "inf", "nan"}
names = set()
for e in sys.stdin.read().splitlines():
    m = re.match(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", e)
    if m:
        names.add(m.group(1))
        continue
    e = re.sub(r"\"(\\.|[^\"\\])*\"", "", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        w = m.group(0)
        if w.lower() in kw or re.match(r"\s*\(", e[m.end():]):
            continue
        if re.match(r"\d", e[m.start() - 1:m.start()] or " "):
            continue	# the unit of a duration or an exponent
        names.add(w)
print("\n".join(sorted(names)))' >"$tmp/used"

missing=$(grep -vxF -f "$tmp/names" "$tmp/used" | grep -vx 'up')
if [ -n "$missing" ]; then
	bad "b. names not exported by lb-agent: $(echo "$missing" | tr '\n' ' ')"
else
	ok "b. all $(wc -l <"$tmp/used") metric names of the dashboard, the rules and their tests are exported ($(grep -c '^inferlb_' "$tmp/used") inferlb_*, plus Prometheus' up)"
fi
unused=$(grep '^inferlb_' "$tmp/names" | grep -v '_bucket$\|_sum$\|_count$' |
	grep -vxF -f "$tmp/used")
[ -n "$unused" ] && echo "note - exported but not on the dashboard or in a rule: $(echo "$unused" | tr '\n' ' ')"

# the label values matched literally, against the scrape's
if [ "$scraped" = 1 ]; then
	grep -v '^#' "$tmp/metrics" | grep -o '[a-z_]*="[^"]*"' | sort -u >"$tmp/pairs"
	lv_missing=$(cat "$tmp/dash.exprs" "$tmp/rule.exprs" | python3 -c '
import re, sys
labels = {"state", "reason", "result", "outcome", "endpoint", "of"}
have = set(l.strip() for l in open(sys.argv[1]))
bad = set()
for e in sys.stdin.read().splitlines():
    for m in re.finditer(r"\b(\w+)\s*(=~|!~|!=|=)\s*\"([^\"]*)\"", e):
        if m.group(1) not in labels:
            continue
        for v in m.group(3).split("|"):
            if re.fullmatch(r"[a-z0-9_-]+", v) and "%s=\"%s\"" % (m.group(1), v) not in have:
                bad.add("%s=\"%s\"" % (m.group(1), v))
print(" ".join(sorted(bad)))' "$tmp/pairs")
	n_lv=$(cat "$tmp/dash.exprs" "$tmp/rule.exprs" |
		grep -o '\b\(state\|reason\|result\|outcome\|endpoint\|of\) *[=!~]*"[^"]*"' | sort -u | wc -l)
	if [ -z "$lv_missing" ]; then
		ok "b. the $n_lv literal label matchers (state, reason, result, ...) name values the scrape has"
	else
		bad "b. label values not in the scrape: $lv_missing"
	fi
fi

# ---- c. promtool ----------------------------------------------------------
if command -v promtool >/dev/null; then
	if out=$(promtool check rules "$rules" 2>&1); then
		ok "c. promtool check rules: $(echo "$out" | grep -o '[0-9]* rules found')"
	else
		bad "c. promtool check rules: $out"
	fi
	# the test file names the rules relative to itself
	if out=$(cd "$(dirname "$rtest")" && promtool test rules "$(basename "$rtest")" 2>&1); then
		ok "c. promtool test rules: $(grep -c '^  - name:' "$rtest") test groups pass (each alert firing and not)"
	else
		bad "c. promtool test rules: $out"
	fi
	# every alert has a test group, a severity and both annotations
	if out=$(python3 - "$rules" "$rtest" <<'EOF'
import sys, yaml
rules = [r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"]]
tested = {a["alertname"] for t in yaml.safe_load(open(sys.argv[2]))["tests"]
          for a in t.get("alert_rule_test", []) if a.get("exp_alerts")}
err = []
for r in rules:
    if r["alert"] not in tested:
        err.append("%s has no firing test" % r["alert"])
    if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
        err.append("%s has no severity" % r["alert"])
    if not {"summary", "description"} <= set(r.get("annotations", {})):
        err.append("%s lacks summary or description" % r["alert"])
print("; ".join(err) if err else "%d alerts" % len(rules))
sys.exit(1 if err else 0)
EOF
); then
		ok "c. $out: each has a firing test, a severity and summary/description"
	else
		bad "c. $out"
	fi
else
	echo "skip - promtool not installed (scripts/install-deps.sh installs it): rules not checked or tested"
fi

echo "test_monitoring: $PASSES passed, $FAILS failed in ${SECONDS}s"
[ "$FAILS" = 0 ]
