# Sourced, not run: puts Node >= 22.12 and the pinned pnpm on PATH (22.12 is the first 22.x
# whose `require` loads ES modules, which the CommonJS builds need for the ESM-only effect 4).
# A machine whose `node` is older than 22.12 gets Node 24 from the npm package `node@24`,
# installed once into a cache folder; pnpm comes from the npm package named by
# `packageManager` in package.json. Nothing is installed globally.
# shellcheck shell=bash
till_cache="${TILL_CACHE_DIR:-$HOME/.cache/till}"
till_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# 0 when `node` is at least 22.12.
till_node_recent() {
  node -e 'const [major, minor] = process.versions.node.split(".").map(Number)
process.exit(major > 22 || (major === 22 && minor >= 12) ? 0 : 1)' 2>/dev/null
}

if ! till_node_recent; then
  node_dir="$till_cache/node24"
  if [ ! -x "$node_dir/node_modules/node/bin/node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "[toolchain] node and npm (any version) are needed to install Node 24; install them with: sudo apt-get install -y nodejs npm" >&2
      return 1
    fi
    echo "[toolchain] node $(node --version 2>/dev/null || echo none) is older than 22.12; installing Node 24 into $node_dir" >&2
    mkdir -p "$node_dir"
    npm install --silent --no-save --no-audit --no-fund --foreground-scripts --prefix "$node_dir" node@24 >&2
  fi
  [ -x "$node_dir/node_modules/node/bin/node" ] || { echo "[toolchain] Node 24 install failed" >&2; return 1; }
  export PATH="$node_dir/node_modules/node/bin:$PATH"
fi

pnpm_version="$(node -p 'require(process.argv[1]).packageManager.split("@")[1]' "$till_root/package.json")"
if [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
  pnpm_dir="$till_cache/pnpm-$pnpm_version"
  if [ ! -x "$pnpm_dir/node_modules/.bin/pnpm" ]; then
    echo "[toolchain] installing pnpm $pnpm_version into $pnpm_dir" >&2
    mkdir -p "$pnpm_dir"
    npm install --silent --no-save --no-audit --no-fund --prefix "$pnpm_dir" "pnpm@$pnpm_version" >&2
  fi
  export PATH="$pnpm_dir/node_modules/.bin:$PATH"
fi
export COREPACK_ENABLE_STRICT=0
echo "[toolchain] node $(node --version), pnpm $(pnpm --version)" >&2
