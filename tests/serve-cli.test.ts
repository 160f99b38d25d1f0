// `huddle serve` as a person meets it: without HUDDLE_SECRET it generates a private secret and
// prints a working admin token once; health and metrics answer; SIGTERM is a clean shutdown.
import { statSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { jwtVerify } from 'jose'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, connectPeer, mintToken, rawConnect, waitFor } from './helpers/clients.js'
import { type Health, makeTempDir, runCli, TestServer } from './helpers/server.js'

const servers: TestServer[] = []

test.after(async () => {
  cleanupClients()
  for (const server of servers.splice(0)) await server.dispose()
})

test('without HUDDLE_SECRET: a 0600 secret, a banner with the data dir and a working admin token for demo', async () => {
  const dataDir = join(makeTempDir(), 'nested', 'data') // does not exist yet
  const server = await TestServer.start({ secret: null, dataDir })
  servers.push(server)
  const match = await server.waitForStdout(/admin token for workspace "demo"[^\n]*\n\s*(\S+)/)
  const token = match[1]!
  assert.ok(
    server.stdout.includes(`http://127.0.0.1:${server.port}/w/demo#token=${token}\n`),
    `the banner links the dashboard of demo with the token:\n${server.stdout}`,
  )
  const lines = server.stdout.split('\n')
  assert.match(lines[0]!, new RegExp(`^huddle listening on http://127\\.0\\.0\\.1:${server.port} \\(WebSocket: ws://127\\.0\\.0\\.1:${server.port}/`))
  assert.ok(server.stdout.includes(dataDir), `the banner names the data directory ${dataDir}:\n${server.stdout}`)
  const secretPath = join(dataDir, 'secret')
  const mode = statSync(secretPath).mode & 0o777
  assert.is(mode.toString(8), '600', 'the secret file is private')
  const secret = readFileSync(secretPath, 'utf8').trim()
  assert.ok(secret.length >= 32, 'the generated secret is long')
  // The printed token is signed with that secret and opens workspace demo as admin.
  const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'] })
  assert.is(payload.ws, 'demo')
  assert.is(payload.role, 'admin')
  const peer = await connectPeer(server, 'demo/readme', { token })
  peer.doc.getText('text').insert(0, 'hello demo')
  const other = await connectPeer(server, 'demo/readme', { token })
  assert.is(other.doc.getText('text').toString(), 'hello demo')
  // It opens only demo.
  const elsewhere = await rawConnect(server, 'other', { token })
  assert.is((await elsewhere.waitClose()).code, 4403)
  // A token signed with the test secret is not valid here.
  const foreign = await rawConnect(server, 'demo', { token: await mintToken('x', 'admin', 'demo') })
  assert.is((await foreign.waitClose()).code, 4401)
  peer.destroy()
  other.destroy()

  // `huddle token --data` signs with the same generated secret.
  const cli = await runCli(['token', '--actor', 'bob', '--workspace', 'demo', '--role', 'viewer', '--data', dataDir], { env: { HUDDLE_SECRET: undefined } })
  assert.is(cli.code, 0, cli.stderr)
  const viewer = await connectPeer(server, 'demo/readme', { token: cli.stdout.trim() })
  assert.is(viewer.doc.getText('text').toString(), 'hello demo')
  viewer.destroy()

  // A second start reuses the secret, prints no token, and the first token still works.
  assert.equal(await server.stop(), { code: 0, signal: null })
  await server.restart()
  await server.waitForStdout(/data in/)
  assert.not.match(server.stdout, /admin token/)
  assert.not.match(server.stdout, /eyJ/, 'no token is printed on a second start')
  assert.is(readFileSync(secretPath, 'utf8').trim(), secret, 'the secret was not regenerated')
  const back = await connectPeer(server, 'demo/readme', { token })
  assert.is(back.doc.getText('text').toString(), 'hello demo')
  back.destroy()
})

test('--public-url: the banner links the dashboard at that address; an address without http(s) is refused', async () => {
  const server = await TestServer.start({ secret: null, memory: true, args: ['--public-url', 'https://huddle.example.com/'] })
  servers.push(server)
  const token = (await server.waitForStdout(/admin token for workspace "demo"[^\n]*\n\s*(\S+)/))[1]!
  assert.ok(server.stdout.includes(`: https://huddle.example.com/w/demo#token=${token}\n`), `the banner does not link the public address:\n${server.stdout}`)
  const refused = await runCli(['serve', '--memory', '--port', '0', '--public-url', 'huddle.example.com'])
  assert.is.not(refused.code, 0)
  assert.match(refused.stderr, /"huddle\.example\.com" is not an http\(s\) address/)
})

test('HUDDLE_SECRET shorter than 32 characters is refused with a message', async () => {
  const error = await TestServer.start({ secret: 'too-short' }).then(
    (server) => {
      servers.push(server)
      return null
    },
    (e: Error) => e,
  )
  assert.ok(error, 'the server started with a short secret')
  assert.match(error.message, /HUDDLE_SECRET/)
  assert.match(error.message, /32/)
})

test('/healthz and /metrics answer', async () => {
  const server = await TestServer.start()
  servers.push(server)
  const peer = await connectPeer(server, 'hm/doc', { token: await mintToken('m', 'editor', 'hm') })
  peer.doc.getText('text').insert(0, 'counted')
  const other = await connectPeer(server, 'hm/doc', { token: await mintToken('n', 'editor', 'hm') })
  await waitFor(() => other.doc.getText('text').length > 0, 5000, 'sync')
  const health = await server.fetchJson<Health>('/healthz')
  assert.is(health.status, 'ok')
  assert.type(health.uptimeSeconds, 'number')
  assert.is(health.documents, 1)
  assert.is(health.connections, 2)
  assert.type(health.memory.heapUsed, 'number')
  assert.type(health.memory.rss, 'number')
  const metrics = await server.fetchText('/metrics')
  assert.is(metrics.status, 200)
  assert.match(String(metrics.headers['content-type']), /text\/plain/)
  for (const name of [
    'huddle_connections',
    'huddle_documents',
    'huddle_messages_received_total',
    'huddle_messages_sent_total',
    'huddle_bytes_received_total',
    'huddle_bytes_sent_total',
    'huddle_persisted_batches_total',
    'huddle_refusals_total',
    'huddle_persist_seconds',
  ]) {
    assert.match(metrics.body, new RegExp(`^# TYPE ${name} `, 'm'), `metric ${name} is exported`)
  }
  assert.match(metrics.body, /^huddle_connections 2$/m)
  assert.match(metrics.body, /^huddle_documents 1$/m)
  assert.match(metrics.body, /^huddle_persisted_batches_total [1-9]/m)
  assert.match(metrics.body, /^huddle_messages_received_total\{type="sync-step1"\} [1-9]/m)
  for (const name of ['huddle_messages_sent_total', 'huddle_bytes_received_total', 'huddle_bytes_sent_total']) {
    assert.match(metrics.body, new RegExp(`^${name} [1-9]`, 'm'), `${name} counts the traffic`)
  }
  const missing = await server.fetchText('/nothing-here')
  assert.is(missing.status, 404)
  peer.destroy()
  other.destroy()
})

test('SIGTERM: clients are closed with 1001 and a reason, everything is flushed, exit code 0', async () => {
  const server = await TestServer.start()
  servers.push(server)
  const token = await mintToken('t', 'editor', 'term')
  const peers = [
    await connectPeer(server, 'term/doc', { token }),
    await connectPeer(server, 'term', { token }),
    await connectPeer(server, 'term/doc', { token }),
  ]
  const raw = await rawConnect(server, 'term/raw', { token })
  await raw.roundTrip()
  for (let i = 0; i < 100; i++) peers[0]!.doc.getMap('m').set(`k${i}`, i)
  await waitFor(() => peers[2]!.doc.getMap('m').size === 100, 5000, 'the edits never arrived')
  const exit = await server.stop()
  assert.equal(exit, { code: 0, signal: null }, `stderr:\n${server.stderr}`)
  assert.equal(raw.closeInfo?.code, 1001)
  assert.ok((raw.closeInfo?.reason ?? '').length > 0, 'the 1001 close carries a reason')
  for (const peer of peers) {
    await waitFor(() => peer.closes.length > 0, 5000, 'a provider never saw the close')
    assert.is(peer.closes[0]!.code, 1001)
    assert.ok(peer.closes[0]!.reason.length > 0)
    assert.is(peer.terminal, null, 'y-websocket treats 1001 as "reconnect later"')
    peer.destroy()
  }
  await server.restart()
  const check = await connectPeer(server, 'term/doc', { token })
  assert.is(check.doc.getMap('m').size, 100)
  check.destroy()
})

test.run()
