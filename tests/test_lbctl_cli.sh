#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_lbctl_cli.sh - lbctl's command line against a real (pinned, attached)
# datapath in a network namespace of its own: every command with wrong,
# missing, duplicate and out-of-range arguments exits 2 with a one-line
# error and changes nothing (`lbctl show -j` byte-identical before and
# after); runtime refusals exit 1 and change nothing either; JSON errors are
# JSON. Usage: tests/test_lbctl_cli.sh [BUILD_DIR]
set -u
build=${1:-build}
lbctl=$(realpath "$build/lbctl")
id=$$
ns_lb=lbcli-lb-$id
ns_be=lbcli-be-$id
pins=/sys/fs/bpf/lbcli-$id
pass=0
fail=0
tmpd=$(mktemp -d)

cleanup() {
	rm -rf "$tmpd"
	rm -rf /sys/fs/bpf/lbcli-fresh-$id /sys/fs/bpf/lbcli-foreign-$id 2>/dev/null
	nsenter --net=/run/netns/$ns_lb "$lbctl" --pin-dir "$pins" unload >/dev/null 2>&1
	rm -rf "$pins" 2>/dev/null
	ip netns del $ns_lb 2>/dev/null
	ip netns del $ns_be 2>/dev/null
}
trap cleanup EXIT

L() { timeout 20 nsenter --net=/run/netns/$ns_lb "$lbctl" --pin-dir "$pins" "$@"; }
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

ip netns add $ns_lb && ip netns add $ns_be || exit 1
ip link add cli0 netns $ns_lb type veth peer name cli1 netns $ns_be || exit 1
ip -n $ns_lb addr add 198.18.40.1/24 dev cli0
ip -n $ns_be addr add 198.18.40.2/24 dev cli1
ip -n $ns_lb -6 addr add 2001:db8:40::1/64 dev cli0 nodad
ip -n $ns_be -6 addr add 2001:db8:40::2/64 dev cli1 nodad
for ns in $ns_lb $ns_be; do ip -n $ns link set lo up; done
ip -n $ns_lb link set cli0 up
ip -n $ns_be link set cli1 up

L attach cli0 >/dev/null || { echo "FAIL: attach"; exit 1; }
L vip add 198.18.40.10:80/tcp >/dev/null &&
	L vip add '[2001:db8:40::10]:80/tcp' >/dev/null &&
	L backend add 198.18.40.10:80/tcp 198.18.40.2 --weight 5 >/dev/null ||
	{ echo "FAIL: setup"; exit 1; }
before=$(L show -j)
printf '%s' "$before" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d["vips"])==2 and d["vips"][0]["backends"][0]["weight"]==5 else 1)' ||
	{ echo "FAIL: show -j is not the expected JSON: $before"; exit 1; }

# expect CODE ARGS...: exit code CODE, one "Error: " line on stderr, no
# change to the datapath.
expect() {
	local want=$1 out err code after
	shift
	out=$(L "$@" 2>/tmp/lbcli-err.$id)
	code=$?
	err=$(cat /tmp/lbcli-err.$id)
	after=$(L show -j)
	if [ "$code" != "$want" ]; then
		bad "lbctl $* exited $code, expected $want (stderr: $err)"
	elif [ "$(printf '%s\n' "$err" | grep -c '^Error: ')" != 1 ]; then
		bad "lbctl $*: expected one 'Error:' line, got: $err"
	elif [ "$after" != "$before" ]; then
		bad "lbctl $* changed the datapath"
	else
		ok
	fi
}

V=198.18.40.10:80/tcp
# unknown things
expect 2 frob
expect 2 vip frob
expect 2 vip
expect 2 --frob show
expect 2 help extra
# attach / detach / decap
expect 2 attach
expect 2 attach cli0 extra
expect 2 attach cli0 --mode fast
expect 2 attach cli0 --mode
expect 2 attach cli0 --force --force
expect 2 attach cli0 --bogus
expect 2 detach
expect 2 decap attach
expect 2 decap attach cli0 --mode turbo
expect 2 decap detach
expect 2 unload now
# apply: the file is checked whole before anything is looked at
expect 2 apply
expect 2 apply -f
expect 2 apply -f /nonexistent.yaml
expect 2 apply -f /dev/null extra
expect 2 apply -f /dev/null -f /dev/null
expect 2 apply --file /dev/null --frob
printf 'vips:\n  - address: 198.18.40.10:80/tcp\n    mode: ipip\n    bogus: 1\n' >"$tmpd/bad.yaml"
expect 2 apply -f "$tmpd/bad.yaml"
printf 'vips:\n  - address: 198.18.40.10:80/tcp\n    backends:\n      - address: 2001:db8::1\n        url: http://[2001:db8::1]:80\n' >"$tmpd/fam.yaml"
expect 2 apply -f "$tmpd/fam.yaml"
# vip
expect 2 vip add
for v in 198.18.40.10 198.18.40.10:80 198.18.40.10:80/icmp 198.18.40.10:0/tcp \
	198.18.40.10:65536/tcp 198.18.40.10:-1/tcp 2001:db8:40::10:80/tcp \
	'[198.18.40.10]:80/tcp' 999.18.40.10:80/tcp 198.18.40.10:8x/tcp \
	'[2001:db8:40::10]80/tcp' '' ; do
	expect 2 vip add "$v"
done
expect 2 vip add $V --mode tunnel
expect 2 vip add 198.18.40.11:80/tcp --ring-size 100
expect 2 vip add 198.18.40.11:80/tcp --ring-size 0
expect 2 vip add 198.18.40.11:80/tcp --ring-size 2000003
expect 2 vip add 198.18.40.11:80/tcp --ring-size abc
expect 2 vip add 198.18.40.11:80/tcp --ring-size 65537 --ring-size 65537
expect 2 vip add 198.18.40.11:80/tcp --mode ipip --mode l2dsr
expect 2 vip add 198.18.40.11:80/tcp extra
# policy and admission options (vip add and vip set)
for verb in add set; do
	expect 2 vip $verb 198.18.40.11:80/tcp --policy bogus
	expect 2 vip $verb 198.18.40.11:80/tcp --policy
	expect 2 vip $verb 198.18.40.11:80/tcp --rate -1
	expect 2 vip $verb 198.18.40.11:80/tcp --rate 4294967296
	expect 2 vip $verb 198.18.40.11:80/tcp --burst x
	expect 2 vip $verb 198.18.40.11:80/tcp --client-rate 1.5
	expect 2 vip $verb 198.18.40.11:80/tcp --client-prefix 33
	expect 2 vip $verb 198.18.40.11:80/tcp --client-prefix 0
	expect 2 vip $verb '[2001:db8:40::11]:80/tcp' --client-prefix 129
	expect 2 vip $verb 198.18.40.11:80/tcp --refuse maybe
	expect 2 vip $verb 198.18.40.11:80/tcp --fail-open yes
	expect 2 vip $verb 198.18.40.11:80/tcp --epsilon 10001
	expect 2 vip $verb 198.18.40.11:80/tcp --policy rr --policy p2c
done
expect 2 vip set 198.18.40.11:80/tcp
expect 2 vip set --policy rr
expect 2 vip set 198.18.40.11:80/tcp --mode l2dsr
expect 2 vip del
expect 2 vip del nonsense
expect 2 vip list extra
# backend
expect 2 backend add
expect 2 backend add $V
expect 2 backend add $V 198.18.40.999
expect 2 backend add $V 198.18.40.3 --weight -1
expect 2 backend add $V 198.18.40.3 --weight 1000001
expect 2 backend add $V 198.18.40.3 --weight abc
expect 2 backend add $V 198.18.40.3 --weight 1 --weight 2
expect 2 backend add $V 198.18.40.3 extra
expect 2 backend del $V
expect 2 backend del $V not-an-ip
# backend state
expect 2 backend state $V 198.18.40.2
expect 2 backend state $V 198.18.40.2 sleepy
expect 2 backend state $V 198.18.40.2 starting
expect 2 backend state $V 198.18.40.2 half-open
expect 2 backend state $V 198.18.40.2 down extra
# set-weight
expect 2 set-weight $V 198.18.40.2
expect 2 set-weight $V 198.18.40.2 1000001
expect 2 set-weight $V 198.18.40.2 -5
expect 2 set-weight $V 198.18.40.2 1.5
expect 2 set-weight $V nope 1
expect 2 set-weight bad 198.18.40.2 1
# stats / show
expect 2 stats --interval 0
expect 2 stats --interval x
expect 2 stats --count 0
expect 2 show extra

# Argument bytes never reach the terminal raw: control and non-UTF-8
# bytes are escaped in errors (\n, \xff), valid UTF-8 is kept.
# expect_escaped CODE WANT ARGS...: as expect, and stderr holds WANT
# literally and no byte outside printable ASCII/UTF-8.
expect_escaped() {
	local code=$1 want=$2 err
	shift 2
	expect "$code" "$@"
	err=$(cat /tmp/lbcli-err.$id)
	if ! printf '%s' "$err" | grep -qF -- "$want"; then
		bad "lbctl $*: stderr lacks '$want': $err"
	elif printf '%s' "$err" | LC_ALL=C grep -q '[[:cntrl:]]' ||
	     ! printf '%s' "$err" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then
		bad "lbctl $*: raw bytes on stderr: $(printf '%s' "$err" | od -c | head -3)"
	else
		ok
	fi
}
expect_escaped 2 "'1.2.3.4\n'" vip add $'1.2.3.4\n:80/tcp'
expect_escaped 2 "'\xff'" vip add $'\xff'
expect_escaped 2 "'\x1b[2J\xc2\x9b'" backend add $V $'\e[2J\xc2\x9b'
expect_escaped 2 "'\t'" set-weight $V 198.18.40.2 $'\t'
expect_escaped 2 "'--\xff'" vip add $V $'--\xff'
expect_escaped 1 "'nosuch\r\x07'" attach $'nosuch\r\a'
expect_escaped 2 "'caf"$'\xc3\xa9'"'" vip add 'café'
# a library message that quotes a config value escapes it once, and the
# error sink leaves it so (escaping is idempotent): \x01, never \\x01
printf 'vips:\n  - address: 198.18.40.77:80/tcp\n    mode: "ip\\x01ip"\n' >"$tmpd/ctl.yaml"
expect_escaped 2 'mode: must be ipip or l2dsr, got "ip\x01ip"' apply -f "$tmpd/ctl.yaml"
out=$(L -j vip add $'a\nb\xff' 2>/dev/null); code=$?
if [ $code = 2 ] && printf '%s' "$out" | python3 -c '
import json, sys
e = json.load(sys.stdin)["error"]
sys.exit(0 if "a\\nb\\xff" in e and "\n" not in e else 1)'; then
	ok
else
	bad "-j error with raw bytes: code $code, '$out'"
fi

# refused at run time: exit 1, nothing changed
expect 1 vip add $V
expect 1 vip del 198.18.40.99:80/tcp
expect 1 backend add 198.18.40.99:80/tcp 198.18.40.2
expect 1 backend add $V 198.18.40.2
expect 1 backend add $V 2001:db8:40::2
expect 1 backend del $V 198.18.40.3
expect 1 set-weight $V 198.18.40.3 1
expect 1 vip set 198.18.40.99:80/tcp --policy rr
expect 1 backend state $V 198.18.40.3 down
expect 1 attach cli0
expect 1 attach nosuchdev0
expect 1 detach nosuchdev0

# JSON errors are one JSON object on stdout
out=$(L -j vip add nonsense 2>/dev/null); code=$?
if [ $code = 2 ] && printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if list(d)==["error"] else 1)'; then
	ok
else
	bad "-j error output: code $code, '$out'"
fi
out=$(L -j help); [ "$out" = null ] && ok || bad "-j help printed '$out'"
[ "$(L show -j)" = "$before" ] && ok || bad "state changed during the test"

# vip set changes policy and admission of a live VIP, and show says so;
# backend state is shown, and set back
L vip set $V --policy least-conn --rate 500 --burst 50 --client-rate 20 \
	--client-prefix 24 --refuse drop --fail-open on --ttft-target 800 >/dev/null &&
	L -j show | python3 -c '
import json, sys
v = [x for x in json.load(sys.stdin)["vips"] if x["vip"] == sys.argv[1]][0]
want = dict(policy="least-conn", rate=500, burst=50, client_rate=20,
            client_prefix=24, refuse="drop", fail_open=True, ttft_target_ms=800)
sys.exit(0 if all(v[k] == w for k, w in want.items()) else 1)' $V &&
	ok || bad "vip set / show"
L backend state $V 198.18.40.2 down >/dev/null &&
	L show | grep -q "198.18.40.2 .* down" && ok || bad "backend state down"
L show | grep -q "198.18.40.2 .* down  *override state until released" &&
	ok || bad "backend state down is shown as an override: $(L show | grep 198.18.40.2)"
L vip set $V --policy maglev --rate 0 --burst 0 --client-rate 0 --client-prefix 32 \
	--refuse reset --fail-open off --ttft-target 0 >/dev/null &&
	L backend state $V 198.18.40.2 healthy >/dev/null &&
	L backend release $V 198.18.40.2 >/dev/null &&
	[ "$(L show -j)" = "$before" ] && ok || bad "vip set / backend state back, released"
# second chance: on by default for an ipip VIP, switched off and on again
sc_of() { L -j show | python3 -c '
import json, sys
print([x for x in json.load(sys.stdin)["vips"] if x["vip"] == sys.argv[1]][0]["second_chance"])' "$1"; }
[ "$(sc_of $V)" = True ] && L vip set $V --second-chance off >/dev/null &&
	[ "$(sc_of $V)" = False ] && L vip set $V --second-chance on >/dev/null &&
	[ "$(L show -j)" = "$before" ] && ok || bad "vip set --second-chance"

# be_field ADDR FIELD: one field of a backend in show -j
be_field() { L -j show | python3 -c '
import json, sys
print([b for v in json.load(sys.stdin)["vips"] for b in v["backends"]
       if b["address"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"; }
# Weight ownership: set-weight is an override (until released, or --for);
# release hands it back and changes neither weight nor state.
L set-weight $V 198.18.40.2 7 --for 90s >/dev/null &&
	L -j show | python3 -c '
import json, sys
b = [b for v in json.load(sys.stdin)["vips"] for b in v["backends"]
     if b["address"] == "198.18.40.2"][0]
o = b["override"]
sys.exit(0 if b["weight"] == 7 and o["of"] == "weight" and 85 <= o["expires_in_s"] <= 90 else 1)' &&
	ok || bad "set-weight --for 90s: $(L -j show)"
L backend state $V 198.18.40.2 draining >/dev/null &&
	L show | grep -q "198.18.40.2 .* override weight+state until released" &&
	ok || bad "weight and state overrides: $(L show | grep 198.18.40.2)"
out=$(L backend release $V 198.18.40.2) &&
	[ "$out" = "released 198.18.40.2" ] &&
	L show | grep "198.18.40.2" | grep -qv override &&
	[ "$(be_field 198.18.40.2 weight)" = 7 ] && [ "$(be_field 198.18.40.2 state)" = draining ] &&
	ok || bad "release: '$out', $(L show | grep 198.18.40.2)"
out=$(L backend release $V 198.18.40.2) &&
	[ "$out" = "198.18.40.2 has no override; nothing to release" ] &&
	ok || bad "release without an override: '$out'"
L backend state $V 198.18.40.2 healthy >/dev/null && L set-weight $V 198.18.40.2 100 >/dev/null &&
	L backend release $V 198.18.40.2 >/dev/null &&
	[ "$(be_field 198.18.40.2 weight)" = 100 ] && [ "$(be_field 198.18.40.2 state)" = healthy ] &&
	[ "$(be_field 198.18.40.2 override)" = None ] &&
	ok || bad "weight, state and overrides back: $(L show | grep 198.18.40.2)"
# set-weight rebuilt the table (its generation moved): the new baseline
before=$(L show -j)
expect 1 backend release $V 198.18.40.99
expect 2 backend release $V
expect 2 set-weight $V 198.18.40.2 5 --for 0s
expect 2 set-weight $V 198.18.40.2 5 --for 10x
expect 2 set-weight $V 198.18.40.2 5 --for 367d
expect 2 set-weight $V 198.18.40.2 5 --for
expect 2 backend state $V 198.18.40.2 down --for -1s

# Concurrent lbctl runs serialize on the pin directory's lock: 12 parallel
# VIP adds all land with distinct ids, 12 parallel deletes remove them all.
for i in $(seq 20 31); do L vip add 198.18.40.$i:80/tcp >/dev/null & done; wait
ids=$(L -j vip list | python3 -c 'import json,sys; v=json.load(sys.stdin)["vips"]; print(len(v), len(set(x["id"] for x in v)))')
[ "$ids" = "14 14" ] && ok || bad "parallel vip add: '$ids' (want 14 VIPs, 14 distinct ids)"
for i in $(seq 20 31); do L vip del 198.18.40.$i:80/tcp >/dev/null & done; wait
[ "$(L show -j)" = "$before" ] && ok || bad "parallel vip del did not restore the state"

# A schema other than this lbctl's is refused with a clear error.
bpftool map update pinned "$pins/lb_meta" key 0 0 0 0 value 99 0 0 0 0 0 0 0 || bad "bpftool"
out=$(L show 2>&1); code=$?
[ $code = 1 ] && printf '%s' "$out" | grep -q 'schema v99' && ok || bad "schema mismatch: $code $out"
schema=$(awk '/#define LB_SCHEMA_VERSION/ { print $3 }' "$(dirname "$0")/../include/inferlb.h")
bpftool map update pinned "$pins/lb_meta" key 0 0 0 0 value "$schema" 0 0 0 0 0 0 0
[ "$(L show -j)" = "$before" ] && ok || bad "state after the schema check"

# A second device shares the same program and maps: one more link only.
ip link add cli2 netns $ns_lb type veth peer name cli3 netns $ns_be &&
	ip -n $ns_lb link set cli2 up && ip -n $ns_be link set cli3 up
L attach cli2 >/dev/null && [ -e "$pins/link_cli2" ] &&
	[ "$(L -j show | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)["devices"]))')" = "['cli0', 'cli2']" ] &&
	ok || bad "second device"
L detach cli2 >/dev/null && [ ! -e "$pins/link_cli2" ] && [ "$(L show -j)" = "$before" ] &&
	ok || bad "detach of the second device"

# A failed first attach leaves nothing behind.
fresh=/sys/fs/bpf/lbcli-fresh-$id
out=$(nsenter --net=/run/netns/$ns_lb "$lbctl" --pin-dir "$fresh" attach nosuchdev0 2>&1); code=$?
[ $code = 1 ] && [ ! -e "$fresh" ] && ok || bad "failed first attach: code $code, left: $(ls "$fresh" 2>&1)"
rm -rf "$fresh"
# unload removes every pin it made and the directory (every map of the
# object is pinned by name, also those no command opens), and a map pin of
# an earlier schema left by an upgrade (lb_config, now lb_settings)
full=/sys/fs/bpf/lbcli-full-$id
out=$(nsenter --net=/run/netns/$ns_lb "$lbctl" --pin-dir "$full" attach cli2 2>&1 &&
	bpftool map create "$full/lb_config" type array key 4 value 40 entries 1 name lb_config &&
	nsenter --net=/run/netns/$ns_lb "$lbctl" --pin-dir "$full" unload 2>&1); code=$?
[ $code = 0 ] && [ ! -e "$full" ] && ok || bad "full unload: code $code, left: $(ls "$full" 2>&1) ($out)"
rm -rf "$full"
# nothing pinned (no directory): unload has nothing to do, exit 0
none=/sys/fs/bpf/lbcli-none-$id
out=$("$lbctl" --pin-dir "$none" unload 2>&1); code=$?
[ $code = 0 ] && [ "$out" = "nothing loaded under $none" ] && [ ! -e "$none" ] &&
	ok || bad "unload with nothing pinned: code $code ($out)"
out=$("$lbctl" -j --pin-dir "$none" unload 2>&1); code=$?
[ $code = 0 ] && [ "$out" = "{\"unloaded\":\"$none\"}" ] &&
	ok || bad "-j unload with nothing pinned: code $code ($out)"
# unload only ever removes inferlb's own pins
foreign=/sys/fs/bpf/lbcli-foreign-$id
mkdir -p "$foreign" && bpftool map create "$foreign/other" type array key 4 value 4 entries 1 name other
out=$("$lbctl" --pin-dir "$foreign" unload 2>&1); code=$?
[ $code = 1 ] && [ -e "$foreign/other" ] && ok || bad "unload of a foreign dir: code $code ($out)"
rm -rf "$foreign"

# lbctl stats reads one snapshot (lib/lb_stats, as /metrics does): a SYN
# to the VIP counts on the VIP and on the backend the flow went to, under
# that VIP, and nowhere else. (Last: the open flow changes `show`.)
mac=$(ip -n $ns_lb -j link show cli0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
ip -n $ns_be neigh replace 198.18.40.10 lladdr "$mac" dev cli1
ip netns exec $ns_be timeout 2 bash -c 'exec 3<>/dev/tcp/198.18.40.10/80' 2>/dev/null
L -j stats | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = {x["vip"]: x for x in d["vips"]}
v4, v6 = v["198.18.40.10:80/tcp"], v["[2001:db8:40::10]:80/tcp"]
b = v4["backends"][0]
ok = (v4["packets"] >= 1 and v4["new_flows"] >= 1 and b["address"] == "198.18.40.2"
      and b["new_flows"] == v4["new_flows"] and b["open_flows"] >= 1
      and v6["packets"] == 0 and v6["backends"] == []
      and set(v4["refused"]) == {"vip_rate", "backend_rate", "client_rate",
          "no_backend", "state", "reset_sent", "dropped", "fail_open",
          "ttft_target"}
      and len(d["reasons"]) == 23)
sys.exit(0 if ok else 1)' && ok || bad "stats after a SYN to the VIP: $(L stats)"

# pin directory and pins are root's only
[ "$(stat -c %a "$pins")" = 700 ] && ok || bad "pin dir mode $(stat -c %a "$pins")"
modes=$(find "$pins" -maxdepth 1 -type f -printf '%m\n' | sort -u)
[ "$modes" = 600 ] && ok || bad "pin modes: $modes"

# backend del --drain: its options are checked before anything is looked
# at; a VIP or backend that is not there changes nothing. (Last but one:
# the drain below deletes the backend.)
before=$(L show -j)
B2=198.18.40.2
expect 2 backend del $V $B2 --timeout 5
expect 2 backend del $V $B2 --idle 5s
for t in 0 abc -1 5x 367d 1.5s ''; do
	expect 2 backend del $V $B2 --drain --timeout "$t"
done
expect 2 backend del $V $B2 --drain --timeout
expect 2 backend del $V $B2 --drain --timeout 1 --timeout 2
expect 2 backend del $V $B2 --drain --drain
expect 2 backend del $V $B2 --drain --idle 500ms
expect 2 backend del $V $B2 --drain --idle 0
expect 2 backend del $V $B2 --drain extra
expect 2 backend del $V --drain
expect 1 backend del $V 198.18.40.99 --drain
expect 1 backend del 198.18.40.11:80/tcp $B2 --drain
# the flow the SYN above opened (never closed) holds the drain: --timeout
# ends it with exit 1, the backend left draining with weight 0 ...
out=$(L backend del $V $B2 --drain --timeout 1 2>&1); code=$?
L -j show | python3 -c '
import json, sys
b = json.load(sys.stdin)["vips"][0]["backends"][0]
sys.exit(0 if b["state"] == "draining" and b["weight"] == 0 and b["override"]["of"] == "state" else 1)' &&
	[ $code = 1 ] && printf '%s' "$out" | grep -q 'timed out after 1 s: backend 198.18.40.2 .* left draining, not deleted (1 open flows' &&
	ok || bad "drain timeout: code $code, $out; $(L show)"
# ... and with --idle 1s that flow (no packet since) has ended after 1 s:
# deleted, one JSON document
out=$(L -j backend del $V $B2 --drain --idle 1s --timeout 10 2>&1); code=$?
[ $code = 0 ] && printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["deleted"] == "198.18.40.2" and d["drained"] is True and d["waited_s"] >= 0.5 else 1)' &&
	[ "$(L -j show | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["vips"][0]["backends"]))')" = 0 ] &&
	ok || bad "drain with --idle 1s: code $code, $out"

rm -f /tmp/lbcli-err.$id
echo "test_lbctl_cli: $pass passed, $fail failed"
[ $fail = 0 ]
