// Errors that say what happened and what to do about it; the original error stays as `cause`.

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** abstract-level reports every open failure as LEVEL_DATABASE_NOT_OPEN; the reason is its cause. */
export function openError(dir: string, error: unknown): Error {
  const reason = (error as { cause?: unknown } | null)?.cause ?? error
  const detail = messageOf(reason)
  switch (codeOf(reason)) {
    case 'LEVEL_LOCKED':
      return new Error(`another huddle server is using ${dir} (${detail}); stop it or pass --data <other dir>`, { cause: error })
    case 'LEVEL_CORRUPTION':
      return new Error(`the database in ${dir} is corrupt (${detail}); restore ${dir} from a backup, or move it away and start with an empty --data dir`, {
        cause: error,
      })
    default:
      return new Error(
        `cannot open the database in ${dir} (${detail}); check that the directory is writable and the disk is not full, or pass --data <other dir>`,
        { cause: error },
      )
  }
}

export function writeError(dir: string, ops: number, error: unknown): Error {
  return new Error(`huddle store: writing a batch of ${ops} operations to ${dir} failed (${messageOf(error)}); these writes are not on disk`, { cause: error })
}

export function readError(dir: string, what: string, error: unknown): Error {
  const detail = messageOf(error)
  // LevelDB opens table files lazily: a damaged one shows up at the first read, not at open.
  if (codeOf(error) === 'LEVEL_CORRUPTION' || /Corruption|IO error/.test(detail)) {
    return new Error(
      `the database in ${dir} is damaged: reading ${what} failed (${detail}); restore ${dir} from a backup, or move it away and start with an empty --data dir`,
      { cause: error },
    )
  }
  return new Error(`huddle store: reading ${what} from ${dir} failed (${detail})`, { cause: error })
}

/** Keys under 'doc!' are the store's own (keys.ts): a caller writing there could corrupt a document. */
export function ownKeyError(key: string): Error {
  return new Error(`huddle store: key ${JSON.stringify(key)} is under 'doc!', which the store keeps for documents; use another prefix`)
}
