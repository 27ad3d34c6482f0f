#!/bin/sh
# Install the Debian 12 packages inferlb needs to build, test and demo.
# Idempotent: only missing packages are installed. Needs root when anything is missing.
#
# libclang-rt-dev: the libFuzzer, ASan and UBSan runtimes that
# `clang -fsanitize=fuzzer,address,undefined` links (fuzz/, run by make
# test); clang only recommends it, and recommends are not installed here.
# libcrypt-dev: lb-agent checks /metrics basic-auth passwords against
# bcrypt hashes with crypt_r(3) (libxcrypt). openssl: tests/test_metrics_auth.sh
# makes a throwaway self-signed certificate for /metrics over TLS.
# valgrind: tests/test_agent.sh checks that lb-agent closes every descriptor
# it opened on each exit path (--track-fds).
# bird2, etcd-server, etcd-client: the cluster tests (tests/test_cluster.sh,
# make demo-cluster) run a BGP router (BIRD 2) and etcd in namespaces; their
# Debian services stay off like prometheus's (below). libjson-c-dev: lb-agent
# and lbctl read etcd v3's JSON gateway answers (lib/lb_etcd.c).
# libc-ares-dev: lb-agent's DNS discovery (agent/dns.c); unbound: the DNS
# server tests/test_dns.sh runs in a namespace (its service stays off).
# scdoc: `make man` builds the man pages (man/*.scd -> build/man/);
# groff-base: tests/test_manpages.sh renders them with `groff -man -ww`
# and fails on any warning (man-db, when present, is used too).
# prometheus is here for /usr/bin/promtool alone: tests/test_agent.sh lints
# the agent's /metrics with `promtool check metrics`. No smaller Debian 12
# package ships promtool. The package also holds a Prometheus server whose
# maintainer scripts would start and enable it; nothing here may leave a
# service running, so the install runs under a policy-rc.d that refuses
# every start (unless the host has its own), and the server is disabled
# afterwards if this script installed it.
# debhelper, dpkg-dev, lintian: `make deb` builds the Debian package
# (debian/, dh compat 13) and `make test-package` lints it; libsystemd-dev:
# lb-agent tells systemd it is ready, alive and stopping (sd_notify,
# agent/sdnotify.c); systemd: `systemd-analyze verify` of the units;
# build-essential: dpkg-buildpackage checks for it beside Build-Depends;
# scdoc: the man pages (debian/control's Build-Depends lists it).
set -eu

PKGS="clang llvm libclang-rt-dev libbpf-dev bpftool libelf-dev zlib1g-dev libcmocka-dev \
libnl-3-dev libnl-route-3-dev libmicrohttpd-dev pkg-config make gcc iproute2 ethtool \
linux-libc-dev curl python3 libcurl4-openssl-dev libyaml-dev libcap-dev libjemalloc-dev jq valgrind \
prometheus libcrypt-dev openssl libjson-c-dev bird2 etcd-server etcd-client \
libc-ares-dev unbound scdoc groff-base debhelper dpkg-dev lintian libsystemd-dev systemd \
build-essential"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "Error: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive

# invoke-rc.d and deb-systemd-invoke start no service while policy-rc.d
# exits 101 ("action forbidden"); ours is removed again on any exit.
rcd=/usr/sbin/policy-rc.d
own_rcd=
if [ ! -e "$rcd" ]; then
	printf '#!/bin/sh\n# inferlb install-deps.sh: start no service while installing\nexit 101\n' >"$rcd"
	chmod 755 "$rcd"
	own_rcd=1
fi
trap 'if [ -n "$own_rcd" ]; then rm -f "$rcd"; fi' EXIT

apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

# only the programs are wanted: a service a package would start stays off,
# also after a reboot (tests start their own daemons in namespaces)
stop_service() {
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$1.service" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$1" ]; then
		"/etc/init.d/$1" stop >/dev/null 2>&1 || true
		update-rc.d "$1" disable >/dev/null 2>&1 || true
	fi
}
case " $missing " in *" prometheus "*) stop_service prometheus ;; esac
case " $missing " in *" bird2 "*) stop_service bird ;; esac
case " $missing " in *" etcd-server "*) stop_service etcd ;; esac
case " $missing " in *" unbound "*) stop_service unbound ;; esac
