#!/usr/bin/env bash
# Prints the path of promtool (Prometheus' rule checker), building it once with `go install` from the Go module proxy
# into the kccr cache (~/.cache/kccr/tools). The build takes minutes the first time: .ci/run starts it in the background
# early. Concurrent callers wait for one build (flock).
#   KCCR_PROMTOOL_VERSION  the github.com/prometheus/prometheus module version (default v0.316.0, Prometheus 3.x)
#   KCCR_CACHE_DIR         the kccr cache (default ~/.cache/kccr)
set -euo pipefail
version="${KCCR_PROMTOOL_VERSION:-v0.316.0}"
cache="${KCCR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kccr}/tools"
bin="$cache/promtool-$version"
mkdir -p "$cache"
exec 9>"$cache/promtool.lock"
flock 9
if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi
  command -v go >/dev/null 2>&1 || { echo "promtool: Go is needed to build it (https://go.dev/dl/), or put a promtool binary at $bin" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "promtool: building github.com/prometheus/prometheus/cmd/promtool@$version (minutes, once)" >&2
  GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/prometheus/prometheus/cmd/promtool@$version" >&2
  mv "$tmp/promtool" "$bin"
fi
echo "$bin"
