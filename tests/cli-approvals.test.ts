// `huddle request --wait` against `huddle approve` / `huddle reject` from other processes, plus
// `huddle approvals`, `huddle who` and `huddle audit`.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runCli, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import { CliProcess, cliEnv } from './fixtures/client-cli.js'

const WS = 'cli-approvals'
let server: TestServer
let agent: Record<string, string>
let bob: Record<string, string>

withServer(test, async (started) => {
  server = started
  agent = await cliEnv(server, WS, 'ci-bot', 'editor', 'agent')
  bob = await cliEnv(server, WS, 'bob', 'approver')
})

async function requested(run: CliProcess): Promise<string> {
  return (await run.waitOutput(/approval (\S+) requested/))[1]!
}

test('request --wait exits 0 when approved from another process and says who approved and why', async () => {
  const run = new CliProcess(['request', 'Deploy v1.4', '--action', 'deploy', '--details', '{"pr": 42}', '--wait'], agent)
  const id = await requested(run)
  // the link to the approval's card in the dashboard
  await run.waitOutput(new RegExp(`\\n  http://127\\.0\\.0\\.1:${server.port}/w/${WS}\\?panel=approvals&approval=[A-Za-z0-9_-]+%3A${id}`))
  await run.waitOutput(/waiting for approval .*: pending: 1 more approval needed/, 'stderr')
  const who = await runCli(['who', '--json'], { env: bob })
  assert.is(who.code, 0, who.stderr)
  const online = JSON.parse(who.stdout) as Array<{ actor: string; kind: string }>
  assert.ok(
    online.some((m) => m.actor === 'ci-bot' && m.kind === 'agent'),
    `who lists the waiting agent: ${who.stdout}`,
  )
  const pending = await runCli(['approvals', '--pending'], { env: bob })
  assert.match(pending.stdout, new RegExp(`^ID\\s+STATE.*\\n${id}\\s+pending\\s+Deploy v1\\.4\\s+ci-bot`))
  const denied = await runCli(['approve', id], { env: agent })
  assert.is(denied.code, 1)
  assert.match(denied.stderr, /ci-bot is an agent: only humans vote/)
  const approved = await runCli(['approve', id, '--reason', 'ship it'], { env: bob })
  assert.is(approved.code, 0, approved.stderr)
  assert.match(approved.stdout, /approved \S+ \("Deploy v1\.4"\); it is now approved by bob/)
  const exit = await run.exit()
  assert.is(exit.code, 0, run.stderr)
  assert.match(run.stdout, /approved by bob\n$/)
  const json = JSON.parse((await runCli(['approvals', '--json'], { env: bob })).stdout) as Array<{
    shortId: string
    status: { state: string }
    votes: Array<{ reason?: string }>
    request: { details: unknown }
  }>
  const entry = json.find((a) => a.shortId === id)!
  assert.is(entry.status.state, 'approved')
  assert.is(entry.votes[0]!.reason, 'ship it')
  assert.equal(entry.request.details, { pr: 42 })
})

test('request --wait exits 1 when rejected, with the reason; 2 when it expires', async () => {
  const run = new CliProcess(['request', 'Drop table users', '--wait', '--approver', 'bob'], agent)
  const id = await requested(run)
  const reason = await runCli(['reject', id], { env: bob })
  assert.is(reason.code, 1)
  assert.match(reason.stderr, /required option '--reason <text>'/)
  const rejected = await runCli(['reject', id, '--reason', 'not today'], { env: bob })
  assert.is(rejected.code, 0, rejected.stderr)
  assert.is((await run.exit()).code, 1)
  assert.match(run.stdout, /rejected by bob: not today\n$/)

  const expiring = await runCli(['request', 'Quick', '--expires', '300ms', '--wait'], { env: agent })
  assert.is(expiring.code, 2)
  assert.match(expiring.stdout, /expired: no decision before expiresAt/)
})

test('an interrupted request --wait cancels its request; a bad request is explained', async () => {
  const run = new CliProcess(['request', 'Wait for me', '--wait'], agent)
  const id = await requested(run)
  run.child.kill('SIGINT')
  assert.is((await run.exit()).code, 130)
  const listed = JSON.parse((await runCli(['approvals', '--json', '--state', 'cancelled'], { env: bob })).stdout) as Array<{ shortId: string }>
  assert.ok(
    listed.some((a) => a.shortId === id),
    'the request was cancelled',
  )
  const bad = await runCli(['request', 'x', '--quorum', '2', '--approver', 'bob'], { env: agent })
  assert.is(bad.code, 1)
  assert.match(bad.stderr, /quorum 2 can never be reached by 1 listed approver/)
  const badJson = await runCli(['request', 'x', '--details', '{pr: 1}'], { env: agent })
  assert.match(badJson.stderr, /not valid JSON/)
  const unknown = await runCli(['approve', 'nosuchid'], { env: bob })
  assert.match(unknown.stderr, /no approval "nosuchid" in this workspace/)
})

test('audit prints the log, and --json one object per line', async () => {
  const text = await runCli(['audit', '--limit', '5'], { env: bob })
  assert.is(text.code, 0, text.stderr)
  const lines = text.stdout.trim().split('\n')
  assert.is(lines.length, 5)
  assert.match(lines[0]!, /^#\d+ {2}\d{4}-\d\d-\d\dT\S+Z {2}\S+/)
  const json = await runCli(['audit', '--after', '0', '--limit', '3', '--json'], { env: bob })
  const entries = json.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { seq: number })
  assert.equal(
    entries.map((e) => e.seq),
    [1, 2, 3],
  )
  const last = JSON.parse((await runCli(['audit', '--limit', '1', '--json'], { env: bob })).stdout) as { seq: number }
  const follow = new CliProcess(['audit', '--follow', '--after', String(last.seq), '--limit', '0'], bob)
  await runCli(['request', 'Follow me', '--action', 'noticed'], { env: agent })
  await follow.waitOutput(/request\s+ci-bot\/\S+\s+title="Follow me" action=noticed/)
  follow.child.kill('SIGINT')
  assert.is((await follow.exit()).code, 0)
})

test.run()
