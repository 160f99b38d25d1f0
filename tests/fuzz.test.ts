// Fuzzing the live server with random and mutated y-websocket frames (seeded, so a failure
// reproduces: HUDDLE_FUZZ_SEED=<seed> re-runs the same frames). Every connection that sends a bad
// frame must be closed with 4400 or 4413 and a reason, or survive if the frame happened to be
// valid; the server must stay up and keep syncing for everybody else.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import {
  awarenessFrame,
  awarenessUpdate,
  connectPeer,
  decodeFrame,
  hex,
  mintToken,
  prng,
  queryAwarenessFrame,
  rawConnect,
  syncStep1Frame,
  syncStep2Frame,
  updateFrame,
  waitFor,
} from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const SEED = Number(process.env.HUDDLE_FUZZ_SEED ?? 0x5eed)
const FRAMES = Number(process.env.HUDDLE_FUZZ_FRAMES ?? 1200)
const WORKERS = 8
const MAX_MESSAGE = 16_384

let server: TestServer

withServer(test, (started) => (server = started), {
  args: ['--max-message', String(MAX_MESSAGE), '--rate', '100000', '--burst', '100000'],
  env: { HUDDLE_LOG: 'quiet' },
})

type Rng = () => number

const int = (rng: Rng, max: number) => Math.floor(rng() * max)
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!
const bytes = (rng: Rng, length: number) => Uint8Array.from({ length }, () => int(rng, 256))

/** Real Yjs updates of assorted shapes, the raw material for mutations. */
function baseUpdates(rng: Rng): Uint8Array[] {
  const updates: Uint8Array[] = []
  for (let i = 0; i < 12; i++) {
    const doc = new Y.Doc()
    doc.clientID = 1 + int(rng, 2 ** 31)
    const text = doc.getText('t')
    text.insert(0, 'fuzzing '.repeat(1 + int(rng, 4)))
    if (rng() < 0.5) text.delete(int(rng, 5), 1 + int(rng, 5))
    if (rng() < 0.5) text.format(0, 3, { bold: true })
    const map = doc.getMap('m')
    map.set('n', int(rng, 1000))
    map.set('s', 'x'.repeat(int(rng, 20)))
    if (rng() < 0.5) map.set('nested', new Y.Map([['deep', [1, 2, { three: 3 }]]]))
    if (rng() < 0.5) map.delete('n')
    const array = doc.getArray('a')
    array.push([1, 'two', null, true, new Uint8Array([1, 2, 3])])
    if (rng() < 0.3) array.insert(0, [new Y.Text('inner')])
    if (rng() < 0.3) doc.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
    const full = Y.encodeStateAsUpdate(doc)
    updates.push(full)
    const sv = Y.encodeStateVector(doc)
    text.insert(0, 'more')
    updates.push(Y.encodeStateAsUpdate(doc, sv))
    doc.destroy()
  }
  return updates
}

interface Frame {
  kind: string
  data: Uint8Array | string
}

function validFrame(rng: Rng, updates: Uint8Array[]): Frame {
  const choice = int(rng, 5)
  const update = pick(rng, updates)
  if (choice === 0) return { kind: 'valid-update', data: updateFrame(update) }
  if (choice === 1) return { kind: 'valid-step2', data: syncStep2Frame(update) }
  if (choice === 2) {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, update)
    const frame = syncStep1Frame(Y.encodeStateVector(doc))
    doc.destroy()
    return { kind: 'valid-step1', data: frame }
  }
  if (choice === 3)
    return {
      kind: 'valid-awareness',
      data: awarenessFrame(
        awarenessUpdate([
          { clientID: 1 + int(rng, 2 ** 30), clock: int(rng, 100), state: { status: pick(rng, ['active', 'idle', 'away']), cursor: { index: int(rng, 50) } } },
        ]),
      ),
    }
  return { kind: 'valid-query', data: queryAwarenessFrame() }
}

function mutate(rng: Rng, frame: Uint8Array): Uint8Array {
  const out = Array.from(frame)
  const rounds = 1 + int(rng, 4)
  for (let r = 0; r < rounds; r++) {
    const op = int(rng, 7)
    const at = int(rng, Math.max(1, out.length))
    if (op === 0 && out.length)
      out[at] = int(rng, 256) // replace a byte
    else if (op === 1 && out.length)
      out[at]! ^= 1 << int(rng, 8) // flip a bit
    else if (op === 2)
      out.splice(at, 0, ...bytes(rng, 1 + int(rng, 8))) // insert
    else if (op === 3)
      out.splice(at, 1 + int(rng, 8)) // delete
    else if (op === 4)
      out.length = at // truncate
    else if (op === 5)
      out.splice(at, 0, ...out.slice(int(rng, out.length), int(rng, out.length) + 16)) // duplicate a slice
    else if (out.length) out[at] = pick(rng, [0, 1, 0x7f, 0x80, 0xff]) // boundary values
  }
  return Uint8Array.from(out)
}

function fuzzFrame(rng: Rng, updates: Uint8Array[]): Frame {
  const roll = rng()
  if (roll < 0.1) return validFrame(rng, updates)
  if (roll < 0.55) {
    const base = validFrame(rng, updates)
    return { kind: `mutated-${base.kind.slice(6)}`, data: mutate(rng, base.data as Uint8Array) }
  }
  if (roll < 0.7) return { kind: 'random-short', data: bytes(rng, int(rng, 24)) }
  if (roll < 0.78) return { kind: 'random-long', data: bytes(rng, int(rng, 4000)) }
  if (roll < 0.9) {
    // A plausible header with a random payload.
    const type = pick(rng, [0, 0, 0, 1, 3])
    const payload = rng() < 0.5 ? mutate(rng, pick(rng, updates)) : bytes(rng, int(rng, 64))
    if (type === 1) return { kind: 'header-awareness', data: awarenessFrame(payload) }
    if (type === 3) return { kind: 'header-query', data: Uint8Array.from([3, ...payload.subarray(0, 2)]) }
    return { kind: 'header-sync', data: pick(rng, [syncStep1Frame, syncStep2Frame, updateFrame])(payload) }
  }
  if (roll < 0.94) {
    const json = pick(rng, ['{', '{"user":', 'null', '[]', '"x"', '1e999', `{"a":${'['.repeat(50)}`, '\u0000', '{"user":{"id":1}}'])
    return { kind: 'awareness-json', data: rawAwareness(int(rng, 2 ** 30), json) }
  }
  if (roll < 0.97) return { kind: 'text', data: String.fromCharCode(...bytes(rng, int(rng, 40))) }
  return { kind: 'oversize', data: bytes(rng, MAX_MESSAGE + 1 + int(rng, 4000)) }
}

/** An awareness frame whose state is the literal JSON text given (valid or not). */
function rawAwareness(clientID: number, json: string): Uint8Array {
  const body = awarenessUpdate([{ clientID, clock: 1, state: null }])
  const prefix = body.subarray(0, body.length - 5) // count, clientID, clock, then the string "null"
  const text = new TextEncoder().encode(json)
  return awarenessFrame(Uint8Array.from([...prefix, ...varUint(text.length), ...text]))
}

function varUint(value: number): number[] {
  const out: number[] = []
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80)
    value >>>= 7
  }
  out.push(value)
  return out
}

interface Outcome {
  index: number
  kind: string
  frame: string
  result: 'survived' | number
  reason: string
}

/** Sends one frame on a fresh connection, then a probe; returns how the connection ended up. */
async function fire(index: number, frame: Frame, room: string, token: string): Promise<Outcome> {
  const raw = await rawConnect(server, room, { token })
  const describe = { index, kind: frame.kind, frame: typeof frame.data === 'string' ? JSON.stringify(frame.data) : hex(frame.data).slice(0, 400) }
  if (!raw.isOpen)
    return {
      ...describe,
      result: raw.closeInfo?.code ?? -1,
      reason: `could not connect: ${raw.closeInfo?.reason ?? ''} ${raw.errors.map((e) => e.message).join(', ')}`,
    }
  // Odd frames go to a connection already attached to its document (the server's sync step 1 has
  // arrived); even ones while it is still being admitted, when the server queues them.
  if (index % 2 === 1) await raw.waitMessage(() => true, 5000, 'the server sync step 1')
  raw.send(frame.data)
  raw.send(syncStep1Frame(new Uint8Array([0])))
  await waitFor(
    () => raw.closeInfo || raw.messages.some((message) => decodeFrame(message).kind === 'sync-step2'),
    5000,
    `frame ${index} (${frame.kind}): neither closed nor answered`,
  )
  if (raw.closeInfo) return { ...describe, result: raw.closeInfo.code, reason: raw.closeInfo.reason }
  raw.close()
  await raw.closed
  return { ...describe, result: 'survived', reason: '' }
}

test(`${FRAMES} random and mutated frames (seed ${SEED}): only 4400/4413 closes, the server stays up`, async () => {
  const rng = prng(SEED)
  const updates = baseUpdates(rng)
  const frames = Array.from({ length: FRAMES }, () => fuzzFrame(rng, updates))
  const token = await mintToken('fuzzer', 'editor', 'fuzz')
  // Bystanders, one on a document under fuzz and one elsewhere, connected throughout.
  const healthyToken = await mintToken('healthy', 'editor', 'fuzz')
  const onFuzzed = await connectPeer(server, 'fuzz/w0-0', { token: healthyToken })
  const elsewhere = await connectPeer(server, 'fuzz/quiet', { token: healthyToken })

  const outcomes: Outcome[] = []
  let failure: Outcome | null = null
  const worker = async (w: number) => {
    for (let i = w; i < frames.length && !failure; i += WORKERS) {
      let outcome: Outcome
      try {
        outcome = await fire(i, frames[i]!, `fuzz/w${w}-${i % 3}`, token)
      } catch (error) {
        outcome = { index: i, kind: frames[i]!.kind, frame: hex(frames[i]!.data as Uint8Array).slice(0, 400), result: -1, reason: (error as Error).message }
      }
      outcomes.push(outcome)
      const ok = outcome.result === 'survived' || ((outcome.result === 4400 || outcome.result === 4413) && outcome.reason.length > 0)
      if (!ok) failure ??= outcome
    }
  }
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)))
  if (failure) {
    const f: Outcome = failure
    assert.unreachable(
      `seed ${SEED}, frame #${f.index} (${f.kind}) ${f.frame}\n  → ${f.result} ${JSON.stringify(f.reason)}\n  server running: ${server.running} ${JSON.stringify(server.exitStatus)}\n  server stderr:\n${server.stderr.slice(-2000)}`,
    )
  }
  assert.is(outcomes.length, FRAMES)
  const closed = outcomes.filter((outcome) => outcome.result !== 'survived')
  // The mix must really exercise both paths (otherwise the generator is broken).
  assert.ok(closed.length > FRAMES / 2, `only ${closed.length} frames were refused`)
  assert.ok(outcomes.length - closed.length > FRAMES / 20, `only ${outcomes.length - closed.length} frames survived`)
  assert.ok(
    closed.some((outcome) => outcome.result === 4413),
    'no oversize frame was refused with 4413',
  )

  // The server is up, and everyone else carries on.
  assert.ok(server.running)
  const health = await server.fetchJson<{ status: string }>('/healthz')
  assert.is(health.status, 'ok')
  const key = `healthy-${SEED}`
  onFuzzed.doc.getMap(key).set('after', 'fuzz')
  elsewhere.doc.getMap(key).set('after', 'fuzz')
  const check1 = await connectPeer(server, 'fuzz/w0-0', { token: healthyToken })
  const check2 = await connectPeer(server, 'fuzz/quiet', { token: healthyToken })
  await waitFor(
    () => check1.doc.getMap(key).get('after') === 'fuzz' && check2.doc.getMap(key).get('after') === 'fuzz',
    5000,
    'edits stopped syncing after the fuzz',
  )
  assert.equal(onFuzzed.closes, [])
  assert.equal(elsewhere.closes, [])
  // Every fuzzed document still loads and syncs.
  for (let w = 0; w < WORKERS; w++) {
    for (let r = 0; r < 3; r++) {
      const raw = await rawConnect(server, `fuzz/w${w}-${r}`, { token })
      await raw.roundTrip()
      raw.close()
    }
  }
})

test.run()
