#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# test_package.sh BUILD - the Debian package that `make deb` built
# (BUILD/deb/inferlb_*.deb), installed on this machine like an operator
# would: lintian, dpkg -i, every file where the package and the units say,
# `systemd-analyze verify` of the units, the installed lbctl --version and
# lb-agent --check on the shipped config, the man pages, completion and
# monitoring files; then dpkg --purge and nothing
# may be left (conffiles in /etc/inferlb included).
#
# Root. It refuses to run when inferlb is already installed (a host's own
# install is not ours to purge). Installing starts no service: the package
# neither enables nor starts its units, and a policy-rc.d refuses starts
# anyway. On exit, even a failed one, the package is purged.
set -u

B=${1:-build}
T=60		# every step's bound, in seconds
fails=0
installed=

say() { printf '== %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }
check() {	# check WHAT CMD...: CMD's exit status decides
	local what=$1
	shift
	if timeout "$T" "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}

[ "$(id -u)" -eq 0 ] || { echo "test_package: needs root" >&2; exit 1; }
deb=$(ls "$B"/deb/inferlb_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "test_package: no $B/deb/inferlb_*.deb (make deb)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' inferlb 2>/dev/null | grep -q "installed\|config-files"; then
	echo "test_package: inferlb is installed on this host already; not touching it" >&2
	exit 1
fi
version=$(dpkg-deb -f "$deb" Version)
changes=${deb%.deb}.changes

# What the package must hold, and what must be absent before and after.
PATHS="/usr/sbin/lbctl /usr/sbin/lb-agent /usr/lib/inferlb /etc/inferlb \
/lib/systemd/system/lb-agent.service /lib/systemd/system/inferlb@.service \
/usr/share/doc/inferlb /usr/share/inferlb \
/usr/share/bash-completion/completions/lbctl \
/usr/share/man/man8/lbctl.8.gz /usr/share/man/man8/lb-agent.8.gz \
/usr/share/man/man5/inferlb-fleet.yaml.5.gz"
# deb-systemd-helper's records of a unit (enabled or masked state)
DSH=/var/lib/systemd/deb-systemd-helper-enabled
dsh_state() {
	find "$DSH" /var/lib/systemd/deb-systemd-helper-masked \
		\( -name 'lb-agent*' -o -name 'inferlb*' \) 2>/dev/null
}

present() {	# the PATHS that exist
	local p
	for p in $PATHS; do [ -e "$p" ] && echo "$p"; done
}
before=$(present)
[ -z "$before" ] || {
	echo "test_package: already on this host (not from the package):" $before >&2
	exit 1
}

rcd=/usr/sbin/policy-rc.d
own_rcd=
tmp=$(mktemp -d /tmp/inferlb-pkgtest.XXXXXX)
cleanup() {
	if [ -n "$installed" ]; then
		timeout "$T" dpkg --purge inferlb >/dev/null 2>&1 ||
			echo "test_package: dpkg --purge inferlb failed" >&2
	fi
	[ -n "$own_rcd" ] && rm -f "$rcd"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say "lintian $(basename "$changes")"
if [ -f "$changes" ]; then
	timeout 180 lintian "$changes" >"$tmp/lintian" 2>&1
	grep -v '^N:\|root privileges' "$tmp/lintian" | sed 's/^/     /'
	printf '     summary: %s errors, %s warnings, %s info\n' \
		"$(grep -c '^E:' "$tmp/lintian")" "$(grep -c '^W:' "$tmp/lintian")" \
		"$(grep -c '^I:' "$tmp/lintian")"
	if grep -q '^E:' "$tmp/lintian"; then bad "lintian: errors"; else ok "lintian: no errors"; fi
else
	bad "no $changes"
fi

say "dpkg -i $(basename "$deb")"
if [ ! -e "$rcd" ]; then
	printf '#!/bin/sh\n# inferlb test_package.sh: start no service\nexit 101\n' >"$rcd"
	chmod 755 "$rcd"
	own_rcd=1
fi
installed=1	# from here on, purge on exit (also a half-done install)
if timeout 120 dpkg -i "$deb" >"$tmp/dpkg-i" 2>&1; then
	ok "installed inferlb $version"
else
	sed 's/^/     /' "$tmp/dpkg-i"
	bad "dpkg -i"
	exit 1
fi

say "files"
# what dpkg says it installed is what the .deb holds, and is there
dpkg -L inferlb | sort >"$tmp/listed"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' | grep -v '^$' | sort >"$tmp/in-deb"
if diff <(grep -v '^/\.$' "$tmp/listed") <(grep -v '^/$' "$tmp/in-deb") >"$tmp/diff"; then
	ok "dpkg -L lists what the .deb holds ($(wc -l <"$tmp/listed") paths)"
else
	bad "dpkg -L and the .deb differ:"; sed 's/^/     /' "$tmp/diff"
fi
missing=0
while read -r f; do [ -e "$f" ] || { echo "     missing: $f"; missing=1; }; done <"$tmp/listed"
[ $missing -eq 0 ] && ok "every listed path exists" || bad "listed paths missing"
for f in /usr/sbin/lbctl /usr/sbin/lb-agent; do
	check "$f is an executable" test -x "$f"
done
for f in /usr/lib/inferlb/lb.bpf.o /usr/lib/inferlb/decap.bpf.o; do
	if readelf -h "$f" 2>/dev/null | grep -q 'Machine:.*BPF' &&
	   readelf -S "$f" 2>/dev/null | grep -q '\.BTF'; then
		ok "$f: eBPF with BTF"
	else
		bad "$f: not an eBPF object with BTF"
	fi
done
if dpkg-query -W -f='${Conffiles}\n' inferlb | grep -q '^ /etc/inferlb/fleet.yaml '; then
	ok "/etc/inferlb/fleet.yaml is a conffile"
else
	bad "/etc/inferlb/fleet.yaml is not a conffile"
fi
for f in README.md.gz README.agent.md.gz discovery.md.gz copyright \
	 examples/bird/inferlb-host.conf examples/bird/router-ecmp.conf; do
	check "doc: /usr/share/doc/inferlb/$f" test -s "/usr/share/doc/inferlb/$f"
done
# the programs the units run are where they say
for u in /lib/systemd/system/lb-agent.service /lib/systemd/system/inferlb@.service; do
	check "unit $u" test -s "$u"
	grep -o '^Exec[A-Za-z]*=[-@:+!]*[^ ]*' "$u" | sed 's/^[^=]*=[-@:+!]*//' | sort -u |
	while read -r prog; do
		if [ -x "$prog" ]; then echo "ok   $(basename "$u") runs $prog"; else echo "FAIL $(basename "$u") runs $prog: absent"; fi
	done >"$tmp/exec"
	cat "$tmp/exec"
	fails=$((fails + $(grep -c '^FAIL' "$tmp/exec")))
done
# nothing enabled by the install (the units need this host's device and
# config first)
if [ -e /etc/systemd/system/multi-user.target.wants/lb-agent.service ] ||
   deb-systemd-helper is-enabled lb-agent.service >/dev/null 2>&1; then
	bad "lb-agent.service enabled by the install"
else
	ok "no unit enabled by the install"
fi

say "systemd-analyze verify"
# a template is verified through an instance (lo: every host has it)
ln -s /lib/systemd/system/inferlb@.service "$tmp/inferlb@lo.service"
for u in /lib/systemd/system/lb-agent.service "$tmp/inferlb@lo.service"; do
	if timeout "$T" systemd-analyze verify --man=no "$u" >"$tmp/verify" 2>&1 &&
	   [ ! -s "$tmp/verify" ]; then
		ok "verify $(basename "$u")"
	else
		bad "verify $(basename "$u"):"; sed 's/^/     /' "$tmp/verify"
	fi
	timeout "$T" systemd-analyze security --offline=yes --man=no "$u" 2>/dev/null |
		grep 'Overall exposure' | sed 's/^→ */     /'
done

say "the installed programs"
out=$(timeout "$T" /usr/sbin/lbctl --version 2>&1)
if [ "$out" = "lbctl $version" ] || [ "${out#"lbctl $version "}" != "$out" ]; then ok "lbctl --version: $out"; else bad "lbctl --version: '$out', package $version"; fi
out=$(timeout "$T" /usr/sbin/lb-agent --version 2>&1) && ok "lb-agent --version: $out" ||
	bad "lb-agent --version: $out"
out=$(timeout "$T" /usr/sbin/lb-agent -c /etc/inferlb/fleet.yaml --check 2>&1) &&
	ok "lb-agent --check /etc/inferlb/fleet.yaml: $out" ||
	bad "lb-agent --check /etc/inferlb/fleet.yaml: $out"
out=$(timeout "$T" /usr/sbin/lbctl help 2>&1) && ok "lbctl help ($(echo "$out" | wc -l) lines)" ||
	bad "lbctl help: $out"

say "man pages, completion, monitoring"
for page in lbctl.8 lb-agent.8 inferlb-fleet.yaml.5; do
	f=/usr/share/man/man${page##*.}/$page.gz
	if [ -s "$f" ] && zcat "$f" | grep -q '^\.TH'; then
		ok "man page $f"
		# man renders it without a warning
		w=$(MANWIDTH=80 timeout "$T" man --warnings -l "$f" 2>&1 >/dev/null)
		[ -z "$w" ] && ok "man -l $page: renders cleanly" || bad "man -l $page: $w"
	else
		bad "man page $f absent or not roff"
	fi
done
f=/usr/share/bash-completion/completions/lbctl
check "completion $f" bash -n "$f"
check "completion defines a function for lbctl" \
	bash -c ". $f && complete -p lbctl"
check "dashboard /usr/share/inferlb/monitoring/grafana/inferlb.json is JSON with panels" \
	jq -e .panels /usr/share/inferlb/monitoring/grafana/inferlb.json
f=/usr/share/inferlb/monitoring/prometheus/inferlb-alerts.yml
if command -v promtool >/dev/null; then
	check "alert rules $f: promtool check rules" promtool check rules "$f"
else
	check "alert rules $f" test -s "$f"
fi

say "dpkg --purge inferlb"
if timeout 120 dpkg --purge inferlb >"$tmp/purge" 2>&1; then
	installed=
	ok "purged"
else
	sed 's/^/     /' "$tmp/purge"
	bad "dpkg --purge"
fi
if dpkg-query -W -f='${Status}' inferlb 2>/dev/null | grep -q "installed\|config-files"; then
	bad "dpkg still knows inferlb: $(dpkg-query -W -f='${Status}' inferlb)"
else
	ok "dpkg no longer knows inferlb"
fi
left=
while read -r f; do [ -e "$f" ] && [ ! -d "$f" ] && left="$left $f"; done <"$tmp/listed"
[ -z "$left" ] && ok "no file dpkg -L listed is left" || bad "left after purge:$left"
after=$(present)
[ -z "$after" ] && ok "none of the package's paths is left (/etc/inferlb included)" ||
	bad "left after purge:" $after
[ -z "$(dsh_state)" ] && ok "no deb-systemd-helper state left" || bad "state left: $(dsh_state)"

if [ $fails -eq 0 ]; then
	echo "test_package: PASS (inferlb $version)"
	exit 0
fi
echo "test_package: FAIL ($fails)"
exit 1
