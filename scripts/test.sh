#!/usr/bin/env bash
# The one test command (README line 2 runs `npm ci && npm test`, which runs this).
# Installs the system packages the tests need when they are missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
# coturn: its turnutils_* clients are third-party peers for the STUN/TURN tests.
command -v turnutils_uclient >/dev/null || missing+=(coturn)
command -v openssl >/dev/null || missing+=(openssl)
# The NAT lab (root only): network namespaces and nftables.
if [ "$(id -u)" = 0 ]; then
  command -v ip >/dev/null || missing+=(iproute2)
  command -v nft >/dev/null || missing+=(nftables)
  command -v sysctl >/dev/null || missing+=(procps)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing missing system packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "test.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -d node_modules ] || npm ci
npm run build --silent

# One test file at a time: the Chromium tests need both cores.
exec node --test --test-concurrency=1 --test-timeout=300000 \
  packages/protocol/dist/test/*.test.js packages/stun/dist/test/*.test.js packages/server/dist/test/*.test.js \
  lab/dist/test/*.test.js
