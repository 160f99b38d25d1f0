// server/net/ws-internals.ts reads `ws` internals (`_socket`, `_sender._state`, `_sender._queue`)
// to write prepared broadcast frames straight to the TCP socket. A ws upgrade that changes them
// would silently send everything the slow way: these checks fail loudly instead.
import { once } from 'node:events'
import { Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocket, WebSocketServer } from 'ws'
import { prepareFrame, prepareFrames } from '../server/protocol/frame.js'
import { idleSocketOf } from '../server/net/ws-internals.js'
import { waitFor } from './helpers/clients.js'

/** A plain ws server with one connected client; `received` collects what the client gets. */
async function connectedPair(): Promise<{ server: WebSocketServer; client: WebSocket; ws: WebSocket; received: Buffer[] }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await once(server, 'listening')
  try {
    const accepted = once(server, 'connection') as Promise<[WebSocket]>
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`)
    const received: Buffer[] = []
    client.on('message', (data: Buffer) => received.push(data))
    const [ws] = await accepted
    await once(client, 'open')
    return { server, client, ws, received }
  } catch (error) {
    server.close()
    throw error
  }
}

test('an open, idle server-side socket exposes its TCP socket, and a prepared frame written to it arrives intact', async () => {
  const { server, client, ws, received } = await connectedPair()
  try {
    const socket = idleSocketOf(ws)
    assert.ok(
      socket instanceof Socket,
      'ws 8 keeps the TCP socket in `_socket` and an idle sender has `_state` 0 and an empty `_queue`: update server/net/ws-internals.ts for this ws version',
    )
    const payloads = [new Uint8Array([0, 2, 1, 7]), new Uint8Array(200).fill(5), new Uint8Array(70_000).fill(9)]
    for (const payload of payloads) idleSocketOf(ws)!.write(prepareFrame(payload).wire)
    ws.send(new Uint8Array([42]))
    // all three again, as one write
    const together = prepareFrames(payloads)
    assert.is(together.bytes, 4 + 200 + 70_000)
    await waitFor(() => idleSocketOf(ws), 5000, 'the sender to become idle again')
    idleSocketOf(ws)!.write(together.wire)
    await waitFor(
      () => received.length === 7,
      5000,
      () => `received ${received.length} of 7 messages`,
    )
    for (const [index, payload] of payloads.entries()) assert.equal(new Uint8Array(received[index]!), payload, `message ${index}`)
    assert.equal(new Uint8Array(received[3]!), new Uint8Array([42]), 'ws sends after the raw frames, in order')
    for (const [index, payload] of payloads.entries()) assert.equal(new Uint8Array(received[4 + index]!), payload, `message ${index} of the one write`)
    ws.close()
    assert.is(idleSocketOf(ws), null, 'a closing socket is not written to directly')
    client.terminate()
  } finally {
    server.close()
  }
})

test('while ws is still busy with a message (a Blob it reads first), the socket is not offered, and what follows keeps its order', async () => {
  const { server, client, ws, received } = await connectedPair()
  try {
    ws.send(new Blob([new Uint8Array([1])]))
    assert.is(idleSocketOf(ws), null, 'a sender reading a Blob is busy: a raw write now would overtake it')
    ws.send(new Uint8Array([2]))
    assert.is(idleSocketOf(ws), null, 'a sender with a queue is busy')
    await waitFor(() => idleSocketOf(ws), 5000, 'the sender to become idle again')
    idleSocketOf(ws)!.write(prepareFrame(new Uint8Array([3])).wire)
    await waitFor(
      () => received.length === 3,
      5000,
      () => `received ${received.length} of 3 messages`,
    )
    assert.equal(
      received.map((data) => data[0]),
      [1, 2, 3],
      'in the order sent',
    )
    client.terminate()
  } finally {
    server.close()
  }
})

test.run()
