// Keep-alive and dead-socket detection: a quiet connection hears something every --keep-alive (so
// y-websocket's 30 s watchdog never fires), and a socket that stops answering pings is dropped.
import { connect as tcpConnect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { WebSocket } from 'ws'
import { connectPeer, decodeFrame, mintToken, newSession, rawConnect, WaitAborted, waitFor, withTimeout } from './helpers/clients.js'
import type { Health, TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
const sockets: Socket[] = []

test.after(() => {
  for (const socket of sockets) socket.destroy()
})
withServer(test, (started) => (server = started), { args: ['--keep-alive', '1s', '--ping-interval', '500ms'] })

const connections = async () => (await server.fetchJson<Health>('/healthz')).connections

test('an idle connection receives a harmless message within ~2 s', async () => {
  const raw = await rawConnect(server, 'ka/idle', { token: await mintToken('idle', 'viewer', 'ka') })
  // The join messages (sync step 1), then nothing from us: the next message is the keep-alive.
  await raw.waitMessage(() => true, 5000, 'the join message')
  const joined = raw.messages.length
  const quietSince = Date.now()
  await waitFor(() => raw.messages.length > joined, 3000, 'no keep-alive within 3 s of silence')
  const keepAlive = decodeFrame(raw.messages[joined]!)
  assert.is(keepAlive.kind, 'awareness', 'the keep-alive is an awareness message')
  assert.equal((keepAlive as { entries: unknown[] }).entries, [], 'and it carries no state')
  // And again: it keeps coming while the connection stays quiet.
  await waitFor(() => raw.messages.length > joined + 1, 3000, 'no second keep-alive')
  assert.ok(Date.now() - quietSince >= 900, 'keep-alives are not sent before --keep-alive of silence')
  assert.ok(raw.isOpen)
  raw.close()
})

test('a stock client stays connected across many ping intervals', async () => {
  const peer = await connectPeer(server, 'ka/stock', { token: await mintToken('stock', 'editor', 'ka') })
  // Three pings (one per sweep), each answered by ws itself: a client that answers is never dropped.
  let pings = 0
  ;(peer.provider.ws as unknown as WebSocket).on('ping', () => pings++)
  await waitFor(
    () => {
      if (!peer.provider.wsconnected) throw new WaitAborted(`the stock client was dropped after ${pings} ping(s): ${JSON.stringify(peer.closes)}`)
      return pings >= 3
    },
    5000,
    () => `only ${pings} ping(s) within 5 s at --ping-interval 500ms`,
  )
  assert.ok(peer.provider.wsconnected)
  assert.equal(peer.closes, [])
  peer.doc.getText('text').insert(0, 'still here')
  const other = await connectPeer(server, 'ka/stock', { token: await mintToken('other', 'viewer', 'ka') })
  assert.is(other.doc.getText('text').toString(), 'still here')
  peer.destroy()
  other.destroy()
})

/** A WebSocket upgrade done by hand over TCP; afterwards the socket never reads or answers a ping. */
async function deadSocket(room: string, token: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = tcpConnect(server.port, server.host)
  sockets.push(socket)
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => undefined)
  await withTimeout(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 5000, 'TCP connect')
  const key = randomBytes(16).toString('base64')
  socket.write(
    `GET /${room}?token=${token}&session=${newSession()} HTTP/1.1\r\nHost: ${server.host}:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  let head = ''
  await withTimeout(
    new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1')
        if (!head.includes('\r\n\r\n')) return
        socket.off('data', onData)
        socket.pause() // from now on: never read, never answer
        resolve()
      }
      socket.on('data', onData)
    }),
    5000,
    'the 101 response',
  )
  assert.match(head, /^HTTP\/1\.1 101/)
  return { socket, closed }
}

test('a socket that stops answering pings is dropped; /healthz connections goes back down', async () => {
  const token = await mintToken('ghost', 'editor', 'ka')
  const healthy = await rawConnect(server, 'ka/dead', { token: await mintToken('alive', 'viewer', 'ka') })
  await healthy.waitMessage(() => true, 5000, 'join')
  const baseline = await waitFor(
    async () => {
      const count = await connections()
      return count >= 1 ? count : 0
    },
    5000,
    'the healthy connection is counted',
  )
  const ghosts = [await deadSocket('ka/dead', token), await deadSocket('ka/dead', token)]
  await waitFor(async () => (await connections()) === baseline + 2, 5000, 'the hand-made connections were never admitted')
  // Two sweeps: the first pings, the second finds no pong and terminates.
  await waitFor(async () => (await connections()) === baseline, 6000, 'dead sockets are still counted')
  // Reading again, the ghosts find their sockets closed by the server.
  for (const ghost of ghosts) ghost.socket.resume()
  await withTimeout(Promise.all(ghosts.map((ghost) => ghost.closed)), 5000, 'the server never closed the dead TCP sockets')
  // The healthy socket (ws answers pings by itself) was not dropped along with them.
  assert.ok(healthy.isOpen, `the healthy socket was closed: ${JSON.stringify(healthy.closeInfo)}`)
  assert.is(await connections(), baseline)
  healthy.close()
})

test('a ws client whose socket is paused is dropped too', async () => {
  const raw = await rawConnect(server, 'ka/paused', { token: await mintToken('paused', 'viewer', 'ka') })
  await raw.waitMessage(() => true, 5000, 'join')
  const before = await connections()
  ;(raw.ws as unknown as { _socket: Socket })._socket.pause()
  await waitFor(async () => (await connections()) === before - 1, 6000, 'the paused client is still counted')
  ;(raw.ws as unknown as { _socket: Socket })._socket.resume()
  const close = await raw.waitClose(5000, 'the client to notice')
  assert.is.not(close.code, 1000)
})

test.run()
