#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the `prepare` script).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = new URL('../dist/server/cli.js', import.meta.url)
if (!existsSync(fileURLToPath(cli))) {
  console.error('huddle: the build output is missing (dist/). Run `npm install` or `npm run build` in the huddle checkout first.')
  process.exit(1)
}
await import(cli.href)
