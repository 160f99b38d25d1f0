// The shape of a Yjs update (v1 encoding): which ids it writes and which it deletes, read in one
// pass that allocates nothing per struct. It reads every field exactly as Yjs's own decoder does
// (yjs `readClientsStructRefs`, `readItemContent`, `readDeleteSet`, through the same lib0 readers),
// so an update it accepts is one Yjs can read whole: the room checks an update with it before
// applying it, instead of `Y.decodeUpdate`, which builds an Item, an ID and a content object for
// every struct only to throw them away.
import * as decoding from 'lib0/decoding'

/** [client, first clock, end clock): a run of ids the update carries (skips left out). */
export type IdRun = [number, number, number]

export interface UpdateShape {
  /** per client section, from its first id written to the end of its last (skips carry no ids) */
  writes: IdRun[]
  /** [client, clock, length] for every deleted range */
  deletes: Array<[number, number, number]>
}

const BITS5 = 31
const GC = 0
const SKIP = 10
const HAS_ORIGIN = 128
const HAS_RIGHT_ORIGIN = 64
const HAS_PARENT_SUB = 32

/** Reads `update` whole; throws (lib0's or its own error) where Yjs's decoder would. */
export function readUpdateShape(update: Uint8Array): UpdateShape {
  const decoder = decoding.createDecoder(update)
  const writes: IdRun[] = []
  const sections = decoding.readVarUint(decoder)
  for (let s = 0; s < sections; s++) {
    const structs = decoding.readVarUint(decoder)
    const client = decoding.readVarUint(decoder)
    let clock = decoding.readVarUint(decoder)
    let start = -1
    let end = -1
    for (let i = 0; i < structs; i++) {
      const info = decoding.readUint8(decoder)
      const kind = info & BITS5
      const length = kind === GC || kind === SKIP ? decoding.readVarUint(decoder) : readItem(decoder, info)
      if (kind !== SKIP) {
        if (start < 0) start = clock
        end = clock + length
      }
      clock += length
    }
    if (end > start) writes.push([client, start, end])
  }
  return { writes, deletes: readDeletes(decoder) }
}

/** An item's origins, parent and content; returns its length. */
function readItem(decoder: decoding.Decoder, info: number): number {
  if (info & HAS_ORIGIN) readId(decoder)
  if (info & HAS_RIGHT_ORIGIN) readId(decoder)
  if ((info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN)) === 0) {
    // the parent: a root type's name, or the id of the item holding the type
    if (decoding.readVarUint(decoder) === 1) decoding.readVarString(decoder)
    else readId(decoder)
    if (info & HAS_PARENT_SUB) decoding.readVarString(decoder)
  }
  return readContent(decoder, info & BITS5)
}

function readId(decoder: decoding.Decoder): void {
  decoding.readVarUint(decoder)
  decoding.readVarUint(decoder)
}

/** Content by its type number (yjs `contentRefs`); returns the number of ids it takes. */
function readContent(decoder: decoding.Decoder, kind: number): number {
  switch (kind) {
    case 1: // deleted
      return decoding.readVarUint(decoder)
    case 2: {
      // JSON: each value as a string Yjs parses
      const count = decoding.readVarUint(decoder)
      for (let i = 0; i < count; i++) {
        const text = decoding.readVarString(decoder)
        if (text !== 'undefined') JSON.parse(text)
      }
      return count
    }
    case 3: // binary
      decoding.readVarUint8Array(decoder)
      return 1
    case 4: // string: as many ids as UTF-16 code units
      return decoding.readVarString(decoder).length
    case 5: // embed
      JSON.parse(decoding.readVarString(decoder))
      return 1
    case 6: // format: key and JSON value
      decoding.readVarString(decoder)
      JSON.parse(decoding.readVarString(decoder))
      return 1
    case 7:
      readTypeRef(decoder)
      return 1
    case 8: {
      // any: lib0-encoded values
      const count = decoding.readVarUint(decoder)
      for (let i = 0; i < count; i++) decoding.readAny(decoder)
      return count
    }
    case 9: // a subdocument: guid and options
      decoding.readVarString(decoder)
      decoding.readAny(decoder)
      return 1
    default:
      throw new Error(`unknown content type ${kind}`)
  }
}

/** A shared type's kind (yjs `typeRefs`): XmlElement and XmlHook carry a name. */
function readTypeRef(decoder: decoding.Decoder): void {
  const ref = decoding.readVarUint(decoder)
  if (ref === 3 || ref === 5) decoding.readVarString(decoder)
  else if (ref > 6) throw new Error(`unknown shared type ${ref}`)
}

function readDeletes(decoder: decoding.Decoder): Array<[number, number, number]> {
  const deletes: Array<[number, number, number]> = []
  const clients = decoding.readVarUint(decoder)
  for (let c = 0; c < clients; c++) {
    const client = decoding.readVarUint(decoder)
    const ranges = decoding.readVarUint(decoder)
    for (let r = 0; r < ranges; r++) deletes.push([client, decoding.readVarUint(decoder), decoding.readVarUint(decoder)])
  }
  return deletes
}
