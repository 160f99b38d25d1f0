// The room reads client updates with server/protocol/update-shape.ts instead of Y.decodeUpdate. It
// must accept exactly what Yjs reads, and describe it the same way: checked here against
// Y.decodeUpdate on updates of every content type (text with formats and embeds, maps of any
// values, binary, nested and XML types, subdocuments, garbage-collected and merged states with
// skips), and on thousands of corruptions of them (cut short, a byte changed, a byte added).
import * as prng from 'lib0/prng'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { readUpdateShape, type UpdateShape } from '../server/protocol/update-shape.js'

interface Shape {
  writes: Array<[number, number, number]>
  deletes: Array<[number, number, number]>
}

/** The same description, from Yjs's own decoding. */
function shapeOf(update: Uint8Array): Shape {
  const { structs, ds } = Y.decodeUpdate(update)
  const runs = new Map<number, [number, number]>()
  for (const struct of structs) {
    if (struct instanceof Y.Skip) continue
    const run = runs.get(struct.id.client)
    const end = struct.id.clock + struct.length
    if (!run) runs.set(struct.id.client, [struct.id.clock, end])
    else run[1] = Math.max(run[1], end)
  }
  const deletes: Array<[number, number, number]> = []
  for (const [client, ranges] of ds.clients) for (const range of ranges) deletes.push([client, range.clock, range.len])
  return { writes: [...runs].map(([client, [start, end]]) => [client, start, end]), deletes }
}

function normalised(shape: UpdateShape | Shape): Shape {
  return { writes: [...shape.writes].sort((a, b) => a[0] - b[0]), deletes: shape.deletes }
}

function outcome<T>(read: () => T): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: read() }
  } catch {
    return { ok: false }
  }
}

/** Random edits of every kind on two docs that sync now and then; every update and some states. */
function updates(seed: number): Uint8Array[] {
  const gen = prng.create(seed)
  const out: Uint8Array[] = []
  const docs = [new Y.Doc({ gc: true }), new Y.Doc({ gc: false })]
  for (const doc of docs) doc.on('update', (update: Uint8Array) => out.push(update))
  for (let step = 0; step < 60; step++) {
    const doc = docs[prng.uint32(gen, 0, 1)]!
    const text = doc.getText('text')
    const map = doc.getMap<unknown>('map')
    const list = doc.getArray<unknown>('list')
    const xml = doc.getXmlFragment('xml')
    switch (prng.uint32(gen, 0, 9)) {
      case 0:
        text.insert(prng.uint32(gen, 0, text.length), prng.utf16String(gen, 12))
        break
      case 1:
        if (text.length > 1) text.delete(prng.uint32(gen, 0, text.length - 1), 1)
        break
      case 2:
        if (text.length > 2) text.format(0, 2, { bold: prng.bool(gen) ? true : null })
        text.insertEmbed(0, { image: `https://e.com/${step}.png` })
        break
      case 3:
        map.set(`k${prng.uint32(gen, 0, 5)}`, { n: prng.int32(gen, -1e6, 1e6), s: prng.word(gen), list: [1, null, true, 2.5, 'x'] })
        break
      case 4:
        map.set('bytes', new Uint8Array([prng.uint32(gen, 0, 255), 1, 2]))
        list.push([prng.uint53(gen, 0, 1e12), prng.real53(gen)])
        break
      case 5:
        if (list.length > 0) list.delete(0, 1)
        map.delete(`k${prng.uint32(gen, 0, 5)}`)
        break
      case 6: {
        const nested = new Y.Map<unknown>()
        map.set('nested', nested)
        nested.set('inner', new Y.Text('inner'))
        break
      }
      case 7: {
        const element = new Y.XmlElement('p')
        element.setAttribute('class', prng.word(gen))
        // Yjs's types leave XmlHook out of insert's parameter, which takes it at runtime
        element.insert(0, [new Y.XmlText('hi'), new Y.XmlHook('hook') as unknown as Y.XmlText])
        xml.insert(0, [element])
        break
      }
      case 8:
        map.set('sub', new Y.Doc({ guid: `sub-${step}`, meta: { n: step } }))
        break
      default: {
        const [a, b] = docs
        Y.applyUpdate(b!, Y.encodeStateAsUpdate(a!, Y.encodeStateVector(b!)))
        Y.applyUpdate(a!, Y.encodeStateAsUpdate(b!, Y.encodeStateVector(a!)))
      }
    }
  }
  for (const doc of docs) out.push(Y.encodeStateAsUpdate(doc))
  // merged runs of updates may hold skips where ids of the run are missing
  out.push(Y.mergeUpdates(out.filter((_, i) => i % 3 === 0)))
  return out
}

test('valid updates of every kind: accepted, with the ids Yjs reads', () => {
  let checked = 0
  for (let seed = 1; seed <= 20; seed++) {
    for (const update of updates(seed)) {
      assert.equal(normalised(readUpdateShape(update)), normalised(shapeOf(update)))
      checked++
    }
  }
  assert.ok(checked > 1000, `only ${checked} updates`)
})

test('corrupted updates: refused exactly when Yjs cannot read them, and read alike otherwise', () => {
  const gen = prng.create(7)
  let refused = 0
  let accepted = 0
  for (let seed = 21; seed <= 30; seed++) {
    for (const update of updates(seed)) {
      for (let variant = 0; variant < 6; variant++) {
        const bad = corrupt(gen, update, variant % 3)
        const ours = outcome(() => readUpdateShape(bad))
        const theirs = outcome(() => shapeOf(bad))
        assert.is(
          ours.ok,
          theirs.ok,
          `update ${Buffer.from(bad).toString('hex')}: ours ${ours.ok ? 'reads' : 'refuses'} it, Yjs ${theirs.ok ? 'reads' : 'refuses'} it`,
        )
        if (ours.ok && theirs.ok) assert.equal(normalised(ours.value), normalised(theirs.value))
        if (ours.ok) accepted++
        else refused++
      }
    }
  }
  assert.ok(refused > 500 && accepted > 500, `refused ${refused}, accepted ${accepted}: the corruptions should exercise both`)
})

function corrupt(gen: prng.PRNG, update: Uint8Array, how: number): Uint8Array {
  const at = prng.uint32(gen, 0, update.length - 1)
  if (how === 0) return update.slice(0, at)
  const copy = how === 1 ? update.slice() : new Uint8Array([...update.slice(0, at), prng.uint32(gen, 0, 255), ...update.slice(at)])
  if (how === 1) copy[at] = prng.uint32(gen, 0, 255)
  return copy
}

test.run()
