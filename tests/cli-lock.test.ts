// `huddle lock RES -- CMD` as processes: concurrent locks never overlap and see increasing fencing
// tokens; the command's exit status comes back; SIGKILL of the CLI releases after the grace
// period; `huddle locks` and `huddle unlock --force`; mistakes explained before connecting.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, HuddleApi, type Huddle } from '../client-lib/node.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { makeTempDir, ROOT, runCli, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import { CliProcess, cliEnv } from './fixtures/client-cli.js'

const WS = 'cli-locks'
const CRITICAL = join(ROOT, 'tests', 'fixtures', 'client-critical.mjs')
let server: TestServer
let env: Record<string, string>
const clients: Huddle[] = []

withServer(
  test,
  async (started) => {
    server = started
    env = await cliEnv(server, WS, 'ci-bot', 'editor', 'agent')
    return () => Promise.all(clients.splice(0).map((client) => client.close()))
  },
  { args: ['--lease-grace', '1s'] },
)

function readLog(path: string): string[][] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
}

test('concurrent `huddle lock db -- cmd` never overlap and get increasing fencing tokens', async () => {
  const log = join(makeTempDir(), 'critical.log')
  writeFileSync(log, '')
  const runs = Array.from({ length: 3 }, () => new CliProcess(['lock', 'db', '--', process.execPath, CRITICAL, log, '300'], env))
  const exits = await Promise.all(runs.map((run) => run.exit(20_000)))
  assert.equal(
    exits.map((e) => e.code),
    [0, 0, 0],
    runs.map((r) => r.stderr).join('\n'),
  )
  const lines = readLog(log)
  assert.is(lines.length, 6)
  const tokens: number[] = []
  for (let i = 0; i < lines.length; i += 2) {
    const [start, end] = [lines[i]!, lines[i + 1]!]
    assert.is(start[0], 'start', `line ${i}: ${lines.map((l) => l.join(' ')).join(' | ')}`)
    assert.is(end[0], 'end', 'the next line ends the same critical section: no overlap')
    assert.is(end[2], start[2], 'same process')
    tokens.push(Number(start[1]))
  }
  assert.ok(
    tokens.every((token, i) => Number.isInteger(token) && (i === 0 || token > tokens[i - 1]!)),
    `tokens increase: ${tokens}`,
  )
  assert.ok(
    runs.some((run) => /waiting .* for db: (next in line|position \d in the queue); db held by ci-bot \(exclusive, token \d+\)/.test(run.stderr)),
    `a waiter shows its place and the holder:\n${runs.map((r) => r.stderr).join('\n')}`,
  )
})

test("the command's exit status and HUDDLE_FENCING_TOKEN come through; the lock is released on every exit", async () => {
  const status = await runCli(['lock', 'db', 'cache', '--', 'sh', '-c', 'echo "token=$HUDDLE_FENCING_TOKEN"; exit 7'], { env })
  assert.is(status.code, 7, status.stderr)
  assert.match(status.stdout, /^token=\d+\n$/)
  const missing = await runCli(['lock', 'db', '--', 'no-such-command-xyz'], { env })
  assert.is(missing.code, 127)
  assert.match(missing.stderr, /cannot run no-such-command-xyz: command not found/)
  const killed = await runCli(['lock', 'db', '--', 'sh', '-c', 'kill -TERM $$'], { env })
  assert.is(killed.code, 128 + 15)
  const api = new HuddleApi({ url: server.httpUrl, workspace: WS, token: env.HUDDLE_TOKEN! })
  assert.equal(await api.locks(), [], 'nothing left held')
})

test('--wait gives up with exit 1 and says who holds the lock; `huddle locks` lists it', async () => {
  const holder = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('ann', 'editor', WS) })
  clients.push(holder)
  const lock = await holder.locks.acquire('db', { note: 'migrating' })
  const waited = await runCli(['lock', 'db', '--wait', '300ms', '--', 'true'], { env })
  assert.is(waited.code, 1)
  assert.match(waited.stderr, /timed out waiting for db \(db held by ann\)/)
  const listing = await runCli(['locks'], { env })
  assert.is(listing.code, 0, listing.stderr)
  assert.match(listing.stdout, /^RESOURCE\s+HELD BY\s+WAITING\ndb\s+ann \(exclusive, token \d+\) for \d+s\s+-\n$/)
  const json = await runCli(['locks', '--json'], { env })
  const locks = JSON.parse(json.stdout) as Array<{ resource: string; holders: Array<{ token: number }> }>
  assert.is(locks[0]!.resource, 'db')
  assert.is(locks[0]!.holders[0]!.token, lock.token)
  await lock.release()
})

test('SIGKILL of `huddle lock` releases the lock after the grace period, not before', async () => {
  const log = join(makeTempDir(), 'killed.log')
  writeFileSync(log, '')
  const run = new CliProcess(['lock', 'db', '--', process.execPath, CRITICAL, log, '60000'], env)
  await waitFor(() => readFileSync(log, 'utf8').startsWith('start'), 10_000, 'the command starts')
  const [, , commandPid] = readLog(log)[0]!
  try {
    // Not `run.exited`: that waits for the pipes, which the orphaned command keeps open.
    const dead = new Promise((resolve) => run.child.once('exit', resolve))
    // Taken before the kill: the server cannot see the socket go earlier, while this process may
    // hear of the exit late on a loaded machine (after the server's grace period had started).
    const killedAt = Date.now()
    run.child.kill('SIGKILL')
    await dead
    const other = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('ann', 'editor', WS) })
    clients.push(other)
    assert.is(other.locks.list().find((l) => l.resource === 'db')?.holders[0]?.actor, 'ci-bot', 'still held during the grace period')
    const lock = await other.locks.acquire('db', { waitMs: 10_000 })
    const after = Date.now() - killedAt
    assert.ok(after >= 700 && after < 4000, `released about 1 s (the grace period) after the kill: ${after} ms`)
    await lock.release()
  } finally {
    process.kill(Number(commandPid), 'SIGKILL')
  }
})

test('an admin force-releases with `huddle unlock --force`; the holder stops its command and exits 75', async () => {
  const log = join(makeTempDir(), 'revoked.log')
  writeFileSync(log, '')
  const run = new CliProcess(['lock', 'db', '--', process.execPath, CRITICAL, log, '60000'], env)
  await waitFor(() => readFileSync(log, 'utf8').startsWith('start'), 10_000, 'the command starts')
  const refused = await runCli(['unlock', 'db'], { env: await cliEnv(server, WS, 'root', 'admin') })
  assert.is(refused.code, 1)
  assert.match(refused.stderr, /add --force to confirm/)
  const notAdmin = await runCli(['unlock', '--force', 'db'], { env })
  assert.match(notAdmin.stderr, /needs role admin; the token for ci-bot has role editor/)
  const unlocked = await runCli(['unlock', '--force', 'db', '--reason', 'stuck'], { env: await cliEnv(server, WS, 'root', 'admin') })
  assert.is(unlocked.code, 0, unlocked.stderr)
  const exit = await run.exit()
  assert.is(exit.code, 75)
  assert.match(run.stderr, /was force-released: revoked by root: stuck; stopping the command/)
})

test('mistakes are explained without connecting', async () => {
  const cases: Array<[string[], Record<string, string | undefined>, RegExp]> = [
    [['lock', 'db', 'true'], env, /no command to run: put it after --/],
    [['lock', '--', 'true'], env, /no resource to lock/],
    [['lock', 'a b', '--', 'true'], env, /bad lock resource "a b"/],
    [['lock', 'db', '--wait', 'soon', '--', 'true'], env, /bad duration "soon"/],
    [['locks'], { ...env, HUDDLE_TOKEN: undefined }, /no token: pass --token or set HUDDLE_TOKEN/],
    [['locks'], { ...env, HUDDLE_URL: 'ftp://x' }, /bad server URL "ftp:\/\/x": use http/],
    [['locks', '--url', 'http://127.0.0.1:1'], env, /could not reach .*: is the server running there/],
  ]
  for (const [args, caseEnv, message] of cases) {
    const result = await runCli(args, { env: caseEnv })
    assert.is(result.code, 1, `${args.join(' ')}: ${result.stderr}`)
    assert.match(result.stderr, message)
  }
})

test.run()
