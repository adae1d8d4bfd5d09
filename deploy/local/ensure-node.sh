#!/usr/bin/env bash
# Makes Node.js 24 (or newer) the `node` on PATH. kccr needs Node.js 24; when the `node` on PATH is older, the
# official Node.js binary is fetched from the npm registry with the machine's npm, package node-linux-<arch> (its
# tarball carries bin/node and the headers in include/node), into .tools/node-v<version>/ of this checkout, once;
# later runs reuse it without the network. The machine's own Node.js is left as it is.
#
#   source deploy/local/ensure-node.sh          sets PATH (and npm_config_nodedir) in the current shell
#   eval "$(deploy/local/ensure-node.sh)"       the same from any shell: run, it prints the exports
#
#   KCCR_NODE_VERSION   what to fetch when a fetch is needed: a major (default 24, the newest 24.x) or an exact
#                       version such as 24.22.3; a Node.js already in .tools that matches it is used as it is
#   KCCR_TOOLS_DIR      where the fetched Node.js goes (default .tools at the root of this checkout)
#
# Linux (x64 or arm64) with npm and tar, as the rest of kccr.

if [ -z "${BASH_VERSION:-}" ]; then
  echo 'ensure-node.sh is a bash script; from another shell: eval "$(bash deploy/local/ensure-node.sh)"' >&2
  return 1 2>/dev/null || exit 1
fi

__kccr_ensure_node() {
  local min_major=24
  local spec="${KCCR_NODE_VERSION:-$min_major}"
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || return 1
  local tools="${KCCR_TOOLS_DIR:-$root/.tools}"

  __kccr_node_major() { # the major version of the node at $1, or nothing when it does not run
    local v
    v="$("$1" --version 2>/dev/null)" || return 1
    v="${v#v}"
    [[ "$v" =~ ^[0-9]+\. ]] || return 1
    printf '%s\n' "${v%%.*}"
  }

  local current
  current="$(command -v node 2>/dev/null || true)"
  if [ -n "$current" ]; then
    local major
    major="$(__kccr_node_major "$current" || true)"
    if [ -n "$major" ] && [ "$major" -ge "$min_major" ]; then
      echo "ensure-node: $current is $("$current" --version); nothing to do" >&2
      return 0
    fi
    echo "ensure-node: $current is $("$current" --version 2>/dev/null || echo 'unusable'); kccr needs Node.js $min_major or newer" >&2
  fi
  if ! [[ "$spec" =~ ^[0-9]+(\.[0-9]+\.[0-9]+)?$ ]] || [ "${spec%%.*}" -lt "$min_major" ]; then
    echo "ensure-node: KCCR_NODE_VERSION=$spec: expected a major ($min_major or newer) or an exact version such as $min_major.1.0" >&2
    return 1
  fi

  # A Node.js fetched before: the newest folder in .tools that matches the wanted version and runs.
  local dir="" candidate found=()
  for candidate in "$tools/node-v$spec" "$tools/node-v$spec".*; do
    [ -x "$candidate/bin/node" ] && found+=("$candidate")
  done
  if [ "${#found[@]}" -gt 0 ]; then
    candidate="$(printf '%s\n' "${found[@]}" | sort -V | tail -n 1)"
    [ "$(__kccr_node_major "$candidate/bin/node" || true)" = "${spec%%.*}" ] && dir="$candidate"
  fi

  if [ -z "$dir" ]; then
    local os=linux arch
    case "$(uname -s)/$(uname -m)" in
      Linux/x86_64) arch=x64 ;;
      Linux/aarch64) arch=arm64 ;;
      *) echo "ensure-node: no Node.js package here ($(uname -s) $(uname -m)); install Node.js $min_major yourself" >&2; return 1 ;;
    esac
    if ! command -v npm >/dev/null 2>&1; then
      echo "ensure-node: npm is needed to fetch Node.js $spec (package node-$os-$arch); install Node.js $min_major with npm yourself" >&2
      return 1
    fi
    mkdir -p "$tools" || return 1
    # Fetched and unpacked in a folder of its own, then renamed into place: an interrupted or concurrent run
    # never leaves a half-unpacked node-v* folder behind.
    local work
    work="$(mktemp -d "$tools/.fetch.XXXXXX")" || return 1
    echo "ensure-node: fetching node-$os-$arch@$spec from the npm registry ..." >&2
    # npm checks the tarball against the registry's integrity hash.
    if ! (cd "$work" && npm pack --silent "node-$os-$arch@$spec" >/dev/null) ||
      ! tar -xzf "$work"/node-"$os-$arch"-*.tgz -C "$work"; then
      echo "ensure-node: could not fetch or unpack node-$os-$arch@$spec (see the messages above)" >&2
      rm -rf "$work"
      return 1
    fi
    local version
    version="$("$work/package/bin/node" --version 2>/dev/null)"
    if ! [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || [ "$(__kccr_node_major "$work/package/bin/node")" != "${spec%%.*}" ]; then
      echo "ensure-node: the fetched node does not run here (it said: ${version:-nothing})" >&2
      rm -rf "$work"
      return 1
    fi
    dir="$tools/node-$version"
    if ! mv -T "$work/package" "$dir" 2>/dev/null && ! [ -x "$dir/bin/node" ]; then
      echo "ensure-node: could not move the fetched Node.js to $dir" >&2
      rm -rf "$work"
      return 1
    fi
    rm -rf "$work"
  fi

  if ! "$dir/bin/node" -e 'process.exit(0)' >/dev/null 2>&1; then
    echo "ensure-node: $dir/bin/node does not run; delete $dir and try again" >&2
    return 1
  fi
  echo "ensure-node: using $dir/bin/node ($("$dir/bin/node" --version))" >&2
  __kccr_node_dir="$dir"
}

# Called as an if condition so that a caller's `set -e` cannot end the shell halfway through it.
__kccr_node_dir=""
if __kccr_ensure_node; then __kccr_status=0; else __kccr_status=1; fi
unset -f __kccr_ensure_node __kccr_node_major
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Sourced: change this shell's PATH; return (never exit), so that an interactive shell survives a failure.
  if [ -n "$__kccr_node_dir" ]; then
    export PATH="$__kccr_node_dir/bin:$PATH"
    # node-gyp builds native modules against these headers instead of downloading them.
    export npm_config_nodedir="$__kccr_node_dir"
  fi
  unset __kccr_node_dir
  if [ "$__kccr_status" -eq 0 ]; then unset __kccr_status; return 0; fi
  unset __kccr_status
  return 1
fi
[ "$__kccr_status" -eq 0 ] || exit 1
if [ -n "$__kccr_node_dir" ]; then
  printf 'export PATH=%q:"$PATH"\n' "$__kccr_node_dir/bin"
  printf 'export npm_config_nodedir=%q\n' "$__kccr_node_dir"
fi
