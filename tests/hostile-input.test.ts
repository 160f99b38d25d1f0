// Hostile input at the front door (issue 12): nothing is held for a socket that was not admitted,
// refusals without a verified identity stay out of the workspace's audit chain, the connection cap
// refuses with 1013, and malformed request targets get 400/4400 instead of a 500 or a crash.
import { connect } from 'node:net'
import { Level } from 'level'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { expectRefusal, mintToken, newSession, rawConnect, waitFor } from './helpers/clients.js'
import { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import { floodAfterRefusal, frame, HostileSocket } from './faults/helpers/hostile.js'
import { metric } from './faults/helpers/probe.js'

let server: TestServer

withServer(test, (started) => (server = started), { exposeGc: true })

const MIB = 1024 * 1024

test('a refused socket that keeps sending: nothing is read, the server holds nothing for it and cuts it off', async () => {
  const flood = await floodAfterRefusal(server, '/flood-ws?token=garbage', 48)
  assert.ok(flood.refusal, 'the refusal reached the client')
  assert.is(flood.refusal!.code, 4401)
  assert.match(flood.refusal!.reason, /malformed token/)
  assert.ok(flood.heldBytes < 8 * MIB, `the server held ${(flood.heldBytes / MIB).toFixed(1)} MiB for a refused socket that sent ${flood.sentMiB} MiB`)
  assert.ok(flood.cutOff, 'the refused socket was never cut off')
})

test('more than 32 KiB before the token is checked: closed with 4413 and a reason; more than the burst: 4429', async () => {
  const token = await mintToken('early', 'editor', 'early-ws')
  const big = await HostileSocket.open(server, `/early-ws?token=${token}`, frame(new Uint8Array(48 * 1024)))
  await waitFor(() => big.closeFrame, 10_000, 'a close for 48 KiB sent before admission')
  assert.is(big.closeFrame!.code, 4413)
  assert.match(big.closeFrame!.reason, /before your token was checked/)
  big.destroy()
  const many = await HostileSocket.open(server, `/early-ws?token=${token}`, Buffer.concat(Array.from({ length: 1200 }, () => frame(Uint8Array.of(3)))))
  await waitFor(() => many.closeFrame, 10_000, 'a close for 1,200 messages sent before admission')
  assert.is(many.closeFrame!.code, 4429)
  many.destroy()
  // Control: a stock client's first messages are admitted.
  const ok = await rawConnect(server, 'early-ws', { token })
  await ok.roundTrip()
  ok.close()
})

test("refusals without a verified identity never reach a workspace's audit log or create it", async () => {
  const before = await metric(server, 'huddle_refusals_unverified_total')
  const attempts = [
    ...Array.from({ length: 30 }, () => '/junk-ws?token=garbage'),
    '/junk-ws',
    `/junk-ws/doc?token=${await mintToken('outsider', 'admin', 'other-ws')}`,
  ]
  for (const path of attempts) {
    const close = await expectRefusal(server, path.slice(1).split('?')[0]!, { query: path.split('?')[1] ?? '' })
    assert.ok(close.code === 4401 || close.code === 4403, `${path}: ${close.code}`)
  }
  await waitFor(async () => (await metric(server, 'huddle_refusals_unverified_total')) - before >= attempts.length, 10_000, 'the refusals to be counted')
  await server.stop()
  const db = new Level<string, string>(server.dataDir)
  const keys = await db.keys({ gt: 'audit!junk-ws!', lt: 'audit!junk-ws!~' }).all()
  await db.close()
  assert.equal(keys, [], 'audit entries were written for junk-ws')
  await server.restart()
  const admin = await mintToken('root', 'admin', 'junk-ws')
  const audit = await fetch(`${server.httpUrl}/api/workspaces/junk-ws/audit`, { headers: { authorization: `Bearer ${admin}` } })
  assert.equal(((await audit.json()) as { entries: unknown[] }).entries, [])
})

test('--max-connections: a connection above the cap is refused with 1013 and a reason', async () => {
  const capped = await TestServer.start({ args: ['--max-connections', '2'] })
  try {
    const token = await mintToken('many', 'editor', 'cap-ws')
    const first = await rawConnect(capped, 'cap-ws', { token })
    const second = await rawConnect(capped, 'cap-ws', { token })
    await Promise.all([first.roundTrip(), second.roundTrip()])
    const third = await expectRefusal(capped, 'cap-ws', { token })
    assert.is(third.code, 1013)
    assert.match(third.reason, /server full: 2 connections/)
    first.close()
    await first.closed
    const again = await rawConnect(capped, 'cap-ws', { token })
    await waitFor(
      async () => {
        if (again.closeInfo) throw new Error(`refused: ${again.closeInfo.code}`)
        await again.roundTrip()
        return true
      },
      10_000,
      'a connection once below the cap',
    )
    again.close()
    second.close()
  } finally {
    await capped.dispose()
  }
})

/** Writes `request` on a raw TCP connection; the first line of the answer ('' if none). */
function rawHttp(request: string): Promise<string> {
  return new Promise((resolve) => {
    let answer = ''
    const socket = connect(server.port, '127.0.0.1', () => socket.write(request))
    socket.on('data', (chunk) => (answer += chunk))
    socket.on('error', () => {})
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''))
    setTimeout(() => socket.end(), 2000).unref()
  })
}

test('a malformed percent-escape in a REST path is a 400 with what to do; an unparsable target never crashes the server', async () => {
  const admin = await mintToken('root', 'admin', '*')
  for (const path of ['/api/workspaces/%E0%A4%A/audit', '/api/workspaces/ok/locks/%ZZ', '/api/links/%']) {
    const response = await fetch(`${server.httpUrl}${path}`, {
      method: path.includes('locks') ? 'DELETE' : 'GET',
      headers: { authorization: `Bearer ${admin}` },
    })
    assert.is(response.status, 400, path)
    assert.match(((await response.json()) as { error: string }).error, /percent-escape/)
  }
  assert.match(await rawHttp('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400/)
  const upgrade = await HostileSocket.open(server, '//[')
  await waitFor(() => upgrade.closeFrame, 10_000, 'a close for an unparsable URL')
  assert.is(upgrade.closeFrame!.code, 4400)
  upgrade.destroy()
  assert.is((await server.fetchJson<{ status: string }>('/healthz')).status, 'ok')
})

test('a session binding expires with the last token its actor presented: then the id is free, and its record is dropped at start', async () => {
  const session = newSession()
  // exp has one-second resolution: 3-4 s, time enough to connect and to see the binding hold.
  const brief = await mintToken('sue', 'editor', 'bind-ws', { ttlMs: 4000 })
  const owner = await rawConnect(server, 'bind-ws', { token: brief, session })
  await owner.roundTrip()
  owner.close()
  const other = await mintToken('sam', 'editor', 'bind-ws')
  assert.is((await expectRefusal(server, 'bind-ws', { token: other, session })).code, 4403, "bound while the owner's token lives")
  const expiry = JSON.parse(Buffer.from(brief.split('.')[1]!, 'base64url').toString()).exp * 1000
  await waitFor(() => Date.now() > expiry, 10_000, "the owner's token to expire")
  const taker = await rawConnect(server, 'bind-ws', { token: other, session })
  await taker.roundTrip()
  taker.close()
  // A binding whose token expired is dropped from storage at the next start.
  const stale = newSession()
  const timToken = await mintToken('tim', 'editor', 'bind-ws', { ttlMs: 3000 })
  const timExpiry = JSON.parse(Buffer.from(timToken.split('.')[1]!, 'base64url').toString()).exp * 1000
  const gone = await rawConnect(server, 'bind-ws', { token: timToken, session: stale })
  await gone.roundTrip()
  gone.close()
  await server.stop()
  const stored = async () => {
    const db = new Level<string, string>(server.dataDir)
    try {
      return await db.get(`session!${stale}`).catch(() => undefined)
    } finally {
      await db.close()
    }
  }
  assert.ok(await stored(), 'the binding was stored')
  await waitFor(() => Date.now() > timExpiry, 10_000, 'the short token to expire')
  await server.restart()
  await waitFor(
    async () => {
      await server.stop()
      const left = await stored()
      await server.restart()
      return left === undefined
    },
    20_000,
    'the expired binding to be dropped at start',
  )
})

test.run()
