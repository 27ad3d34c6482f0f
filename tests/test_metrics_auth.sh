#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_metrics_auth.sh - lb-agent's /metrics beyond loopback is protected
# or refused (agent.metrics_web, agent.metrics_insecure). A real lb-agent
# on a real (pinned, attached) datapath in a network namespace of its own,
# serving on 198.18.77.1 (not loopback), reached with curl:
#
#  a. --check refuses 198.18.77.1, 0.0.0.0 and [::] without protection,
#     naming agent.metrics_listen; a bcrypt-less user, an unreadable
#     certificate and a certificate with another key's pair are refused
#     too; the example file (examples/) passes with test certificates;
#  b. basic auth: no credentials, a wrong password and an unknown user get
#     401 with WWW-Authenticate; the right ones ($2y$ and $2b$ hashes) get
#     200 with the metrics; /healthz needs none; the log names the
#     protection; SIGHUP with a password where a hash goes is refused and
#     the running protection kept; a valid file with other users is noted
#     as taking effect on restart only;
#  c. TLS (a throwaway self-signed certificate): curl --cacert gets the
#     metrics, plain HTTP and an unverified certificate get nothing;
#  d. metrics_insecure: true serves plain HTTP without auth, logged as
#     INSECURE.
# Every wait is bounded; everything is removed on exit, also on failure.
# Usage: tests/test_metrics_auth.sh [BUILD_DIR]
set -u
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/wait.sh
. "$root/tests/wait.sh"
lbctl=$build/lbctl
agent=$build/lb-agent
ns=mauth-$$
pins=/sys/fs/bpf/mauth-$$
tmp=$(mktemp -d)
ADDR=198.18.77.1
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
inns() { timeout 20 nsenter --net="/run/netns/$ns" "$@"; }

if [ "$(id -u)" != 0 ]; then
	echo "Error: needs root (namespaces, XDP)" >&2
	exit 1
fi
for t in openssl curl; do
	command -v "$t" >/dev/null ||
		{ echo "Error: $t missing; run 'make deps'" >&2; exit 1; }
done

# real bcrypt hashes (cost 4: a test needs no slow hash) of "hunter2"
# ($2y$, as htpasswd writes) and "s3cret" ($2b$, as libxcrypt does)
H_ALICE='$2y$04$CI9/Ql/gGZYDrmj789GLne1BY.TYH47FrOCrMYQ4moagojJWubY6i'
H_BOB='$2b$04$b1RrxVM0iJrBoelsh1rhQueoqMgcs/14XWLViamTnlTGFoLYDC2Sy'

# config FILE PORT [AGENT-LINES...]: the agent's file, no VIPs (/metrics
# still covers the agent and the datapath), /metrics on ADDR:PORT
config() {
	local f=$1 port=$2 l
	shift 2
	{
		echo "agent:"
		echo "  pin_dir: $pins"
		echo "  metrics_listen: $ADDR:$port"
		for l in "$@"; do echo "$l"; done
		echo "vips: []"
	} >"$f"
}
users() { # the basic_auth_users lines
	echo "  metrics_web:"
	echo "    basic_auth_users:"
	echo "      alice: '$H_ALICE'"
	echo "      bob: '$H_BOB'"
}

# refused DESC FILE PATTERN: --check exits 2 with an Error naming PATTERN
refused() {
	local out rc
	out=$("$agent" -c "$2" --check 2>&1)
	rc=$?
	if [ $rc = 2 ] && printf '%s\n' "$out" | grep -q "^Error: .*$3"; then
		ok "$1: --check refuses ($out)"
	else
		bad "$1: --check exit $rc, expected 2 and '$3': $out"
	fi
}

# start_agent FILE PORT: lb-agent in the namespace, until its /metrics
# line is logged
start_agent() {
	: >"$tmp/agent.log"
	nsenter --net="/run/netns/$ns" "$agent" -c "$1" >"$tmp/agent.log" 2>&1 &
	AGENT_PID=$!
	wait_for 10 grep -q "/metrics on" "$tmp/agent.log"
}
stop_agent() {
	kill "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
}

# code URL [CURL-ARGS...]: the HTTP status curl gets (000: no answer)
code() {
	local url=$1
	shift
	inns curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' \
		--max-time 3 "$@" "$url"
}
has_metrics() { grep -q '^inferlb_' "$tmp/body"; }

# hup PATTERN: SIGHUP, then wait for PATTERN in the log's new lines
hup() {
	local from
	from=$(($(wc -l <"$tmp/agent.log") + 1))
	kill -HUP "$AGENT_PID"
	wait_for 10 sh -c 'tail -n +"$1" "$2" | grep -q -- "$3"' _ "$from" \
		"$tmp/agent.log" "$1"
}

# ---- setup: a namespace with 198.18.77.1 on an attached veth ---------------
ip netns add "$ns" || exit 1
ip -n "$ns" link set lo up
ip -n "$ns" link add mau0 type veth peer name mau1 || exit 1
ip -n "$ns" addr add "$ADDR/24" dev mau0
ip -n "$ns" link set mau0 up
ip -n "$ns" link set mau1 up
inns "$lbctl" --pin-dir "$pins" attach mau0 >/dev/null || { bad "lbctl attach"; exit 1; }

# a throwaway self-signed certificate for ADDR, and a second key
openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-days 1 -subj "/CN=inferlb test" -addext "subjectAltName=IP:$ADDR" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
		-out "$tmp/other.pem" >/dev/null 2>&1 ||
	{ bad "openssl could not make a test certificate"; exit 1; }
tls=("  metrics_web:" "    tls_server_config:"
	"      cert_file: $tmp/cert.pem" "      key_file: $tmp/key.pem")

# ---- a. --check -------------------------------------------------------------
config "$tmp/plain.yaml" 9464
refused "a. $ADDR:9464 without protection" "$tmp/plain.yaml" \
	"agent.metrics_listen: \"$ADDR:9464\" is not loopback.*agent.metrics_insecure: true"
sed "s/$ADDR:9464/0.0.0.0:9464/" "$tmp/plain.yaml" >"$tmp/any4.yaml"
refused "a. 0.0.0.0:9464 without protection" "$tmp/any4.yaml" \
	"agent.metrics_listen: \"0.0.0.0:9464\" is not loopback"
sed "s/$ADDR:9464/'[::]:9464'/" "$tmp/plain.yaml" >"$tmp/any6.yaml"
refused "a. [::]:9464 without protection" "$tmp/any6.yaml" \
	"agent.metrics_listen: \"\[::\]:9464\" is not loopback"
config "$tmp/pw.yaml" 9464 "  metrics_web: {basic_auth_users: {alice: hunter2}}"
refused "a. a password where the bcrypt hash goes" "$tmp/pw.yaml" \
	"basic_auth_users.alice: must be a bcrypt hash"
grep -q hunter2 <("$agent" -c "$tmp/pw.yaml" --check 2>&1) &&
	bad "a. the refusal repeats the password" || ok "a. the refusal does not repeat the password"
config "$tmp/nocert.yaml" 9464 "  metrics_web:" "    tls_server_config:" \
	"      cert_file: $tmp/missing.pem" "      key_file: $tmp/key.pem"
refused "a. a certificate file that is not there" "$tmp/nocert.yaml" \
	"tls_server_config.cert_file: cannot open .*No such file"
config "$tmp/pair.yaml" 9464 "  metrics_web:" "    tls_server_config:" \
	"      cert_file: $tmp/cert.pem" "      key_file: $tmp/other.pem"
refused "a. a certificate with another key" "$tmp/pair.yaml" \
	"tls_server_config: .*cert.pem and .*other.pem are not a certificate and its unencrypted key"
config "$tmp/ok.yaml" 9464 "${tls[@]}"
out=$("$agent" -c "$tmp/ok.yaml" --check 2>&1) &&
	ok "a. a real certificate and its key pass --check" || bad "a. --check: $out"
sed -e "s|/etc/inferlb/metrics.crt|$tmp/cert.pem|" -e "s|/etc/inferlb/metrics.key|$tmp/key.pem|" \
	"$root/examples/lb-agent-metrics-web.yaml" >"$tmp/example.yaml"
out=$("$agent" -c "$tmp/example.yaml" --check 2>&1) &&
	ok "a. examples/lb-agent-metrics-web.yaml passes --check ($out)" ||
	bad "a. the example: $out"

# ---- b. basic auth ------------------------------------------------------------
mapfile -t auth < <(users)
config "$tmp/agent.yaml" 9464 "${auth[@]}"
if start_agent "$tmp/agent.yaml"; then
	ok "b. started: $(grep "/metrics on" "$tmp/agent.log")"
	grep -q "/metrics on http://$ADDR:9464/metrics: basic auth (2 users)" "$tmp/agent.log" ||
		bad "b. the log does not name basic auth"
	URL=http://$ADDR:9464/metrics
	c=$(code "$URL")
	[ "$c" = 401 ] && grep -qi '^WWW-Authenticate: Basic realm="inferlb lb-agent"' "$tmp/head" &&
		! has_metrics && ok "b. no credentials: 401 with WWW-Authenticate, no metrics" ||
		bad "b. no credentials: $c $(cat "$tmp/head")"
	c=$(code "$URL" -u alice:wrong)
	[ "$c" = 401 ] && ! has_metrics && ok "b. a wrong password: 401" || bad "b. wrong password: $c"
	c=$(code "$URL" -u mallory:hunter2)
	[ "$c" = 401 ] && ! has_metrics && ok "b. an unknown user: 401" || bad "b. unknown user: $c"
	c=$(code "$URL" -u alice:hunter2)
	[ "$c" = 200 ] && has_metrics && ok "b. alice (\$2y\$): 200 with the metrics" ||
		bad "b. alice: $c"
	c=$(code "$URL" -u bob:s3cret)
	[ "$c" = 200 ] && has_metrics && ok "b. bob (\$2b\$): 200 with the metrics" ||
		bad "b. bob: $c"
	c=$(code "http://$ADDR:9464/healthz")
	[ "$c" = 200 ] && ok "b. /healthz without credentials: 200" || bad "b. /healthz: $c"
	# a reload with a password where the hash goes: refused, protection kept
	config "$tmp/agent.yaml" 9464 "  metrics_web: {basic_auth_users: {alice: hunter2}}"
	hup "reload refused" &&
		tail -1 "$tmp/agent.log" | grep -q "must be a bcrypt hash" &&
		ok "b. SIGHUP with a password for a hash: refused ($(tail -1 "$tmp/agent.log"))" ||
		bad "b. SIGHUP bad web config: $(tail -2 "$tmp/agent.log")"
	config "$tmp/agent.yaml" 9464
	hup "reload refused" && tail -1 "$tmp/agent.log" | grep -q "is not loopback" &&
		ok "b. SIGHUP with the protection removed: refused" ||
		bad "b. SIGHUP unprotected: $(tail -2 "$tmp/agent.log")"
	[ "$(code "$URL")" = 401 ] && [ "$(code "$URL" -u alice:hunter2)" = 200 ] &&
		ok "b. after the refused reloads: still 401 without, 200 with credentials" ||
		bad "b. protection after refused reloads"
	config "$tmp/agent.yaml" 9464 "  metrics_web: {basic_auth_users: {carol: '$H_BOB'}}"
	hup "change only on restart" &&
		[ "$(code "$URL" -u alice:hunter2)" = 200 ] && [ "$(code "$URL" -u carol:s3cret)" = 401 ] &&
		ok "b. a valid reload with other users: noted, users change on restart only" ||
		bad "b. reload with other users: $(tail -3 "$tmp/agent.log")"
	stop_agent
else
	bad "b. lb-agent with basic auth did not start: $(cat "$tmp/agent.log")"
	stop_agent
fi

# ---- c. TLS ----------------------------------------------------------------------
config "$tmp/agent.yaml" 9465 "${tls[@]}"
if start_agent "$tmp/agent.yaml"; then
	grep -q "/metrics on https://$ADDR:9465/metrics: TLS, no auth" "$tmp/agent.log" &&
		ok "c. started: $(grep "/metrics on" "$tmp/agent.log")" ||
		bad "c. the log: $(grep "/metrics on" "$tmp/agent.log")"
	c=$(code "https://$ADDR:9465/metrics" --cacert "$tmp/cert.pem")
	[ "$c" = 200 ] && has_metrics && ok "c. https with --cacert: 200 with the metrics" ||
		bad "c. https --cacert: $c"
	rm -f "$tmp/body"
	c=$(code "http://$ADDR:9465/metrics")
	[ "$c" != 200 ] && [ ! -s "$tmp/body" ] && ok "c. plain http: no metrics (status $c)" ||
		bad "c. plain http answered $c"
	rm -f "$tmp/body"
	c=$(code "https://$ADDR:9465/metrics")
	[ "$c" = 000 ] && ok "c. https without the CA: refused by curl (unverified)" ||
		bad "c. https without the CA: $c"
	stop_agent
else
	bad "c. lb-agent with TLS did not start: $(cat "$tmp/agent.log")"
	stop_agent
fi
config "$tmp/agent.yaml" 9466 "${tls[@]}" "    basic_auth_users: {bob: '$H_BOB'}"
if start_agent "$tmp/agent.yaml"; then
	[ "$(code "https://$ADDR:9466/metrics" --cacert "$tmp/cert.pem")" = 401 ] &&
		[ "$(code "https://$ADDR:9466/metrics" --cacert "$tmp/cert.pem" -u bob:s3cret)" = 200 ] &&
		has_metrics && grep -q "TLS and basic auth (1 user)" "$tmp/agent.log" &&
		ok "c. TLS and basic auth: 401 without, 200 with credentials" ||
		bad "c. TLS + basic auth: $(grep "/metrics on" "$tmp/agent.log")"
	stop_agent
else
	bad "c. lb-agent with TLS and basic auth did not start: $(cat "$tmp/agent.log")"
	stop_agent
fi

# ---- d. the explicit opt-out -----------------------------------------------------
config "$tmp/agent.yaml" 9467 "  metrics_insecure: true"
if start_agent "$tmp/agent.yaml"; then
	grep -q "/metrics on http://$ADDR:9467/metrics: INSECURE" "$tmp/agent.log" &&
		ok "d. started: $(grep "/metrics on" "$tmp/agent.log")" ||
		bad "d. the log: $(grep "/metrics on" "$tmp/agent.log")"
	c=$(code "http://$ADDR:9467/metrics")
	[ "$c" = 200 ] && has_metrics && ok "d. metrics_insecure: true: plain 200 without credentials" ||
		bad "d. insecure: $c"
	stop_agent
else
	bad "d. lb-agent with metrics_insecure did not start: $(cat "$tmp/agent.log")"
	stop_agent
fi

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
