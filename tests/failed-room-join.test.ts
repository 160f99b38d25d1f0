// A room that fails while connections wait for it to load: two sockets open a document that is not
// loaded, both wait for the same load, and the first one's held write makes a hook throw, which
// fails the room and discards it (tests/fixtures/custom-server.ts throws on request). The second
// must not join the discarded room: it would stay connected to a document that ignores everything
// it sends (no sync reply, no close, its writes silently dropped). It gets the reloaded document.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import type { RoomName } from '../shared/names.js'
import type { Member } from '../server/rooms/audience.js'
import type { LoopMeter } from '../server/rooms/loop-meter.js'
import { Room } from '../server/rooms/room.js'
import { decodeFrame, RawClient, updateFrame, waitFor } from './helpers/clients.js'
import { who } from './helpers/coordination-peers.js'
import { distScript, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const ROOM = 'failing/boom'
const TRIES = 15

let server: TestServer
withServer(test, (started) => void (server = started), { script: distScript('tests/fixtures/custom-server.js') })

function poisoned(): Uint8Array {
  const doc = new Y.Doc()
  doc.getMap('boom').set('at', 'before')
  return Y.encodeStateAsUpdate(doc)
}

function clean(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

test('a socket that waited for a load which another socket’s write failed is served by the reloaded room', async () => {
  const editor = await who('writer', 'editor')
  const url = (token: string) => `${server.wsUrl}/${ROOM}?token=${token}`
  for (let attempt = 0; attempt < TRIES; attempt++) {
    // Both sockets are opened at once, and each writes as soon as it is open: their writes are
    // held while the room loads, and replayed in the order the sockets asked for it.
    const poisoner = new RawClient(url(editor.token))
    const writer = new RawClient(url(editor.token))
    const text = `clean ${attempt}`
    void poisoner.opened.then(() => poisoner.send(updateFrame(poisoned())))
    void writer.opened.then(() => writer.send(updateFrame(clean(text))))
    const close = await poisoner.waitClose(20_000, 'the poisoned write to be refused')
    assert.is(close.code, 1011, `${close.code} ${close.reason}`)
    // The writer either joined the room before it failed (then it was closed too, and its write may
    // be lost with the room's memory) or after (then its write is in the reloaded room and it gets
    // the echo). Never neither: connected, and ignored.
    await waitFor(
      () => writer.closeInfo !== null || writer.messages.some((message) => isEchoOf(message, text)),
      20_000,
      () =>
        `attempt ${attempt}: the writer to get its echo or be closed (still open, received ${writer.messages.map((m) => decodeFrame(m).kind).join(', ')}); server: ${server.stderr.slice(-2500)}`,
    )
    if (!writer.closeInfo) await writer.roundTrip(20_000)
    poisoner.terminate()
    writer.terminate()
  }
})

test('a failed room stops serving, and waiting for what it wrote fails instead of reporting it saved', async () => {
  const name: RoomName = { room: 'failing/boom', workspace: 'failing', path: 'boom' }
  const failures: string[] = []
  const refusals: number[] = []
  const room = new Room(
    name,
    [
      {
        matches: () => true,
        onClientWrite: () => {
          throw new Error('the hook is broken')
        },
      },
    ],
    {
      appendUpdate: () => Promise.resolve(),
      recordRefusal: () => {
        throw new Error('no hook refuses')
      },
      countSent: () => undefined,
      pacing: { share: null },
      loop: { utilisation: () => 0 } as unknown as LoopMeter,
      onEmpty: () => undefined,
      onFailed: (_room, error) => failures.push(error.message),
    },
    [],
  )
  const member: Member = {
    identity: { actor: 'ada', name: 'Ada', kind: 'human', role: 'editor', workspace: 'failing' },
    session: 'session-of-ada',
    ownedClients: new Set(),
    send: () => undefined,
    refuse: (code) => void refusals.push(code),
    noteForgery: () => undefined,
  }
  room.join(member)
  await room.written()
  assert.ok(room.serving)
  room.receive(member, { kind: 'update', update: clean('lost') })
  assert.equal(failures, ['the hook is broken'])
  assert.equal(refusals, [1011])
  assert.not.ok(room.serving, 'a failed room no longer serves')
  await room.written().then(
    () => assert.unreachable('written() resolved for a room that failed'),
    (error: Error) => assert.match(error.message, /reloaded after an internal error; retry/),
  )
  room.destroy('failed')
})

/** Whether `message` is a document update holding `text`. */
function isEchoOf(message: Uint8Array, text: string): boolean {
  const frame = decodeFrame(message)
  if (frame.kind !== 'update' && frame.kind !== 'sync-step2') return false
  const doc = new Y.Doc()
  Y.applyUpdate(doc, frame.payload)
  return doc.getText('text').toString().includes(text)
}

test.run()
