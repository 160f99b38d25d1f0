// Opening the database: LevelDB on disk, checked whole before it serves anything, or the same
// interface in memory (--data :memory:).
import { mkdir, readdir } from 'node:fs/promises'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import type { Db } from './doc-log.js'
import { openError, readError } from './errors.js'

/** The database in `dir`, or one in memory when `dir` is null; throws a message saying what to do. */
export function openDb(dir: string | null): Promise<Db> {
  return dir === null ? openInMemory() : openOnDisk(dir)
}

async function openOnDisk(dir: string): Promise<Db> {
  await refuseHeadless(dir)
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    await mkdir(dir, { recursive: true })
    await db.open()
  } catch (error) {
    throw openError(dir, error)
  }
  await checkReadable(db, dir)
  return db
}

/** The same abstract-level interface and encodings as on disk, so everything above the database
 * (group commit, persist before broadcast, audit chain, compaction) runs unchanged. */
async function openInMemory(): Promise<Db> {
  const db: Db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view', storeEncoding: 'view' })
  await db.open()
  return db
}

/**
 * LevelDB opens table files lazily, so a damaged one would only show when some document is first
 * read, long after start. Reading everything at start refuses it at once instead (cheap next to
 * loading: LevelDB reads hundreds of MB/s, and this skips the block cache). Both directions:
 * classic-level cannot ask LevelDB to verify block checksums, so a garbled block that still
 * decompresses yields junk instead of an error, and a junk index can end a forward scan before the
 * damaged block that a backward one reaches (the fault suite's garbled table did, now and then).
 */
async function checkReadable(db: Level<string, Uint8Array>, dir: string): Promise<void> {
  try {
    for (const reverse of [false, true]) {
      for await (const _entry of db.iterator({ fillCache: false, reverse })) {
        // reading is the check
      }
    }
  } catch (error) {
    await db.close().catch(() => undefined)
    throw readError(dir, 'every record at start', error)
  }
}

/**
 * LevelDB silently creates an empty database where CURRENT is missing, which would serve every
 * document as empty. Table or log files without CURRENT mean a damaged database: refuse it.
 */
async function refuseHeadless(dir: string): Promise<void> {
  let files: string[]
  try {
    files = await readdir(dir)
  } catch {
    return
  }
  if (files.includes('CURRENT') || !files.some((file) => /^(MANIFEST-\d+|\d+\.(ldb|log|sst))$/.test(file))) return
  throw openError(dir, Object.assign(new Error('CURRENT file missing: the database was damaged'), { code: 'LEVEL_CORRUPTION' }))
}
