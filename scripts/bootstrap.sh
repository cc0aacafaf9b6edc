#!/usr/bin/env bash
# Idempotent bootstrap: installs the Debian packages Wharf needs (only those missing),
# installs npm dependencies when package-lock.json changed, and builds.
# Called by `npm start` and `npm test`; safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  runc conmon busybox-static tini iproute2 nftables procps psmisc util-linux curl ca-certificates
  etcd-server etcd-client skopeo umoci docker-registry tmux socat zstd
  attr openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Services in these packages (etcd, docker-registry) must not start on install: tests start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.wharf-lock-sum ] || [ "$(cat node_modules/.wharf-lock-sum)" != "$lock_sum" ]; then
  echo "bootstrap: installing npm dependencies" >&2
  # Exactly the locked tree. node-unix-socket's per-platform optional packages that the registry
  # does not serve (darwin, arm) are in the lock as platform-only entries, so npm ci accepts it
  # and skips them on this platform (docs/decisions.md, "npm ci on the committed lock").
  npm ci --no-audit --no-fund >&2
  echo "$lock_sum" >node_modules/.wharf-lock-sum
fi

npm run --silent build >&2
