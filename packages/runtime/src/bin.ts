#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=50
// The young generation is capped at 8 MB a semi-space: V8's default on this kind of machine kept
// ~50 MB of free young-generation heap resident, which put an idle `till start` at ~170 MB of RSS
// against the 150 MB budget (bench/runtime: ~145 MB with the cap). The old generation may grow
// by half its live size between major GCs instead of V8's dynamic factor (up to 4x): under a
// steady 30 checkouts/s on Postgres, Redis and Kafka the live heap stays ~64 MB while V8 let the
// committed heap reach ~160 MB; with the flag RSS after 60 s was 208 MB against 232-258 MB, idle
// 137 against 147 MB, at the same CPU (24.0 against 24.2-25.6 s for 1,800 checkouts).
// `--optimize-for-size` held it to 153 MB but cost 34 % more CPU. `env -S` passes the flags
// (Linux, macOS); elsewhere run `node --max-semi-space-size=8 --heap-growing-percent=50 <bin> start`
// (NODE_OPTIONS refuses the second flag).
import { runCli } from "./Cli.js"

runCli(process.argv.slice(2))
