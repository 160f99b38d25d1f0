// Admission (docs/design.md §2, §3, §7): every bad token is refused with the right close code and a
// reason a person can act on; session ids stay with the actor that first used them.
import { jwtVerify, SignJWT, UnsecuredJWT } from 'jose'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, expectRefusal, mintToken, newSession, rawConnect, TEST_KEY, waitFor } from './helpers/clients.js'
import { runCli, TEST_SECRET, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer

withServer(test, (started) => (server = started))

const now = () => Math.floor(Date.now() / 1000)

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'Mallory', kind: 'human', ws: 'tok', role: 'admin', ...overrides }
}

function signed(payload: Record<string, unknown>, key: Uint8Array = TEST_KEY, alg = 'HS256'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).setSubject('mallory').setIssuedAt().sign(key)
}

async function assertRefused(token: string | null, code: number, reasonPattern: RegExp, room = 'tok/doc'): Promise<void> {
  const close = await expectRefusal(server, room, { token, session: newSession() })
  assert.is(close.code, code, `expected ${code}, got ${close.code} (${close.reason})`)
  assert.ok(close.reason.length > 0, 'the close carries a reason')
  assert.match(close.reason, reasonPattern)
}

test('a valid token is admitted (the control case)', async () => {
  const raw = await rawConnect(server, 'tok/doc', { token: await mintToken('alice', 'editor', 'tok'), session: newSession() })
  await raw.roundTrip()
  raw.close()
})

test('missing token → 4401', async () => {
  await assertRefused(null, 4401, /missing token/)
})

test('malformed tokens → 4401', async () => {
  await assertRefused('not-a-jwt', 4401, /token/)
  await assertRefused('a.b.c', 4401, /token/)
  const valid = await mintToken('alice', 'editor', 'tok')
  await assertRefused(valid.slice(0, -5), 4401, /token/) // truncated signature
})

test('wrong signature → 4401', async () => {
  const otherKey = new TextEncoder().encode('another-server-secret-0123456789abcdefghijkl')
  await assertRefused(await signed({ ...claims(), exp: now() + 3600 }, otherKey), 4401, /signature/)
  // The right payload with a tampered claim and the original signature.
  const valid = await mintToken('alice', 'viewer', 'tok')
  const [header, payload, signature] = valid.split('.')
  const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), role: 'admin' })).toString('base64url')
  await assertRefused(`${header}.${tampered}.${signature}`, 4401, /signature/)
})

test('alg none and other algorithms → 4401', async () => {
  const unsigned = new UnsecuredJWT(claims())
    .setSubject('mallory')
    .setExpirationTime(now() + 3600)
    .encode()
  await assertRefused(unsigned, 4401, /token/)
  // HS512 with the very same secret is still not what the server signs.
  await assertRefused(await signed({ ...claims(), exp: now() + 3600 }, TEST_KEY, 'HS512'), 4401, /algorithm/)
})

test('expired and not-yet-valid tokens → 4401', async () => {
  await assertRefused(await signed({ ...claims(), exp: now() - 60 }), 4401, /expired/)
  await assertRefused(await signed({ ...claims(), exp: now() + 7200, nbf: now() + 3600 }), 4401, /not valid yet/)
})

test('tokens missing or breaking claims → 4401', async () => {
  await assertRefused(await signed(claims()), 4401, /exp/) // no exp: it would never expire
  await assertRefused(await signed({ ...claims({ role: 'superuser' }), exp: now() + 3600 }), 4401, /role/)
  await assertRefused(await signed({ ...claims({ kind: 'robot' }), exp: now() + 3600 }), 4401, /kind/)
  await assertRefused(await signed({ ...claims({ ws: 'Bad Workspace' }), exp: now() + 3600 }), 4401, /workspace/)
})

test('a token for another workspace → 4403', async () => {
  await assertRefused(await mintToken('alice', 'admin', 'other'), 4403, /workspace/)
  await assertRefused(await mintToken('alice', 'admin', 'other'), 4403, /workspace/, 'tok')
  // A wildcard token opens any workspace.
  const raw = await rawConnect(server, 'tok/doc', { token: await mintToken('alice', 'viewer', '*'), session: newSession() })
  await raw.roundTrip()
  raw.close()
})

test('a token that expires while connected closes the connection with 4401', async () => {
  // exp has one-second resolution: this token expires 3-4 s from now, time enough to connect first.
  const token = await mintToken('shortlived', 'editor', 'tok', { ttlMs: 4000 })
  const peer = await connectPeer(server, 'tok/expiring', { token })
  assert.ok(peer.provider.wsconnected)
  await waitFor(() => peer.terminal, 8000, 'the connection outlived its token')
  assert.is(peer.terminal!.code, 4401)
  assert.match(peer.terminal!.reason, /expired/)
  peer.destroy()
})

test('a session id used by another actor → 4403; the same actor may reuse it', async () => {
  const session = newSession()
  const alice = await mintToken('alice', 'editor', 'tok')
  const first = await rawConnect(server, 'tok/doc', { token: alice, session })
  await first.roundTrip()
  // Bob presents alice's session id: refused, on any document of any workspace.
  const close = await expectRefusal(server, 'tok/doc', { token: await mintToken('bob', 'editor', 'tok'), session })
  assert.is(close.code, 4403)
  assert.match(close.reason, /session/)
  const elsewhere = await expectRefusal(server, 'tok', { token: await mintToken('bob', 'admin', '*'), session })
  assert.is(elsewhere.code, 4403)
  // Alice herself: a second connection with the same session (another document), and a reconnect.
  const second = await rawConnect(server, 'tok/other', { token: alice, session })
  await second.roundTrip()
  first.close()
  await first.closed
  const again = await rawConnect(server, 'tok/doc', { token: await mintToken('alice', 'viewer', 'tok'), session })
  await again.roundTrip()
  assert.ok(first.closeInfo?.code !== 4403)
  second.close()
  again.close()
})

test('two actors racing for a new session id: exactly one wins', async () => {
  const session = newSession()
  const tokens = await Promise.all(['racer1', 'racer2', 'racer3', 'racer4'].map((actor) => mintToken(actor, 'editor', 'tok')))
  const clients = await Promise.all(tokens.map((token) => rawConnect(server, 'tok/race', { token, session })))
  const outcomes = await Promise.all(
    clients.map(async (client) => {
      try {
        await client.roundTrip()
        return 'open'
      } catch {
        return client.closeInfo?.code
      }
    }),
  )
  assert.is(outcomes.filter((outcome) => outcome === 'open').length, 1, `outcomes: ${outcomes.join(', ')}`)
  assert.is(outcomes.filter((outcome) => outcome === 4403).length, 3, `outcomes: ${outcomes.join(', ')}`)
  for (const client of clients) client.close()
})

test('a malformed session id → 4400', async () => {
  const token = await mintToken('alice', 'editor', 'tok')
  for (const session of ['short', 'has spaces in it!!!!', 'x'.repeat(65), 'dots.are.not.allowed.here']) {
    const close = await expectRefusal(server, 'tok/doc', { token, session })
    assert.is(close.code, 4400, `session ${JSON.stringify(session)}: ${close.code} ${close.reason}`)
    assert.match(close.reason, /session/)
  }
})

test('session bindings survive a restart', async () => {
  const session = newSession()
  const first = await rawConnect(server, 'tok/doc', { token: await mintToken('keeper', 'editor', 'tok'), session })
  await first.roundTrip()
  first.close()
  assert.equal((await server.stop()).code, 0)
  await server.restart()
  const close = await expectRefusal(server, 'tok/doc', { token: await mintToken('thief', 'editor', 'tok'), session })
  assert.is(close.code, 4403)
})

test('refusals are counted in /metrics', async () => {
  const before = await server.fetchText('/metrics')
  const count = (text: string) => Number(/huddle_refusals_total\{code="4401"\} (\d+)/.exec(text)?.[1] ?? 0)
  await assertRefused(null, 4401, /missing/)
  await waitFor(async () => count((await server.fetchText('/metrics')).body) > count(before.body), 3000, '4401 refusal not counted')
})

test('`huddle token` prints a token the server accepts, with the claims asked for', async () => {
  const result = await runCli(['token', '--actor', 'ci-bot', '--workspace', 'tok', '--role', 'editor', '--kind', 'agent', '--name', 'CI Bot', '--ttl', '2h'], {
    env: { HUDDLE_SECRET: TEST_SECRET },
  })
  assert.is(result.code, 0, result.stderr)
  const token = result.stdout.trim()
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  const { payload, protectedHeader } = await jwtVerify(token, TEST_KEY, { algorithms: ['HS256'] })
  assert.is(protectedHeader.alg, 'HS256')
  assert.is(payload.sub, 'ci-bot')
  assert.is(payload.ws, 'tok')
  assert.is(payload.role, 'editor')
  assert.is(payload.kind, 'agent')
  assert.is(payload.name, 'CI Bot')
  assert.ok(Math.abs(payload.exp! - (now() + 7200)) <= 60, `exp ${payload.exp} should be ~2h from now`)
  const peer = await connectPeer(server, 'tok/cli', { token })
  peer.doc.getText('text').insert(0, 'written with a CLI token')
  const check = await connectPeer(server, 'tok/cli', { token })
  await waitFor(() => check.doc.getText('text').length > 0, 5000, 'the CLI token could not write')
  peer.destroy()
  check.destroy()
})

test('`huddle token` refuses bad input with a message and exit code 1', async () => {
  const badRole = await runCli(['token', '--actor', 'x', '--workspace', 'tok', '--role', 'god'], { env: { HUDDLE_SECRET: TEST_SECRET } })
  assert.is.not(badRole.code, 0)
  assert.match(badRole.stderr, /role/)
  const badActor = await runCli(['token', '--actor', 'has space', '--workspace', 'tok', '--role', 'viewer'], { env: { HUDDLE_SECRET: TEST_SECRET } })
  assert.is.not(badActor.code, 0)
  assert.match(badActor.stderr, /actor/)
  assert.is(badActor.stdout, '')
})

test.run()
