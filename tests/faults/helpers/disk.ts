// Disk faults for real: a small tmpfs mounted for the data directory (needs root and a sandbox
// that allows mount), filled up to ENOSPC by a filler file, and emptied again.
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const mounted = new Set<string>()

process.on('exit', () => {
  for (const dir of mounted) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // best effort at exit
    }
  }
})

/**
 * Mounts a tmpfs of `size` (e.g. '8m') on a new temporary directory. Throws, saying what the
 * server would need instead, when this sandbox cannot mount.
 */
export function mountTmpfs(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'huddle-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `cannot mount a tmpfs here (${(error as Error).message.trim()}): the disk-full test needs root and mount(2), or a fault-injection point in the server (e.g. HUDDLE_FAULT_WRITE_FAIL=<file> making Store.writeBatch fail while the file exists)`,
    )
  }
  mounted.add(dir)
  return dir
}

export function unmount(dir: string): void {
  if (!mounted.delete(dir)) return
  execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
  rmSync(dir, { recursive: true, force: true })
}

/** Fills the file system holding `dir` with `dir/filler` until ENOSPC; returns the bytes written. */
export function fillDisk(dir: string): number {
  const path = join(dir, 'filler')
  const fd = openSync(path, 'a')
  let written = 0
  try {
    for (const size of [1 << 20, 1 << 16, 1 << 12, 1 << 8, 1]) {
      const chunk = Buffer.alloc(size, 0x5a)
      for (let i = 0; i < 100_000; i++) {
        try {
          written += writeSync(fd, chunk)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break
          throw error
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return written
}

export function clearDisk(dir: string): void {
  unlinkSync(join(dir, 'filler'))
}
