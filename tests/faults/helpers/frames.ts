// A seeded generator of hostile y-websocket frames for the protocol fuzzer. Each frame carries the
// close codes it may legitimately get: `strict` frames are known to be bad in one way and must be
// closed with exactly that code; `loose` frames (mutations, random bytes) may also survive when the
// mutation happened to produce a valid message.
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { awarenessFrame, awarenessUpdate, queryAwarenessFrame, syncStep1Frame, syncStep2Frame, updateFrame } from '../../helpers/clients.js'

export type Rng = () => number

export const int = (rng: Rng, max: number) => Math.floor(rng() * max)
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!
export const randomBytes = (rng: Rng, length: number) => Uint8Array.from({ length }, () => int(rng, 256))

export interface Frame {
  category: string
  data: Uint8Array | string
  /** close codes this frame may get; 'survive' when it may also be accepted */
  allowed: Array<number | 'survive'>
}

const SURVIVE_OR_REFUSED: Frame['allowed'] = ['survive', 4400, 4413, 4403]

/** A varUint written by hand, so it can be as absurd as wanted (up to 2^53). */
export function varUint(value: number): number[] {
  const out: number[] = []
  while (value > 0x7f) {
    out.push((value % 128) | 0x80)
    value = Math.floor(value / 128)
  }
  out.push(value)
  return out
}

function awarenessBody(body: number[]): number[] {
  return [1, ...varUint(body.length), ...body]
}

/** Real Yjs updates of assorted shapes, the raw material. */
export function baseUpdates(rng: Rng, count = 16): Uint8Array[] {
  const updates: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const doc = new Y.Doc()
    doc.clientID = 1 + int(rng, 2 ** 31)
    const text = doc.getText('t')
    text.insert(0, 'fuzz '.repeat(1 + int(rng, 5)))
    if (rng() < 0.5) text.delete(int(rng, 4), 1 + int(rng, 4))
    if (rng() < 0.4) text.format(0, 3, { bold: true })
    const map = doc.getMap('m')
    map.set('n', int(rng, 1000))
    if (rng() < 0.5) map.set('nested', new Y.Map([['deep', [1, 'two', { three: 3 }]]]))
    if (rng() < 0.3) map.delete('n')
    const array = doc.getArray('a')
    array.push([1, 'two', null, true, new Uint8Array([1, 2, 3])])
    if (rng() < 0.3) array.insert(0, [new Y.Text('inner')])
    if (rng() < 0.3) doc.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
    updates.push(Y.encodeStateAsUpdate(doc))
    doc.destroy()
  }
  return updates
}

export function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const out = Array.from(input)
  const rounds = 1 + int(rng, 4)
  for (let r = 0; r < rounds; r++) {
    const op = int(rng, 7)
    const at = int(rng, Math.max(1, out.length))
    if (op === 0 && out.length) out[at] = int(rng, 256)
    else if (op === 1 && out.length) out[at]! ^= 1 << int(rng, 8)
    else if (op === 2) out.splice(at, 0, ...randomBytes(rng, 1 + int(rng, 8)))
    else if (op === 3) out.splice(at, 1 + int(rng, 8))
    else if (op === 4) out.splice(at, 0, ...out.slice(int(rng, out.length), int(rng, out.length) + 16))
    else if (op === 5 && out.length) out[at] = pick(rng, [0, 1, 0x7f, 0x80, 0xff])
    else out.splice(at, 0, ...varUint(pick(rng, [2 ** 31, 2 ** 32 + 1, 2 ** 53 - 1, 0x7fffffff])))
  }
  return Uint8Array.from(out)
}

/** An awareness frame whose single state is the literal text given (valid JSON or not). */
export function rawAwarenessFrame(clientID: number, clock: number, json: string): Uint8Array {
  const body = encoding.createEncoder()
  encoding.writeVarUint(body, 1)
  encoding.writeVarUint(body, clientID)
  encoding.writeVarUint(body, clock)
  encoding.writeVarString(body, json)
  return awarenessFrame(encoding.toUint8Array(body))
}

export interface Generator {
  /** the fuzz mix */
  next(): Frame
  /** a valid frame only (for control loads) */
  valid(): Frame
}

/**
 * The frame mix. `ownId` is the awareness client id of the connection the frames go to (its valid
 * presence); `victimId` belongs to another connection (a healthy client), for spoofing.
 */
export interface FrameContext {
  /** the awareness client id the current connection publishes as */
  ownId(): number
  nextClock(): number
  /** a client id that another connection of the current room owns, if any */
  victimId(): number | null
}

export function frameGenerator(rng: Rng, maxMessage: number, ids: FrameContext): Generator {
  const updates = baseUpdates(rng)
  const valid = (): Frame => {
    const choice = int(rng, 5)
    const update = pick(rng, updates)
    if (choice === 0) return { category: 'valid update', data: updateFrame(update), allowed: ['survive'] }
    if (choice === 1) return { category: 'valid sync step 2', data: syncStep2Frame(update), allowed: ['survive'] }
    if (choice === 2) {
      const doc = new Y.Doc()
      Y.applyUpdate(doc, update)
      const frame = syncStep1Frame(Y.encodeStateVector(doc))
      doc.destroy()
      return { category: 'valid sync step 1', data: frame, allowed: ['survive'] }
    }
    if (choice === 3)
      return {
        category: 'valid awareness',
        data: awarenessFrame(
          awarenessUpdate([
            { clientID: ids.ownId(), clock: ids.nextClock(), state: { status: pick(rng, ['active', 'idle', 'away']), cursor: { index: int(rng, 50) } } },
          ]),
        ),
        allowed: ['survive'],
      }
    return { category: 'valid query awareness', data: queryAwarenessFrame(), allowed: ['survive'] }
  }
  const absurd = (): Frame => {
    const huge = pick(rng, [2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1, maxMessage * 4, 0xffffffff])
    const tail = randomBytes(rng, int(rng, 32))
    const strict: number[][] = [
      [0, 2, ...varUint(huge), ...tail], // update with an absurd length
      [0, 1, ...varUint(huge), ...tail], // sync step 2
      [0, 0, ...varUint(huge), ...tail], // sync step 1
      [1, ...varUint(huge), ...tail], // awareness
      [...varUint(huge)], // message type
      [0, ...varUint(huge), 0], // sync sub-type
      awarenessBody([...varUint(2 ** 40), 1, 1, 2, 123, 125]), // awareness: 2^40 entries announced, 1 present
      awarenessBody([1, 1, 1, ...varUint(huge), 123, 125]), // awareness: a JSON string of absurd length
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // a varint that never ends
    ]
    if (rng() < 0.15) {
      // Huge but in-range numbers inside a well-formed message: refused or harmless, never a crash.
      const loose = [
        awarenessBody([1, ...varUint(2 ** 53 - 1), ...varUint(2 ** 53 - 1), 2, 123, 125]),
        [0, 0, ...varUint(12), 1, ...varUint(2 ** 53 - 1), ...varUint(2 ** 53 - 1)],
      ]
      return { category: 'huge in-range numbers', data: Uint8Array.from(pick(rng, loose)), allowed: ['survive', 4400, 4403] }
    }
    return { category: 'absurd varint length', data: Uint8Array.from(pick(rng, strict)), allowed: [4400] }
  }
  const awarenessLies = (): Frame => {
    const choice = int(rng, 9)
    const id = ids.ownId()
    const victim = ids.victimId()
    if (choice === 0 && victim !== null)
      return {
        category: "awareness: another connection's client id",
        data: awarenessFrame(awarenessUpdate([{ clientID: victim, clock: 1_000_000 + ids.nextClock(), state: { status: 'away' } }])),
        allowed: [4403],
      }
    if (choice === 1)
      return {
        category: 'awareness: forged user',
        data: awarenessFrame(
          awarenessUpdate([
            { clientID: id, clock: ids.nextClock(), state: { user: { id: 'admin', name: 'Admin', kind: 'human', color: '#ff0000' }, status: 'active' } },
          ]),
        ),
        allowed: ['survive'],
      }
    if (choice === 2)
      return {
        category: 'awareness: too many client ids',
        data: awarenessFrame(
          awarenessUpdate(Array.from({ length: 12 }, (_, i) => ({ clientID: 3_000_000_000 + int(rng, 1e6) * 16 + i, clock: 1, state: { status: 'active' } }))),
        ),
        allowed: [4403],
      }
    const json = pick(rng, [
      '{',
      '{"user":',
      '[]',
      '"text"',
      '42',
      'true',
      '1e999',
      `{"a":${'['.repeat(5000)}`,
      '\u0000',
      `{"x":"${'y'.repeat(2000)}"}`,
      '{"__proto__":{"polluted":1}}',
      '{"user":{"id":1}}',
    ])
    const ok = json === '{"__proto__":{"polluted":1}}' || json === '{"user":{"id":1}}' || json.startsWith('{"x":')
    return { category: 'awareness: malformed state', data: rawAwarenessFrame(id, ids.nextClock(), json), allowed: ok ? ['survive'] : [4400] }
  }
  const malformedYjs = (): Frame => {
    const update = mutate(rng, pick(rng, updates))
    const frame = pick(rng, [updateFrame, syncStep2Frame])(update)
    return { category: 'malformed Yjs update', data: frame, allowed: ['survive', 4400] }
  }
  return {
    valid,
    next(): Frame {
      const roll = rng()
      if (roll < 0.1) return valid()
      if (roll < 0.42) {
        const base = valid()
        return { category: `mutated ${base.category.slice(6)}`, data: mutate(rng, base.data as Uint8Array), allowed: SURVIVE_OR_REFUSED }
      }
      if (roll < 0.52) {
        const base = valid().data as Uint8Array
        return { category: 'truncated', data: base.subarray(0, int(rng, base.length)), allowed: [4400] }
      }
      if (roll < 0.62) return absurd()
      if (roll < 0.74) return malformedYjs()
      if (roll < 0.84) return awarenessLies()
      if (roll < 0.92) return { category: 'random bytes', data: randomBytes(rng, int(rng, rng() < 0.8 ? 40 : 4000)), allowed: SURVIVE_OR_REFUSED }
      if (roll < 0.95) return { category: 'text frame', data: String.fromCharCode(...randomBytes(rng, int(rng, 40))), allowed: [4400] }
      if (roll < 0.97) return { category: 'empty frame', data: new Uint8Array(0), allowed: [4400] }
      return { category: 'oversize', data: randomBytes(rng, maxMessage + 1 + int(rng, 4000)), allowed: [4413] }
    },
  }
}
