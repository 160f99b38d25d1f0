// What a document holds, read without knowing how its clients bound it: the server's copy of a
// content document has untyped top-level types, so each one's kind is read from its items.
import * as Y from 'yjs'

export type Kind = 'text' | 'map' | 'array' | 'xml'

export type Shared =
  | { kind: 'text'; type: Y.Text }
  | { kind: 'map'; type: Y.Map<unknown> }
  | { kind: 'array'; type: Y.Array<unknown> }
  | { kind: 'xml'; type: Y.XmlFragment }

/** A doc holding `state` (a full-state update); the caller destroys it. */
export function docOf(state: Uint8Array): Y.Doc {
  const doc = new Y.Doc({ gc: true })
  Y.applyUpdate(doc, state)
  return doc
}

/** The kind of a top-level type from its content, or null when nothing shows it (all deleted). */
export function kindOf(type: Y.AbstractType<any>): Kind | null {
  if (type instanceof Y.Text) return 'text'
  if (type instanceof Y.XmlFragment) return 'xml'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.Map) return 'map'
  for (let item = type._start; item !== null; item = item.right) {
    const content = item.content
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return 'text'
    if (content instanceof Y.ContentType) {
      return content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText || content.type instanceof Y.XmlHook ? 'xml' : 'array'
    }
    if (content instanceof Y.ContentAny || content instanceof Y.ContentJSON || content instanceof Y.ContentBinary || content instanceof Y.ContentDoc)
      return 'array'
  }
  return type._map.size > 0 ? 'map' : null
}

/** The top-level type `name` of `doc` as `kind` (typing it in place, as Yjs allows once). */
export function typed(doc: Y.Doc, name: string, kind: Kind): Shared {
  switch (kind) {
    case 'text':
      return { kind, type: doc.getText(name) }
    case 'map':
      return { kind, type: doc.getMap(name) }
    case 'array':
      return { kind, type: doc.getArray(name) }
    case 'xml':
      return { kind, type: doc.getXmlFragment(name) }
  }
}

/** Every top-level type with a kind, by name. */
export function sharedTypes(doc: Y.Doc): Map<string, Shared> {
  const out = new Map<string, Shared>()
  for (const [name, type] of doc.share) {
    const kind = kindOf(type)
    if (kind) out.set(name, typed(doc, name, kind))
  }
  return out
}

/** The document as plain JSON: texts as strings, XML as its markup. */
export function jsonOf(doc: Y.Doc): Record<string, unknown> {
  const json: Record<string, unknown> = Object.create(null)
  for (const [name, shared] of sharedTypes(doc)) json[name] = shared.kind === 'xml' || shared.kind === 'text' ? shared.type.toString() : shared.type.toJSON()
  return json
}

/** The text a version shows first: `body` (what the dashboard and agents edit) or the only text. */
export function mainText(doc: Y.Doc, preferred = 'body'): string | undefined {
  const texts = [...sharedTypes(doc)].filter(([, shared]) => shared.kind === 'text')
  const chosen = texts.find(([name]) => name === preferred) ?? (texts.length === 1 ? texts[0] : undefined)
  return chosen?.[1].type.toString()
}

/**
 * The ids behind each position of a list type, as runs: for a text, positions in its string
 * (only string content counts, as in toString); for an array, element indexes.
 */
export interface IdRun {
  start: number
  length: number
  client: number
  clock: number
}

export function idRuns(type: Y.AbstractType<any>, text: boolean): IdRun[] {
  const runs: IdRun[] = []
  let position = 0
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    if (text && !(item.content instanceof Y.ContentString)) continue
    runs.push({ start: position, length: item.length, client: item.id.client, clock: item.id.clock })
    position += item.length
  }
  return runs
}
