// Runs each test file matching `node scripts/test.mjs <dir> <pattern>` in its own uvu process and
// adds up the results. A file that crashes (an unhandled rejection ends its process, and uvu prints
// no totals) counts as a failure and the other files still run; a file whose before() hook threw
// (uvu swallows that and reports fewer tests passed than counted, exiting 0) counts its missing
// tests as failed. Never "NaN passed".
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

// uvu does not export its bin, so it is found beside this script's checkout.
const uvu = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url))
const [dir = 'dist/tests', pattern = '\\.test\\.js$'] = process.argv.slice(2)
const matcher = new RegExp(pattern)
const EXIT_GRACE_MS = 30_000
// The long soak (README: `HUDDLE_SOAK_MINUTES=30 npm run test:faults`) runs that long by design.
const FILE_LIMIT_MS = (20 + (Number(process.env.HUDDLE_SOAK_MINUTES) || 0)) * 60_000
// SIGTERM first: the helpers' handler then kills the servers, redis-server and browsers the file
// started, which a SIGKILL would leave running; SIGKILL only if the file does not exit after it.
const KILL_AFTER_MS = 5000
// A failing file's messages are printed again at the end, where a CI log's tail shows them.
const RECAP_CHARS = 4000
// Files of one run share an id, so the fault suite's report can tell this run's figures apart.
const env = {
  ...process.env,
  HUDDLE_TEST_RUN: process.env.HUDDLE_TEST_RUN ?? `${process.pid}-${Date.now()}`,
  HUDDLE_TEST_RUN_STARTED: process.env.HUDDLE_TEST_RUN_STARTED ?? String(Date.now()),
}

function files(root) {
  const found = []
  const walk = (path) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue
      const full = join(path, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (matcher.test(relative(root, full))) found.push(relative(root, full))
    }
  }
  walk(root)
  return found.sort()
}

function runFile(file) {
  return new Promise((resolve) => {
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const child = spawn(process.execPath, [uvu, dir, `^${escaped}$`], { stdio: ['ignore', 'pipe', 'pipe'], env })
    let output = ''
    let errors = ''
    let hung = null
    // A file that reported its totals but does not exit holds a handle open (a client or server
    // not closed): it would stall the whole run, so it is stopped and counted as a failure.
    let exitTimer = null
    const limit = setTimeout(() => stop(`still running after ${FILE_LIMIT_MS / 60_000} minutes`), FILE_LIMIT_MS)
    let killTimer = null
    const stop = (why) => {
      if (hung) return
      hung = why
      child.kill('SIGTERM')
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS)
    }
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      output += chunk
      if (!exitTimer && /\n\s*Duration:\s+[\d.]+m?s/.test(output))
        exitTimer = setTimeout(() => stop(`did not exit within ${EXIT_GRACE_MS / 1000} s of its last test (a handle left open)`), EXIT_GRACE_MS)
    })
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk)
      errors = (errors + chunk).slice(-RECAP_CHARS)
    })
    child.on('close', (code, signal) => {
      clearTimeout(limit)
      clearTimeout(exitTimer)
      clearTimeout(killTimer)
      const plain = output.replace(/\u001b\[[0-9;]*m/g, '')
      const count = (label) => {
        const match = new RegExp(`\\n\\s*${label}:\\s+(\\d+)`).exec(plain)
        return match ? Number(match[1]) : null
      }
      const failures = plain.indexOf('FAIL ') >= 0 ? plain.slice(plain.indexOf('FAIL '), plain.lastIndexOf('Total:')) : ''
      const recap = `${failures.slice(0, RECAP_CHARS)}${errors.trim() ? `\nstderr (last part):\n${errors.trim()}` : ''}`
      resolve({ file, code, signal, hung, recap, total: count('Total'), passed: count('Passed'), skipped: count('Skipped') ?? 0 })
    })
  })
}

const list = files(dir)
if (list.length === 0) {
  console.error(`test: no file under ${dir} matches ${pattern}`)
  process.exit(1)
}
let passed = 0
let failed = 0
let skipped = 0
const problems = []
const recaps = []
for (const file of list) {
  const result = await runFile(file)
  const problemsBefore = problems.length
  check(file, result)
  if (problems.length > problemsBefore && result.recap.trim()) recaps.push(`-- ${file}\n${result.recap.trim()}`)
}

/** Adds the file's totals, and a problem when it failed, crashed or hung. */
function check(file, result) {
  if (result.hung) {
    failed += 1
    problems.push(`${file} ${result.hung}: stopped; close every client and server in its after() hook`)
    if (result.total === null) return
  }
  if (result.total === null || result.passed === null) {
    failed += 1
    problems.push(`${file} crashed (exit ${result.signal ?? result.code}) before reporting its totals; the output above shows where`)
    return
  }
  const missing = result.total - result.passed - result.skipped
  passed += result.passed
  skipped += result.skipped
  failed += missing
  if (result.hung) return
  if (missing > 0 && result.code === 0)
    problems.push(`${file}: ${missing} of ${result.total} tests did not pass; look for a before() hook that failed (uvu does not report it)`)
  else if (missing > 0 || result.code !== 0) problems.push(`${file}: ${missing} failed`)
}
if (recaps.length > 0) console.log(`\nwhat the failing files printed:\n${recaps.join('\n')}`)
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''} (${list.length} files)`)
if (problems.length > 0) {
  console.error(`test:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
