// Key layout of a document's history, beside the document in the same LevelDB (values raw bytes):
//
//   hist!<room>!a!<seq>    one attribution record: who wrote which Yjs ids, when (attribution.ts)
//   hist!<room>!c!<client> the actor a Yjs clientID is bound to in this document (utf8)
//   hist!<room>!w!<actor>  that actor's display name and kind, as JSON
//   hist!<room>!v!<id>     a version's metadata, as JSON (versions.ts)
//   hist!<room>!s!<id>     a version's full state, one Yjs update
//
// <seq> and <id> are 16 lower-case hex digits so lexicographic order is numeric order. <room> is a
// room name, which never holds '!', so `hist!<room>!` never prefixes another document's keys.

const DIGITS = 16

export type Section = 'a' | 'c' | 'w' | 'v' | 's'

export function prefixOf(room: string, section: Section): string {
  return `hist!${room}!${section}!`
}

export function numberKey(room: string, section: 'a' | 'v' | 's', n: number): string {
  return `${prefixOf(room, section)}${n.toString(16).padStart(DIGITS, '0')}`
}

export function numberOfKey(key: string): number {
  return parseInt(key.slice(-DIGITS), 16)
}

export function nameKey(room: string, section: 'c' | 'w', name: string): string {
  return `${prefixOf(room, section)}${name}`
}

export function nameOfKey(key: string, room: string, section: 'c' | 'w'): string {
  return key.slice(prefixOf(room, section).length)
}

/** A range covering every key of one section, for Store.readRange. */
export function sectionRange(room: string, section: Section): { gt: string; lt: string } {
  const prefix = prefixOf(room, section)
  return { gt: prefix, lt: `${prefix}~` }
}

/** Every history key, of every document (a pass over all documents skips from room to room). */
export const ALL_HISTORY = { gt: 'hist!', lt: 'hist!~' }

export function roomOfKey(key: string): string {
  return key.slice('hist!'.length, key.indexOf('!', 'hist!'.length))
}

/** The first key above every key of `room` ('~' sorts above each section letter, '!' below any room character). */
export function afterRoom(room: string): string {
  return `hist!${room}!~`
}
