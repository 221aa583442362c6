#!/usr/bin/env bash
# Installs everything the test suite needs, so that no suite that needs a real part skips:
#   - prodigy itself (editable) with the test, dask and contract extras (contract: claude-agent-sdk, which
#     bundles the real Claude Code CLI that tests/contract runs against a loopback API stand-in);
#   - the system tools the real-part suites use: GNU parallel (the benchmarks' peer), Debian's chromium
#     (the web page tests), unshare and mount (Dask workers in private mount namespaces, as root). These need
#     root and apt-get; without them the suites skip and say why. The dask extra brings the `dask` command the
#     real-cluster tests start schedulers and workers with.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -e '.[test,dask,contract]'

missing=()
command -v parallel >/dev/null 2>&1 || missing+=(parallel)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v dash >/dev/null 2>&1 || missing+=(dash)  # the quoting property tests run dash and bash
command -v bash >/dev/null 2>&1 || missing+=(bash)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)  # Dask workers in private mount namespaces
command -v mount >/dev/null 2>&1 || missing+=(mount)
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Not installed (needs root and apt-get): ${missing[*]}; the suites that use them will be skipped." >&2
  fi
fi
