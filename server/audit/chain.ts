// The hash chain of the audit log, as pure functions: each entry's hash covers its content and the
// previous entry's hash, so editing, dropping or reordering any stored entry breaks verification.
import { createHash } from 'node:crypto'

export interface AuditFields {
  type: string
  actor?: string
  session?: string
  data?: unknown
}

export interface AuditEntry extends AuditFields {
  workspace: string
  seq: number
  at: number
  prev: string
  hash: string
}

export const GENESIS = '0'.repeat(64)

export function hashEntry(entry: Omit<AuditEntry, 'hash'>): string {
  const { workspace, seq, at, type, actor, session, data, prev } = entry
  return createHash('sha256')
    .update(JSON.stringify([workspace, seq, at, type, actor ?? null, session ?? null, data ?? null, prev]))
    .digest('hex')
}

export function chainEntry(head: { seq: number; hash: string }, workspace: string, at: number, fields: AuditFields): AuditEntry {
  const entry = { workspace, seq: head.seq + 1, at, prev: head.hash, ...fields }
  return { ...entry, hash: hashEntry(entry) }
}

export interface ChainCheck {
  ok: boolean
  entries: number
  /** the first entry that does not verify, and why */
  brokenAt?: number
  problem?: string
}

/** Walks entries in order; returns the head to continue from and the first problem, if any. */
export function verifyStep(head: { seq: number; hash: string }, entry: AuditEntry): string | null {
  if (entry.seq !== head.seq + 1) return `expected entry ${head.seq + 1}, found ${entry.seq}`
  if (entry.prev !== head.hash) return `entry ${entry.seq} does not link to the previous entry`
  const { hash, ...rest } = entry
  if (hashEntry(rest) !== hash) return `entry ${entry.seq} was altered (hash mismatch)`
  return null
}
