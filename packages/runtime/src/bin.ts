#!/usr/bin/env node
import { runCli } from "./Cli.js"

runCli(process.argv.slice(2))
