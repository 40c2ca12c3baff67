#!/usr/bin/env bash
# The Debian packages the local stack needs, installed once (idempotent): Prometheus.
# The stack runs its own Prometheus (own config, port and data dir), so the package's system
# service is kept from starting during the install (policy-rc.d exit 101 = "not now").
# Needs root, or sudo; `make test`, `make run` and the stack targets call it.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "debian-packages: prometheus is missing; run as root or install sudo" >&2
    exit 1
  }
  SUDO=sudo
fi
echo "debian-packages: installing Debian's prometheus package (the stack runs its own instance)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  guard=1
fi
status=0
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus || status=$?
if [ -n "$guard" ]; then
  $SUDO rm -f /usr/sbin/policy-rc.d
fi
exit "$status"
