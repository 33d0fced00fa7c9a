#!/usr/bin/env bash
# One entry point for people and CI. Installs what the machine lacks (Node 24 when `node`
# is older than 22, the pinned pnpm, the locked dependencies), builds, then:
#   bash scripts/dev.sh demo [args]   run `till demo` on the embedded in-memory ports
#   bash scripts/dev.sh till [args]   run the `till` CLI
#   bash scripts/dev.sh test          start Postgres/Redis/Kafka, run every test and the simulator
#   bash scripts/dev.sh bench         run the benchmarks (writes bench/results/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/toolchain.sh
source scripts/toolchain.sh

if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  pnpm install --frozen-lockfile
fi
build() { [ "${TILL_SKIP_BUILD:-}" = 1 ] || pnpm -s build >/dev/null; }

cmd="${1:-}"
shift || true
case "$cmd" in
  demo) build; exec node packages/runtime/dist/bin.js demo "$@" ;;
  till) build; exec node packages/runtime/dist/bin.js "$@" ;;
  test)
    eval "$(bash scripts/services.sh up)"
    pnpm test
    pnpm -s sim --seeds "${TILL_SIM_SEEDS:-1000}"
    ;;
  bench) exec pnpm -s bench "$@" ;;
  *) echo "usage: bash scripts/dev.sh demo|till|test|bench [args]" >&2; exit 2 ;;
esac
