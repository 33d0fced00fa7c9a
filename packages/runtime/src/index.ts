/** @till/runtime — supervised actors, HTTP API, jobs and the `till` CLI. */
export * as Cli from "./Cli.js"
export * as Demo from "./Demo.js"
