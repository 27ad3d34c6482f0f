#!/bin/sh
# Install the Debian 12 packages inferlb needs to build, test and demo.
# Idempotent: only missing packages are installed. Needs root when anything is missing.
set -eu

PKGS="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcmocka-dev \
libnl-3-dev libnl-route-3-dev libmicrohttpd-dev pkg-config make gcc iproute2 ethtool \
linux-libc-dev curl python3 libcurl4-openssl-dev libyaml-dev libcap-dev libjemalloc-dev jq"

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
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
