// Comparing replicas of a coordination document: canonical JSON of the whole document, waiting
// until two replicas converge or one has seen another's writes, and what a replica holds.
import * as Y from 'yjs'
import { COORDINATION_TYPES } from '../../shared/coordination.js'
import { type Peer, waitFor } from './clients.js'

/** The coordination document as JSON, plus any other top-level type that holds live content. */
export function coordJson(doc: Y.Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of COORDINATION_TYPES) out[name] = sortKeys(name === 'activity' ? doc.getArray(name).toJSON() : doc.getMap(name).toJSON())
  for (const [name, type] of doc.share) {
    if (!(COORDINATION_TYPES as readonly string[]).includes(name)) {
      if (hasLiveContent(type)) out[`unknown:${name}`] = true
    } else if (name !== 'activity') {
      // list content inside a map type is invisible to toJSON()
      let items = 0
      for (let item = type._start; item !== null; item = item.right) if (!item.deleted) items++
      if (items > 0) out[`list:${name}`] = items
    }
  }
  return out
}

/** A JSON value with every object's keys sorted (Yjs map order differs between replicas). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  )
}

/** Canonical JSON text: equal values give equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

/** Waits until `peer`'s document equals the watcher's (the server's corrections reached both). */
export async function waitConverged(peer: Peer, reference: Peer, timeoutMs = 5000): Promise<void> {
  await waitFor(
    () => JSON.stringify(coordJson(peer.doc)) === JSON.stringify(coordJson(reference.doc)),
    timeoutMs,
    () => `documents differ:\n peer:    ${JSON.stringify(coordJson(peer.doc))}\n watcher: ${JSON.stringify(coordJson(reference.doc))}`,
  )
}

/** Waits until `observer` has integrated everything `writer` has written so far. */
export async function waitSeen(observer: Peer, writer: Peer, timeoutMs = 5000): Promise<void> {
  const target = Y.getState(writer.doc.store, writer.doc.clientID)
  await waitFor(
    () => Y.getState(observer.doc.store, writer.doc.clientID) >= target,
    timeoutMs,
    () => `the observer never received client ${writer.doc.clientID}'s clock ${target}`,
  )
}

/**
 * Waits until `observer` has integrated every item `reference` has (its state vector covers the
 * reference's). Stronger than converged JSON: a write the server undid leaves the JSON as it was
 * but adds the server's restoring item, and a write made without that item is concurrent with it
 * and may be hidden by Yjs.
 */
export async function waitCaughtUp(observer: Peer, reference: Peer, timeoutMs = 5000): Promise<void> {
  const missing = () => {
    const have = Y.decodeStateVector(Y.encodeStateVector(observer.doc))
    return [...Y.decodeStateVector(Y.encodeStateVector(reference.doc))].filter(([client, clock]) => (have.get(client) ?? 0) < clock)
  }
  await waitFor(
    () => missing().length === 0,
    timeoutMs,
    () => `the observer lacks items of the reference (client, clock): ${JSON.stringify(missing())}`,
  )
}

/** Distinct client ids in a document's state vector. */
export function clientIds(doc: Y.Doc): Set<number> {
  return new Set(Y.decodeStateVector(Y.encodeStateVector(doc)).keys())
}

// biome-ignore lint/suspicious/noExplicitAny: any shared type, whatever its event type
export function hasLiveContent(type: Y.AbstractType<any>): boolean {
  for (const item of type._map.values()) if (!item.deleted) return true
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) return true
  return false
}

/**
 * Resolves once `condition()` holds, checking now and after every transaction of `doc` (faster
 * than polling when thousands of round trips are needed); fails after `timeoutMs`.
 */
export function until(doc: Y.Doc, condition: () => boolean, timeoutMs: number, message: () => string): Promise<void> {
  if (condition()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      doc.off('afterTransaction', onTransaction)
      reject(new Error(`timed out after ${timeoutMs} ms: ${message()}`))
    }, timeoutMs)
    const onTransaction = () => {
      if (!condition()) return
      clearTimeout(timer)
      doc.off('afterTransaction', onTransaction)
      resolve()
    }
    doc.on('afterTransaction', onTransaction)
  })
}
