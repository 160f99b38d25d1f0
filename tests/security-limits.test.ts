// Limits SECURITY.md lists that no other file checked: a REST request body over 64 KiB is a 413,
// and refusals without a verified identity reach the operational log at most 20 per 10 s, the
// rest counted and reported in one line when the next window opens.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LogThrottle } from '../server/net/rate-limit.js'
import { expectRefusal, mintToken, waitFor } from './helpers/clients.js'
import { metric } from './faults/helpers/probe.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
// The log is what is checked here, so it is on whatever the environment says.
withServer(test, (started) => void (server = started), { env: { HUDDLE_LOG: 'all' } })

const MAX_BODY = 64 * 1024

/** A JSON object of exactly `bytes` bytes: a link whose label is far too long. */
function bodyOf(bytes: number): string {
  const frame = JSON.stringify({ role: 'viewer', label: '' })
  return JSON.stringify({ role: 'viewer', label: 'x'.repeat(bytes - frame.length) })
}

test('a REST request body over 64 KiB is a 413 with the limit; one of exactly 64 KiB is read (and judged on its content)', async () => {
  const admin = await mintToken('root', 'admin', 'body-ws')
  const post = async (body: string) => {
    const response = await fetch(`${server.httpUrl}/api/workspaces/body-ws/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body,
    })
    return { status: response.status, error: ((await response.json()) as { error?: string }).error ?? '' }
  }
  const over = await post(bodyOf(MAX_BODY + 1))
  assert.is(over.status, 413)
  assert.match(over.error, /request body over 65536 bytes/)
  const at = await post(bodyOf(MAX_BODY))
  assert.is(at.status, 400, 'a body of exactly the limit is read and refused for its label, not its size')
  assert.match(at.error, /label must be a string of at most 200 characters/)
})

test('unverified refusals: every one counted in /metrics, at most 20 log lines per 10 s', async () => {
  const room = 'unlogged-ws'
  const before = await metric(server, 'huddle_refusals_unverified_total')
  const started = Date.now()
  for (let i = 0; i < 30; i++) assert.is((await expectRefusal(server, room, { query: 'token=garbage' })).code, 4401)
  await waitFor(async () => (await metric(server, 'huddle_refusals_unverified_total')) - before >= 30, 10_000, 'the refusals to be counted')
  // The throttle's windows are 10 s of the server's clock: a loaded machine may span more of them.
  const windows = Math.floor((Date.now() - started) / 10_000) + 1
  const logged = server.stderrLines.filter((line) => line.includes('refused before authentication') && line.includes(room)).length
  assert.ok(logged >= 1, 'no refusal reached the log at all')
  assert.ok(logged <= 20 * windows, `${logged} log lines for 30 refusals within ${windows} window(s) of 10 s`)
})

test('LogThrottle: 20 lines a window, the rest counted and reported once when the next window opens', () => {
  const throttle = new LogThrottle(20, 10_000)
  const t0 = 1_000_000
  const reports: number[] = []
  const report = (count: number) => reports.push(count)
  const first = Array.from({ length: 25 }, (_, i) => throttle.allow(report, t0 + i))
  assert.equal(first.filter(Boolean).length, 20)
  assert.equal(first.slice(20), [false, false, false, false, false], 'the 21st line onwards is dropped')
  assert.equal(reports, [], 'nothing is reported inside the window')
  assert.is(throttle.allow(report, t0 + 9_999), false, 'the window lasts 10 s')
  assert.is(throttle.allow(report, t0 + 10_000), true)
  assert.equal(reports, [6], 'the dropped lines are reported once, when the next window opens')
  assert.is(throttle.allow(report, t0 + 30_000), true)
  assert.equal(reports, [6], 'a window without drops reports nothing')
})

test.run()
