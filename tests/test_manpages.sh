#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# test_manpages.sh - the man pages and the bash completion against the
# programs they describe. Usage: tests/test_manpages.sh [BUILD_DIR]
#
# 1. Every page (man/*.scd) builds with scdoc and renders without a
#    warning: groff -man -ww, and man --warnings when man is installed.
# 2. lbctl(8) has every command `lbctl help` lists, in a section of its
#    own (.SS COMMAND) that names each option `lbctl OBJECT help` gives it;
#    an option the section defines but lbctl does not take fails too; the
#    global options of the usage line are defined in GLOBAL OPTIONS. An
#    option is defined by the term of a definition list that starts with
#    it ("--mode native|skb"); prose that names an option defines nothing.
# 3. lb-agent(8)'s OPTIONS define every option `lb-agent --help` prints,
#    and no other; SIGHUP and SIGTERM are defined.
# 4. inferlb-fleet.yaml(5) defines (a line "KEY: ...", KEY in bold) every
#    key the config parser accepts, taken from the sources: the static key
#    arrays (`const char *const ...keys[] = {...}`) of agent/config.c,
#    agent/discover_conf.c, agent/announce_conf.c and lib/lb_topo.c, the
#    top level's "vips", and the policy: rows (PU/PD) of config.c's
#    pfields table; a key the page defines that the parser does not know
#    fails too.
# 5. completion/lbctl.bash, sourced in bash with COMP_WORDS/COMP_CWORD
#    set: objects, verbs, options, option choices and positional choices,
#    each compared with what lbctl help says; as root, VIPs and backend
#    addresses from a real pinned datapath in a namespace of its own
#    (198.18.44.0/24), else that part is skipped.
#
# Needs no root for 1-5 but the addresses; takes a few seconds.
set -u
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
lbctl=$(realpath "$build/lbctl")
agent=$(realpath "$build/lb-agent")
tmpd=$(mktemp -d)
id=$$
ns_lb=lbman-lb-$id
ns_be=lbman-be-$id
pins=/sys/fs/bpf/lbman-$id
pass=0
fail=0
netns_made=

cleanup() {
	if [ -n "$netns_made" ]; then
		timeout 20 nsenter --net=/run/netns/$ns_lb "$lbctl" --pin-dir "$pins" \
			unload >/dev/null 2>&1
		rm -rf "$pins" 2>/dev/null
		ip netns del $ns_lb 2>/dev/null
		ip netns del $ns_be 2>/dev/null
	fi
	rm -rf "$tmpd"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

for f in "$lbctl" "$agent"; do
	[ -x "$f" ] || { echo "FAIL: $f is not built"; exit 1; }
done
command -v scdoc >/dev/null || { echo "FAIL: scdoc is missing (scripts/install-deps.sh)"; exit 1; }

# ---- 1. build and render -------------------------------------------------
pages=0
for scd in "$src"/man/*.scd; do
	page=$(basename "$scd" .scd)
	if ! scdoc <"$scd" >"$tmpd/$page" 2>"$tmpd/err"; then
		bad "scdoc $page: $(cat "$tmpd/err")"
		continue
	fi
	pages=$((pages + 1))
	if LC_ALL=C grep -n '[^[:print:][:space:]]' "$scd" >"$tmpd/err"; then
		bad "$page: bytes beyond ASCII (groff warns): $(head -3 "$tmpd/err")"
	fi
	w=$(groff -man -Tutf8 -ww -z "$tmpd/$page" 2>&1)
	[ -z "$w" ] && ok || bad "groff -ww $page: $w"
	if command -v man >/dev/null; then
		w=$(MANWIDTH=80 man --warnings -l "$tmpd/$page" 2>&1 >/dev/null)
		[ -z "$w" ] && ok || bad "man --warnings $page: $w"
	fi
done
for p in lbctl.8 lb-agent.8 inferlb-fleet.yaml.5; do
	[ -s "$tmpd/$p" ] || { echo "FAIL: man/$p.scd did not build"; exit 1; }
done

# The roff as text: no font changes, plain '-', no zero-width breaks.
plain() {
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\&//g' -e "s/\\\\(aq/'/g" "$1"
}
# The terms of a page's definition lists (the line scdoc puts before the
# indented definition, ".RS"), and its .SH/.SS headings: what the page
# defines, not what its prose mentions.
terms() {
	awk '/^\.S[HS] / { print; prev = ""; next }
	     /^\.RS/ { if (prev != "" && prev !~ /^\./) print prev }
	     { prev = $0 }' "$1"
}
# The option words of text on stdin: --long, and -x standing alone.
option_words() {
	grep -oE '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' |
		sed -E 's/^[^-]*//' | grep -E '^(--[a-z]|-[A-Za-z]$)' | sort -u
}

# ---- 2. lbctl(8) against lbctl help --------------------------------------
# Compared as sorted "COMMAND<TAB>OPTION" pairs: one list from the help of
# every object, one from the page's definition lines by section.
plain "$tmpd/lbctl.8" >"$tmpd/lbctl.txt"
terms "$tmpd/lbctl.txt" >"$tmpd/lbctl.terms"
"$lbctl" help >"$tmpd/help" || bad "lbctl help exited $?"
# the command words of each "  lbctl ..." line
sed -n 's/^  lbctl //p' "$tmpd/help" |
	awk '{ c = ""; for (i = 1; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) c = c (c ? " " : "") $i; print c }' \
	>"$tmpd/cmds"
ncmds=$(wc -l <"$tmpd/cmds")
[ "$ncmds" -ge 20 ] && ok || bad "lbctl help lists $ncmds commands"
# the options named on a line: --long, and -x standing alone
OPT_AWK='function opts(s, pre,   o) {
	s = " " s
	while (match(s, /[^A-Za-z0-9-]--?[A-Za-z][A-Za-z0-9-]*/)) {
		o = substr(s, RSTART + 1, RLENGTH - 1)
		s = substr(s, RSTART + RLENGTH)
		if (o ~ /^--[a-z]/ || o ~ /^-[A-Za-z]$/)
			print pre o
	}
}'
for obj in $(cut -d' ' -f1 "$tmpd/cmds" | sort -u); do
	"$lbctl" "$obj" help || bad "lbctl $obj help exited $?"
done >"$tmpd/allhelp"
awk "$OPT_AWK"'
	/^  lbctl / {
		cmd = ""
		for (i = 2; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++)
			cmd = cmd (cmd ? " " : "") $i
		print cmd >"/dev/stderr"
	}
	/^Exit status/ || /^Usage:/ || /^       lbctl help/ { cmd = "" }
	cmd != "" { opts($0, cmd "\t") }' "$tmpd/allhelp" 2>"$tmpd/helpcmds" |
	sort -u >"$tmpd/want"
awk "$OPT_AWK"'
	/^\.SS / { sub(/^\.SS /, ""); gsub(/"/, ""); sec = $0; print sec >"/dev/stderr"; next }
	/^\.SH / { sec = ""; next }
	sec != "" && /^-/ { opts($0, sec "\t") }' "$tmpd/lbctl.terms" 2>"$tmpd/mancmds" |
	sort -u >"$tmpd/have"
sort -u -o "$tmpd/helpcmds" "$tmpd/helpcmds"
sort -u -o "$tmpd/mancmds" "$tmpd/mancmds"
sort -u "$tmpd/cmds" | comm -23 - "$tmpd/helpcmds" | while read -r c; do
	echo "lbctl help lists '$c', which its object's help lacks"
done >"$tmpd/miss"
sort -u "$tmpd/cmds" | comm -23 - "$tmpd/mancmds" | while read -r c; do
	echo "lbctl.8 has no section '.SS $c' (lbctl help lists it)"
done >>"$tmpd/miss"
comm -23 "$tmpd/want" "$tmpd/have" | while IFS=$'\t' read -r c o; do
	echo "lbctl.8, '$c': option $o not defined (lbctl ${c%% *} help has it)"
done >>"$tmpd/miss"
comm -13 "$tmpd/want" "$tmpd/have" | while IFS=$'\t' read -r c o; do
	echo "lbctl.8, '$c': defines $o, which lbctl ${c%% *} help does not list"
done >>"$tmpd/miss"
nopts=$(wc -l <"$tmpd/want")
[ "$nopts" -ge 50 ] && ok || bad "lbctl's help names only $nopts command options"
if [ -s "$tmpd/miss" ]; then
	while IFS= read -r l; do bad "$l"; done <"$tmpd/miss"
else
	pass=$((pass + ncmds + nopts))
fi
# global options: the usage lines
sed -n '/^Usage:/,/^$/p' "$tmpd/help" | option_words >"$tmpd/global"
nglobal=$(wc -l <"$tmpd/global")
[ "$nglobal" -ge 4 ] && ok || bad "lbctl help's usage names $nglobal options"
awk '/^\.SH / { on = ($0 ~ /^\.SH "?GLOBAL OPTIONS/); next } on' "$tmpd/lbctl.terms" |
	grep -E '^-' | option_words >"$tmpd/ghave"
while read -r o; do
	grep -qxF -- "$o" "$tmpd/ghave" && ok ||
		bad "lbctl.8 GLOBAL OPTIONS: $o not defined (lbctl help's usage has it)"
done <"$tmpd/global"
grep -q '^Exit status: 0 success, 1 failure, 2 usage error' "$tmpd/help" &&
	grep -q '^\.SH EXIT STATUS' "$tmpd/lbctl.txt" && ok ||
	bad "lbctl.8: EXIT STATUS (or lbctl help's exit status line) changed"
echo "lbctl: $ncmds commands, $nopts command options, $nglobal global options compared"

# ---- 3. lb-agent(8) against lb-agent --help ------------------------------
plain "$tmpd/lb-agent.8" >"$tmpd/agent.txt"
"$agent" --help >"$tmpd/ahelp" || bad "lb-agent --help exited $?"
grep -E '^ *-' "$tmpd/ahelp" | option_words >"$tmpd/awant"
sed -n 's/^Usage: //p' "$tmpd/ahelp" | option_words >>"$tmpd/awant"
sort -u -o "$tmpd/awant" "$tmpd/awant"
naopts=$(wc -l <"$tmpd/awant")
[ "$naopts" -ge 5 ] && ok || bad "lb-agent --help names $naopts options"
terms "$tmpd/agent.txt" |
	awk '/^\.SH / { on = ($0 ~ /^\.SH "?OPTIONS/); next } on' >"$tmpd/aopts"
grep -E '^-' "$tmpd/aopts" | option_words >"$tmpd/ahave"
while read -r o; do
	grep -qxF -- "$o" "$tmpd/ahave" && ok ||
		bad "lb-agent.8 OPTIONS: $o missing (lb-agent --help has it)"
done <"$tmpd/awant"
while read -r o; do
	grep -qxF -- "$o" "$tmpd/awant" || echo "lb-agent.8 defines $o, which lb-agent --help lacks"
done <"$tmpd/ahave" >"$tmpd/extra"
[ -s "$tmpd/extra" ] && bad "$(cat "$tmpd/extra")" || ok
for s in SIGHUP SIGTERM; do
	grep -q "$s" "$tmpd/ahelp" && terms "$tmpd/agent.txt" | grep -q "^$s" && ok ||
		bad "lb-agent.8: signal $s not defined"
done
echo "lb-agent: $naopts options compared"

# ---- 4. inferlb-fleet.yaml(5) against the parser's keys ------------------
conf_keys() {
	local defs
	# key names behind macros: #define LB_TOPO_CLUSTER_KEY "cluster"
	defs=$(sed -n 's/^#define \(LB_TOPO_[A-Z_]*_KEY\) "\([a-z_]*\)".*/s\/\1\/"\2"\//p' \
		"$src/lib/lb_topo.h")
	{
		awk '/const char \*const [a-z_]*keys\[[A-Za-z_0-9]*\] = \{/ { on = 1 }
		     on { print } on && /\};/ { on = 0 }' \
			"$src/agent/config.c" "$src/agent/discover_conf.c" \
			"$src/agent/announce_conf.c" "$src/lib/lb_topo.c" |
			sed "$defs" | grep -o '"[a-z_]*"' | tr -d '"'
		# the top level adds its own "vips" to the extension's keys
		sed -n 's/.*keys\[n\] = "\([a-z_]*\)".*/\1/p' "$src/lib/lb_topo.c"
		# policy: PU(name, ...) / PD(name, ...) and rows spelled out
		sed -n -e 's/^[[:space:]]*P[UD](\([a-z_]*\),.*/\1/p' \
			-e 's/^[[:space:]]*{ "\([a-z_]*\)", P_[A-Z0-9]*,.*/\1/p' \
			"$src/agent/config.c"
	} | sort -u
}
conf_keys >"$tmpd/keys"
nkeys=$(wc -l <"$tmpd/keys")
# sanity: the extraction still finds the keys of every section
for k in vips agent metrics_listen poll_interval_ms backend_burst lease_ttl_s \
	drain_ms ring_size capacity slots discover min_ttl_s template waiting; do
	grep -qxF "$k" "$tmpd/keys" || bad "key extraction found no '$k' (the sources changed shape?)"
done
[ "$nkeys" -ge 80 ] && ok || bad "key extraction found only $nkeys keys"
# the keys the page defines: a line starting with KEY in bold, then ':'
grep -oE '^\\fB[a-z_]+(\\fR:|:\\fR)' "$tmpd/inferlb-fleet.yaml.5" |
	sed -E 's/^\\fB//; s/(\\fR:|:\\fR)$//' | sort -u >"$tmpd/kdoc"
comm -23 "$tmpd/keys" "$tmpd/kdoc" | while read -r k; do
	echo "inferlb-fleet.yaml.5: key '$k' not defined"
done >"$tmpd/miss"
comm -13 "$tmpd/keys" "$tmpd/kdoc" | while read -r k; do
	echo "inferlb-fleet.yaml.5 defines '$k', which the parser does not accept"
done >>"$tmpd/miss"
if [ -s "$tmpd/miss" ]; then
	while IFS= read -r l; do bad "$l"; done <"$tmpd/miss"
else
	pass=$((pass + nkeys))
fi
echo "inferlb-fleet.yaml: $nkeys parser keys (from the sources' key arrays and pfields), $(wc -l <"$tmpd/kdoc") defined in the page"

# ---- 5. bash completion --------------------------------------------------
# comp WORD...: COMPREPLY, sorted, one line, for the cursor on the last
# word (the completion is sourced into this shell, as bash does)
# shellcheck source=completion/lbctl.bash
. "$src/completion/lbctl.bash"
comp() {
	COMP_WORDS=("$lbctl" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_lbctl
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
# same WANT WORD...: the completion equals the words of WANT (any order)
same() {
	local want=$1 got
	shift
	want=$(printf '%s\n' $want | sort | tr '\n' ' ')
	got=$(comp "$@")
	[ "$got" = "$want" ] && ok || bad "completion of 'lbctl $*': got '$got', want '$want'"
}
ncomp=0
# objects and verbs from lbctl help
same "help $(cut -d' ' -f1 "$tmpd/cmds" | sort -u | tr '\n' ' ')" ""
ncomp=$((ncomp + 1))
for obj in $(awk 'NF > 1 { print $1 }' "$tmpd/cmds" | sort -u); do
	same "help $(awk -v o="$obj" '$1 == o { print $2 }' "$tmpd/cmds" | tr '\n' ' ')" "$obj" ""
	ncomp=$((ncomp + 1))
done
# each command's options (its long ones; -f's long name too), after "--":
# the pairs section 2 took from lbctl's help
while IFS= read -r cmd; do
	want=$(awk -F'\t' -v c="$cmd" '$1 == c && $2 ~ /^--/ { printf "%s ", $2 }' "$tmpd/want")
	[ -n "$want" ] || continue
	# shellcheck disable=SC2086
	same "$want" $cmd --
	ncomp=$((ncomp + 1))
done <"$tmpd/cmds"
# choices: a metavar's, a help line's, a positional's
same "native skb" attach eth0 --mode ""
same "ipip l2dsr" vip add 198.18.44.10:80/tcp --mode ""
same "reset drop" vip set 198.18.44.10:80/tcp --refuse ""
same "on off" vip set 198.18.44.10:80/tcp --second-chance ""
same "$("$lbctl" vip help | sed -n 's/^ *--policy P  *//p' | head -1 |
	sed 's/ (default)//; s/,//g')" vip set 198.18.44.10:80/tcp --policy ""
same "vllm sglang tgi triton generic" register --engine ""
same "healthy draining open down" backend state 198.18.44.10:80/tcp 198.18.44.2 ""
same "-j --json -p --pretty --pin-dir --version" -
same "$(ls /sys/class/net | tr '\n' ' ')" attach ""
ncomp=$((ncomp + 9))

# VIPs and backends from `lbctl -j show`: a real datapath (root)
naddr=0
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && command -v nsenter >/dev/null; then
	L() { timeout 20 nsenter --net=/run/netns/$ns_lb "$lbctl" --pin-dir "$pins" "$@"; }
	netns_made=1
	if ip netns add $ns_lb && ip netns add $ns_be &&
		ip link add man0 netns $ns_lb type veth peer name man1 netns $ns_be &&
		ip -n $ns_lb addr add 198.18.44.1/24 dev man0 &&
		ip -n $ns_be addr add 198.18.44.2/24 dev man1 &&
		ip -n $ns_be addr add 198.18.44.3/24 dev man1 &&
		ip -n $ns_lb link set man0 up && ip -n $ns_be link set man1 up &&
		L attach man0 >/dev/null &&
		L vip add 198.18.44.10:80/tcp >/dev/null &&
		L vip add 198.18.44.11:443/tcp >/dev/null &&
		L backend add 198.18.44.10:80/tcp 198.18.44.2 >/dev/null &&
		L backend add 198.18.44.11:443/tcp 198.18.44.3 >/dev/null; then
		same "198.18.44.10:80/tcp 198.18.44.11:443/tcp" --pin-dir "$pins" vip del ""
		same "198.18.44.10:80/tcp 198.18.44.11:443/tcp" --pin-dir "$pins" backend add ""
		same "198.18.44.2" --pin-dir "$pins" backend del 198.18.44.10:80/tcp ""
		same "198.18.44.3" --pin-dir "$pins" -j set-weight 198.18.44.11:443/tcp ""
		same "" --pin-dir /nonexistent-$id vip del ""
		naddr=5
	else
		bad "setting up a datapath for the address completion"
	fi
else
	echo "(VIP and backend address completion skipped: needs root for the pinned maps)"
fi
echo "completion: $((ncomp + naddr)) cases ($naddr of them addresses from lbctl -j show)"

echo "test_manpages: $pages pages, $pass passed, $fail failed"
[ "$fail" -eq 0 ]
