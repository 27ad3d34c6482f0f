#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# inferlb-dashboard.py - writes inferlb.json, the Grafana dashboard over
# lb-agent's /metrics, to stdout: edit this, then
#   python3 monitoring/grafana/inferlb-dashboard.py > monitoring/grafana/inferlb.json
# (tests/test_monitoring.sh fails when the two differ). Every panel uses the
# ${datasource} variable, which defaults to the DS_PROMETHEUS import input;
# every query filters on the job / instance / vip variables. Metric names are
# those of agent/metrics.c (and discover.c, cluster.c, announce.c,
# nexthops.c); the test checks them against a real scrape.
import json, sys

DS = {"type": "prometheus", "uid": "${datasource}"}
B = 'job=~"$job",instance=~"$instance",vip=~"$vip"'   # backend / VIP series
G = 'job=~"$job",instance=~"$instance"'               # host-wide series
RI = "$__rate_interval"

panels = []
pid = [0]
y = [0]

def nid():
    pid[0] += 1
    return pid[0]

def row(title):
    panels.append({"type": "row", "title": title, "id": nid(), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1

layout = {"x": 0, "h": 0}

def place(w, h):
    if layout["x"] + w > 24:
        y[0] += layout["h"]
        layout["x"] = 0
        layout["h"] = 0
    g = {"h": h, "w": w, "x": layout["x"], "y": y[0]}
    layout["x"] += w
    layout["h"] = max(layout["h"], h)
    return g

def flush():
    y[0] += layout["h"]
    layout["x"] = 0
    layout["h"] = 0

def targets(qs):
    out = []
    for i, q in enumerate(qs):
        expr, legend = q[0], q[1]
        t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
        if len(q) > 2:
            t.update(q[2])
        out.append(t)
    return out

def ts(title, desc, qs, unit="short", w=12, h=8, stack=False, extra=None):
    p = {"type": "timeseries", "title": title, "description": desc, "id": nid(),
         "datasource": DS, "gridPos": place(w, h), "targets": targets(qs),
         "fieldConfig": {"defaults": {"unit": unit, "custom": {
             "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if stack else 0,
             "showPoints": "never", "spanNulls": False,
             "stacking": {"mode": "normal" if stack else "none", "group": "A"}}},
             "overrides": []},
         "options": {"legend": {"displayMode": "table", "placement": "bottom",
                                "calcs": ["lastNotNull", "max"], "showLegend": True},
                     "tooltip": {"mode": "multi", "sort": "desc"}}}
    if extra:
        p["fieldConfig"]["defaults"].update(extra)
    panels.append(p)

def stat(title, desc, qs, unit="short", w=4, h=4, mappings=None, thresholds=None):
    d = {"unit": unit}
    if mappings:
        d["mappings"] = mappings
    if thresholds:
        d["thresholds"] = {"mode": "absolute", "steps": thresholds}
        d["color"] = {"mode": "thresholds"}
    panels.append({"type": "stat", "title": title, "description": desc, "id": nid(),
                   "datasource": DS, "gridPos": place(w, h), "targets": targets(qs),
                   "fieldConfig": {"defaults": d, "overrides": []},
                   "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                               "colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
                               "justifyMode": "auto", "orientation": "auto"}})

def vmap(pairs):
    return [{"type": "value", "options": {str(k): {"text": t, "color": c, "index": i}
                                          for i, (k, t, c) in enumerate(pairs)}}]

UPDOWN = vmap([(0, "down", "red"), (1, "up", "green")])
STATES = vmap([(0, "healthy", "green"), (1, "starting", "blue"), (2, "draining", "yellow"),
               (3, "open", "orange"), (4, "half-open", "purple"), (5, "down", "red")])

# ---------------------------------------------------------------- agent
row("Agent")
stat("lb-agent scrape", "Prometheus' own `up` for the lb-agent target: 0 when /metrics does not answer.",
     [(f'up{{{G}}}', "{{instance}}")], mappings=UPDOWN,
     thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}])
ts("Heartbeat: poll rounds/s",
   "inferlb_agent_poll_rounds_total's rate: one round per poll interval (the agent writes its heartbeat, "
   "`lbctl show`, every round). 0 on a single agent or a cluster leader: the loop is stuck. "
   "A cluster follower does not poll (0 is normal there).",
   [(f'rate(inferlb_agent_poll_rounds_total{{{G}}}[{RI}])', "{{instance}}")], unit="ops", w=10, h=4)
ts("Publication generation",
   "inferlb_agent_publications_total: lbctl show's agent generation; it moves when a weight, state or "
   "rate is published (a steady fleet leaves it still).",
   [(f'inferlb_agent_publications_total{{{G}}}', "{{instance}}")], w=10, h=4)
flush()
ts("Publish errors and config loads",
   "Failed publications to the datapath, and config loads (start, SIGHUP, watched file) by result.",
   [(f'increase(inferlb_agent_publish_errors_total{{{G}}}[{RI}])', "{{instance}} publish errors"),
    (f'increase(inferlb_agent_config_loads_total{{{G}}}[{RI}])', "{{instance}} config {{result}}")], w=8)
ts("Open-flow recount time",
   "How long the last recount of open flows from the flow tables took.",
   [(f'inferlb_agent_flow_recount_seconds{{{G}}}', "{{instance}}")], unit="s", w=8)
ts("Maglev table rebuilds",
   "Tables the agent rebuilt and published per VIP.",
   [(f'increase(inferlb_vip_table_rebuilds_total{{{B}}}[{RI}])', "{{instance}} {{vip}}")], w=8)
flush()

# ---------------------------------------------------------------- cluster
row("Cluster (lb-agent cluster: mode; empty without it)")
stat("Leader", "inferlb_cluster_leader: 1 on the host that polls the workers and writes the decision.",
     [(f'inferlb_cluster_leader{{{G}}}', "{{instance}}")],
     mappings=vmap([(0, "follower", "blue"), (1, "leader", "green")]), w=6)
stat("etcd", "inferlb_cluster_etcd_up: 0 when etcd did not answer within the lease TTL (the host keeps its last decision).",
     [(f'inferlb_cluster_etcd_up{{{G}}}', "{{instance}}")], mappings=UPDOWN,
     thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}], w=6)
ts("Decision generation", "Generation of the cluster decision applied on each host: the hosts should agree.",
   [(f'inferlb_cluster_generation{{{G}}}', "{{instance}}")], w=12, h=4)
flush()
ts("Decision and etcd contact age",
   "Seconds since the host applied a decision (the leader writes one at least every 500 ms) and since etcd last answered.",
   [(f'inferlb_cluster_decision_age_seconds{{{G}}}', "{{instance}} decision"),
    (f'inferlb_cluster_etcd_contact_age_seconds{{{G}}}', "{{instance}} etcd contact")], unit="s")
ts("etcd errors, decisions written and refused",
   "Per second: failed etcd calls, decisions this host wrote as the leader, decisions it refused.",
   [(f'rate(inferlb_cluster_etcd_errors_total{{{G}}}[{RI}])', "{{instance}} etcd errors"),
    (f'rate(inferlb_cluster_decisions_written_total{{{G}}}[{RI}])', "{{instance}} written"),
    (f'rate(inferlb_cluster_decisions_refused_total{{{G}}}[{RI}])', "{{instance}} refused")], unit="ops")
flush()

# ---------------------------------------------------------------- VIPs
row("VIPs")
ts("New flows/s per VIP", "Forwarded new flows per VIP (datapath).",
   [(f'sum by (instance, vip) (rate(inferlb_vip_new_flows_total{{{B}}}[{RI}]))', "{{instance}} {{vip}}")], unit="ops", w=8)
ts("Refusals by reason", "New flows refused per VIP, by reason (vip_rate, backend_rate, client_rate, no_backend, ttft_target).",
   [(f'sum by (instance, vip, reason) (rate(inferlb_vip_refused_total{{{B}}}[{RI}]))', "{{instance}} {{vip}} {{reason}}")],
   unit="ops", w=8, stack=True)
ts("Refusal outcomes", "What the refused new flows got: a RST, a drop, or the plain choice (fail-open).",
   [(f'sum by (instance, vip, outcome) (rate(inferlb_vip_refusal_outcomes_total{{{B}}}[{RI}]))', "{{instance}} {{vip}} {{outcome}}")],
   unit="ops", w=8, stack=True)
flush()
ts("Packets/s per VIP", "Forwarded packets per VIP (datapath).",
   [(f'sum by (instance, vip) (rate(inferlb_vip_packets_total{{{B}}}[{RI}]))', "{{instance}} {{vip}}")], unit="pps", w=8)
ts("Bytes/s per VIP", "Forwarded bytes per VIP (datapath).",
   [(f'sum by (instance, vip) (rate(inferlb_vip_bytes_total{{{B}}}[{RI}]))', "{{instance}} {{vip}}")], unit="Bps", w=8)
ts("Panic and announcement", "inferlb_vip_panic: 1 while the VIP fails open. inferlb_vip_announced: 1 while its route is announced (announce: enabled).",
   [(f'inferlb_vip_panic{{{B}}}', "{{instance}} {{vip}} panic"),
    (f'inferlb_vip_announced{{{B}}}', "{{instance}} {{vip}} announced")], w=8,
   extra={"min": 0, "max": 1})
flush()

# ---------------------------------------------------------------- backends
row("Backends")
panels.append({
    "type": "state-timeline", "title": "Backend state",
    "description": "inferlb_backend_state as the ABI's enum lb_be_state: healthy, starting, draining, open (breaker), half-open, down.",
    "id": nid(), "datasource": DS, "gridPos": place(24, 8),
    "targets": targets([(
        'sum by (instance, vip, backend) ('
        f'0 * inferlb_backend_state{{{B},state="healthy"}}'
        f' or 1 * inferlb_backend_state{{{B},state="starting"}}'
        f' or 2 * inferlb_backend_state{{{B},state="draining"}}'
        f' or 3 * inferlb_backend_state{{{B},state="open"}}'
        f' or 4 * inferlb_backend_state{{{B},state="half-open"}}'
        f' or 5 * inferlb_backend_state{{{B},state="down"}})',
        "{{vip}} {{backend}}")]),
    "fieldConfig": {"defaults": {"mappings": STATES, "color": {"mode": "thresholds"},
                                 "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]}},
                    "overrides": []},
    "options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left",
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "single", "sort": "none"}}})
flush()
panels.append({
    "type": "table", "title": "Backends now", "id": nid(), "datasource": DS, "gridPos": place(16, 8),
    "description": "Current state of every backend and where it came from (file, or a discovery source).",
    "targets": targets([
        (f'(inferlb_backend_state{{{B}}} == 1) * on (job, instance, vip, backend) group_left (origin) inferlb_backend_origin{{{B}}}',
         "", {"format": "table", "instant": True})]),
    "transformations": [
        {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}],
    "fieldConfig": {"defaults": {}, "overrides": []},
    "options": {"showHeader": True}})
panels.append({
    "type": "table", "title": "Operator overrides", "id": nid(), "datasource": DS, "gridPos": place(8, 8),
    "description": "Fields an operator's lbctl set-weight / backend state holds (the agent leaves them alone until lbctl backend release).",
    "targets": targets([
        (f'inferlb_backend_override{{{B}}} == 1', "", {"format": "table", "instant": True})]),
    "transformations": [
        {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True},
                                       "renameByName": {"of": "override"}}}],
    "fieldConfig": {"defaults": {}, "overrides": []},
    "options": {"showHeader": True}})
flush()
ts("Weight", "Weight in the VIP's live Maglev table (0..1000000).",
   [(f'inferlb_backend_weight{{{B}}}', "{{vip}} {{backend}}")])
ts("Open flows", "Open flows in the datapath (recounted without idle flows and those of DOWN backends).",
   [(f'inferlb_backend_open_flows{{{B}}}', "{{vip}} {{backend}}")])
flush()
ts("New flows/s", "Rate of the per-backend new-flow counter (datapath).",
   [(f'rate(inferlb_backend_new_flows_total{{{B}}}[{RI}])', "{{vip}} {{backend}}")], unit="ops")
ts("New-flow rate limit", "Published new-flow rate limit per backend (flows/s, 0 = none).",
   [(f'inferlb_backend_new_flow_rate{{{B}}}', "{{vip}} {{backend}}")], unit="ops")
flush()
ts("Queue: waiting requests", "Waiting requests scraped from each worker.",
   [(f'inferlb_backend_waiting_requests{{{B}}}', "{{vip}} {{backend}}")], w=8)
ts("Queue: running requests", "Running requests scraped from each worker.",
   [(f'inferlb_backend_running_requests{{{B}}}', "{{vip}} {{backend}}")], w=8)
ts("KV-cache use", "KV-cache use scraped from each worker (empty where the engine has none, e.g. TGI).",
   [(f'inferlb_backend_kv_cache_usage{{{B}}}', "{{vip}} {{backend}}")], unit="percentunit", w=8,
   extra={"min": 0, "max": 1})
flush()
ts("Decode speed", "Measured decode speed per running request, smoothed (tokens/s; empty until measured).",
   [(f'inferlb_backend_decode_tokens_per_second{{{B}}}', "{{vip}} {{backend}}")], w=8)
ts("Slot wait", "Published wait for one batch slot (expected-wait): output length / speed / slots.",
   [(f'inferlb_backend_slot_wait_seconds{{{B}}}', "{{vip}} {{backend}}")], unit="s", w=8)
ts("Headroom", "Smoothed headroom the weight is computed from (0..1).",
   [(f'inferlb_backend_headroom{{{B}}}', "{{vip}} {{backend}}")], unit="percentunit", w=8,
   extra={"min": 0, "max": 1})
flush()
ts("Poll latency", "Latency of the last request to each worker endpoint (health, metrics, dcgm).",
   [(f'inferlb_poll_latency_seconds{{{B}}}', "{{backend}} {{endpoint}}")], unit="s", w=8)
ts("Failed polls", "Requests to worker endpoints that failed, by result (refused, timeout, error, bad_answer).",
   [(f'sum by (vip, backend, endpoint, result) (rate(inferlb_poll_requests_total{{{B},result!="ok"}}[{RI}]))',
     "{{backend}} {{endpoint}} {{result}}")], unit="ops", w=8, stack=True)
ts("Bad metrics and early polls",
   "Scrapes refused for values no engine means (by reason), and polls started at once because the worker closed its connection.",
   [(f'increase(inferlb_backend_bad_metrics_total{{{B}}}[{RI}])', "{{backend}} bad {{reason}}"),
    (f'increase(inferlb_backend_early_polls_total{{{B}}}[{RI}])', "{{backend}} early poll")], w=8)
flush()
ts("Capacity and batch slots", "Configured relative capacity, and the batch slots expected-wait counts with (config, or the engine's).",
   [(f'inferlb_backend_capacity{{{B}}}', "{{backend}} capacity"),
    (f'inferlb_backend_slots{{{B}}}', "{{backend}} slots")], w=8)
ts("Polls/s", "Completed polls of each worker (metrics every poll interval, health every health interval).",
   [(f'rate(inferlb_backend_polls_total{{{B}}}[{RI}])', "{{vip}} {{backend}}")], unit="ops", w=8)
ts("Operator overrides over time", "1 while an operator's override holds a backend's weight or state.",
   [(f'inferlb_backend_override{{{B}}} == 1', "{{backend}} {{of}}")], w=8)
flush()
ts("Backend packets/s", "Forwarded packets per backend (datapath).",
   [(f'rate(inferlb_backend_packets_total{{{B}}}[{RI}])', "{{vip}} {{backend}}")], unit="pps", w=8)
ts("Backend bytes/s", "Forwarded bytes per backend (datapath).",
   [(f'rate(inferlb_backend_bytes_total{{{B}}}[{RI}])', "{{vip}} {{backend}}")], unit="Bps", w=8)
ts("GPU XID", "Last DCGM XID error of each worker's GPUs (0 = none; a non-zero XID fails its health).",
   [(f'inferlb_backend_gpu_xid{{{B}}}', "{{backend}}")], w=8)
flush()

# ---------------------------------------------------------------- datapath
row("Datapath")
ts("Drops by reason", "Packets the datapath dropped, by reason (inferlb_datapath_packets_total{reason=~\"drop_.*\"}).",
   [(f'sum by (instance, reason) (rate(inferlb_datapath_packets_total{{{G},reason=~"drop_.*"}}[{RI}]))',
     "{{instance}} {{reason}}")], unit="pps", stack=True)
ts("Passes and events by reason",
   "The other reasons: passed to the stack (pass_*), ICMP handling, flow_insert_fail (a flow-table update failed), "
   "flow_resteer_down, SYN table and second-chance events.",
   [(f'sum by (instance, reason) (rate(inferlb_datapath_packets_total{{{G},reason!~"drop_.*"}}[{RI}]))',
     "{{instance}} {{reason}}")], unit="pps")
flush()
ts("Next hops", "Backend next-hop MACs rewritten, resolve failures, re-syncs and kernel notifications.",
   [(f'rate(inferlb_nexthop_changes_total{{{G}}}[{RI}])', "{{instance}} changes"),
    (f'rate(inferlb_nexthop_resolve_failures_total{{{G}}}[{RI}])', "{{instance}} resolve failures"),
    (f'rate(inferlb_nexthop_syncs_total{{{G}}}[{RI}])', "{{instance}} syncs"),
    (f'rate(inferlb_nexthop_events_total{{{G}}}[{RI}])', "{{instance}} events")], unit="ops")
ts("VIP announcement", "Route changes and failed syncs of the announce table (announce: enabled).",
   [(f'increase(inferlb_announce_route_changes_total{{{G}}}[{RI}])', "{{instance}} route changes"),
    (f'increase(inferlb_announce_errors_total{{{G}}}[{RI}])', "{{instance}} errors")])
flush()
ts("Flow tables", "Share of each flow table in use at the agent's last recount: an LRU hash, "
   "which once full evicts its least recently used flows, established ones included.",
   [(f'inferlb_datapath_flow_table_entries{{{G}}} / on (job, instance, table) '
     f'inferlb_datapath_flow_table_capacity{{{G}}}', "{{instance}} {{table}}")],
   unit="percentunit")
flush()

# ---------------------------------------------------------------- discovery
row("Discovery (VIPs with discover:)")
ts("Last successful answer", "Seconds since each source last answered (-1: never).",
   [(f'inferlb_discovery_last_success_age_seconds{{{B}}}', "{{vip}} {{source}}")], unit="s", w=8)
ts("Workers per source", "Workers each source gives its VIP, by state.",
   [(f'inferlb_discovery_workers{{{B}}}', "{{vip}} {{source}} {{state}}")], w=8)
ts("Changes applied, held, errors, removed",
   "Answers that changed the VIP, answers held back by a guard rail, failed lookups and values left out, drained workers deleted.",
   [(f'increase(inferlb_discovery_changes_applied_total{{{B}}}[{RI}])', "{{source}} applied"),
    (f'increase(inferlb_discovery_changes_held_total{{{B}}}[{RI}])', "{{source}} held"),
    (f'increase(inferlb_discovery_errors_total{{{B}}}[{RI}])', "{{source}} errors"),
    (f'increase(inferlb_discovery_removed_total{{{B}}}[{RI}])', "{{source}} removed")], w=8)
flush()

def qvar(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": query,
            "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [], "regex": "", "sort": 1, "hide": 0}

dash = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "The Prometheus that scrapes lb-agent's /metrics",
                  "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
    "__requires": [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.4.0"},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
        {"type": "panel", "id": "state-timeline", "name": "State timeline", "version": ""},
        {"type": "panel", "id": "table", "name": "Table", "version": ""}],
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                              "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                              "name": "Annotations & Alerts", "type": "dashboard"}]},
    "description": "inferlb: lb-agent and the XDP datapath, from lb-agent's /metrics (agent/metrics.c).",
    "editable": True, "fiscalYearStartMonth": 0, "graphTooltip": 1, "id": None, "links": [],
    "liveNow": False, "panels": panels, "refresh": "30s", "schemaVersion": 37,
    "style": "dark", "tags": ["inferlb", "load-balancer", "xdp"],
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {"selected": False, "text": "${DS_PROMETHEUS}", "value": "${DS_PROMETHEUS}"},
         "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1, "regex": ""},
        qvar("job", "Job", "label_values(inferlb_agent_poll_rounds_total, job)"),
        qvar("instance", "Instance", 'label_values(inferlb_agent_poll_rounds_total{job=~"$job"}, instance)'),
        qvar("vip", "VIP", 'label_values(inferlb_vip_panic{job=~"$job",instance=~"$instance"}, vip)')]},
    "time": {"from": "now-1h", "to": "now"}, "timepicker": {}, "timezone": "",
    "title": "inferlb", "uid": "inferlb-agent", "version": 1, "weekStart": ""}
json.dump(dash, sys.stdout, indent=2)
sys.stdout.write("\n")
