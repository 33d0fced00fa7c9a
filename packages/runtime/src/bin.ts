#!/usr/bin/env -S node --max-semi-space-size=8
// The young generation is capped at 8 MB a semi-space: V8's default on this kind of machine kept
// ~50 MB of free young-generation heap resident, which put an idle `till start` at ~170 MB of RSS
// against the 150 MB budget (bench/runtime: ~145 MB with the cap). `env -S` passes the flag
// (Linux, macOS); elsewhere, set NODE_OPTIONS=--max-semi-space-size=8.
import { runCli } from "./Cli.js"

runCli(process.argv.slice(2))
