#!/usr/bin/env bash
# One entry point for people and CI. Installs what the machine lacks (Node 24 when `node`
# is older than 22.12, the pinned pnpm, the locked dependencies), builds when a source changed, then:
#   bash scripts/dev.sh demo [args]   run `till demo` on the embedded in-memory ports
#   bash scripts/dev.sh till [args]   run the `till` CLI
#   bash scripts/dev.sh test [--keep-services]
#                                     start Postgres/Redis/Kafka, run every test and the simulator;
#                                     stops the Kafka broker afterwards if this run started it
#                                     (kept with --keep-services or TILL_KEEP_SERVICES=1)
#   bash scripts/dev.sh bench         run the benchmarks (writes bench/results/)
# Java 17, Maven, Postgres and Redis are not installed by these scripts: see the README.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/toolchain.sh
source scripts/toolchain.sh

if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  pnpm install --frozen-lockfile
fi

# `pnpm build` takes a while; skip it when nothing it reads changed since this script last built
# (a stamp compared by modification time: one `find`, no hashing) and every package has its dist.
build_stamp=node_modules/.till-build-stamp
build_inputs=(packages/*/src packages/*/package.json packages/*/tsup.config.ts packages/*/tsconfig.build.json
  tsup.base.ts tsconfig.base.json package.json pnpm-lock.yaml)
built() {
  [ -f "$build_stamp" ] || return 1
  local dir
  for dir in packages/*/; do [ -d "$dir/dist" ] || return 1; done
  local newer
  newer="$(find "${build_inputs[@]}" -newer "$build_stamp" -print -quit)" || return 1
  [ -z "$newer" ]
}
build() {
  if [ "${TILL_SKIP_BUILD:-}" = 1 ] || built; then return; fi
  echo "[dev] building the packages: pnpm build (skipped next time unless a source changes)" >&2
  touch "$build_stamp.next" # taken before building: an edit made during the build still counts
  if ! pnpm -s build >/dev/null; then
    echo "[dev] pnpm build failed; run \`pnpm build\` (after \`source scripts/toolchain.sh\`) for its full output" >&2
    exit 1
  fi
  mv "$build_stamp.next" "$build_stamp"
}

run_tests() {
  local keep="${TILL_KEEP_SERVICES:-}"
  if [ "${1:-}" = --keep-services ]; then keep=1; shift; fi
  if [ $# -gt 0 ]; then echo "usage: bash scripts/dev.sh test [--keep-services]" >&2; exit 2; fi

  # Stop afterwards only the broker this run starts (by pid), never one that was already running.
  local before started env_lines unexpected
  before="$(bash scripts/services.sh pid)"
  env_lines="$(bash scripts/services.sh up)" # a failing `up` stops here (set -e)
  started="$(bash scripts/services.sh pid)"
  if [ -z "$before" ] && [ -n "$started" ]; then
    if [ "$keep" = 1 ]; then
      echo "[dev] keeping the Kafka broker (pid $started); stop it with: bash scripts/services.sh down" >&2
    else
      trap 'rc=$?; bash scripts/services.sh down "'"$started"'" || true; exit $rc' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
    fi
  fi
  # Only `export` lines may come back: anything else would be run by the eval below.
  if unexpected="$(printf '%s\n' "$env_lines" | grep -v -e '^export TILL_TEST_[A-Z_]*=' -e '^$')"; then
    printf '[dev] scripts/services.sh up printed more than its export lines on stdout:\n%s\n' "$unexpected" | cat -v >&2
    exit 1
  fi
  eval "$env_lines"
  pnpm test
  pnpm -s sim --seeds "${TILL_SIM_SEEDS:-1000}"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  demo) build; exec node packages/runtime/dist/bin.js demo "$@" ;;
  till) build; exec packages/runtime/dist/bin.js "$@" ;; # through its shebang: its V8 flags apply
  test) run_tests "$@" ;;
  bench) exec pnpm -s bench "$@" ;;
  *) echo "usage: bash scripts/dev.sh demo|till|test|bench [args]" >&2; exit 2 ;;
esac
