#!/usr/bin/env node
console.log("till")
