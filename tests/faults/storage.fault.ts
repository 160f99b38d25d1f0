// Storage faults (issue 7): a disk that fills up under a running server, and a database that is
// corrupted or truncated while the server is stopped.
//  - Disk full: a real tmpfs of a few MiB holds the data directory and is filled to ENOSPC while
//    clients write. The affected rooms' connections close with 1011 "storage failure...", nothing
//    a client was sent (the server's acknowledgement) is missing afterwards, and once the filler is
//    removed the server takes writes again, durably: they survive a graceful restart and a kill -9,
//    and the audit chain still verifies.
//  - Corruption: MANIFEST truncated or garbled, an .ldb table truncated or garbled, CURRENT lost.
//    `huddle serve` must refuse to start with a message that names the directory and says what to
//    do; it must never come up serving the documents as empty.
import { cpSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, delay, mintToken, waitFor } from '../helpers/clients.js'
import { api } from '../helpers/coordination-api.js'
import { claim, waitOutcome } from '../helpers/coordination-maps.js'
import { joinCoord, who } from '../helpers/coordination-peers.js'
import { makeTempDir, removeTempDir, TestServer } from '../helpers/server.js'
import { clearDisk, fillDisk, mountTmpfs, unmount } from './helpers/disk.js'
import { assertNone, Recorder } from './helpers/report.js'
import { KeyWriter, readDoc } from './helpers/writers.js'

const servers: TestServer[] = []
const mounts: string[] = []

test.after.each(async () => {
  cleanupClients()
  for (const server of servers.splice(0)) await server.dispose().catch(() => undefined)
  for (const dir of mounts.splice(0)) unmount(dir)
})

const recorder = new Recorder('storage', 'Storage faults: disk full, corrupted database', [
  'Disk full (a real tmpfs filled to ENOSPC under load): every connection of an affected room closes with 1011 and a reason starting "storage failure".',
  'Nothing is acknowledged that was not stored: every key any client was sent before, during or after the fault is present after a graceful restart and after a kill -9.',
  'A lock claimed during the fault is never shown as granted before it is stored; after recovery it is granted with a token above every earlier one.',
  'Recovery: once the filler is removed, new connections write again and those writes survive restarts; the audit hash chain still verifies.',
  'Corruption at start (MANIFEST truncated, MANIFEST garbled, .ldb truncated, .ldb garbled, CURRENT missing): `huddle serve` exits non-zero before listening, with a message naming the data directory and what to do.',
])

test('disk full: 1011 for the affected rooms, nothing unstored acknowledged, recovery once space is back', async () => {
  await recorder.run(async (r) => {
    r.headlines(
      'connections closed with 1011',
      'acknowledged writes checked',
      'acknowledged writes lost (after a graceful restart)',
      'acknowledged writes lost (after a kill -9)',
      'audit chain verifies',
      'corruptions refused at start',
      'corruptions tried',
    )
    r.load =
      '2 raw writers + 1 lock client on a 6 MiB tmpfs data dir: 40 writes before, 2 KB writes every 10 ms while full, 3 reconnects during the fault, 60 writes after'
    r.faults = 'disk filled to ENOSPC and cleared, then a graceful restart and a kill -9'
    const mount = mountTmpfs('6m')
    mounts.push(mount)
    const dataDir = join(mount, 'data')
    const server = await TestServer.start({ dataDir, args: ['--rate', '100000', '--burst', '100000', '--lease-grace', '30s'] })
    servers.push(server)
    const token = await mintToken('disk-writer', 'editor', 'disk')
    const room = 'disk/doc'
    /** every key some client was sent by the server: the acknowledged ones */
    const acked = new Set<string>()
    const harvest = (writer: KeyWriter) => writer.acked().forEach((key) => acked.add(key))

    // Before the fault: writes are acknowledged.
    const writer = await KeyWriter.open(server, room, token)
    const observer = await KeyWriter.open(server, room, token)
    const coord = await joinCoord(server, 'disk', await who('disk-locker', 'editor'))
    for (let i = 0; i < 40; i++) writer.write(`before-${i}`, 'x'.repeat(200))
    assert.ok(await writer.waitAck('before-39'), 'writes before the fault were not acknowledged')
    const before = (await waitOutcome(coord, claim(coord, 'before', { resources: ['disk-res'], mode: 'exclusive' }), ['granted'])).token!
    harvest(writer)
    harvest(observer)

    // The fault: the file system is full.
    const filled = fillDisk(mount)
    r.set('disk filled (bytes)', filled)
    let attempted = 0
    for (let i = 0; i < 200 && !writer.closeInfo; i++) {
      writer.write(`fault-${i}`, 'y'.repeat(2000))
      attempted++
      await delay(10)
    }
    const closed = await writer.client.waitClose(10_000, 'the writer to be closed after the disk filled up')
    harvest(writer)
    r.set('writes attempted while full', attempted)
    assert.is(closed.code, 1011, `the writer was closed with ${closed.code} ${closed.reason}`)
    assert.match(closed.reason, /^storage failure/)
    const observerClosed = await observer.client.waitClose(10_000, 'the other client of the room to be closed')
    harvest(observer)
    assert.is(observerClosed.code, 1011, `the observer was closed with ${observerClosed.code} ${observerClosed.reason}`)
    let refused = 2
    // A lock claimed during the fault is not shown as granted (it is not stored).
    const duringKey = claim(coord, 'during', { resources: ['disk-res-2'], mode: 'exclusive' })
    await waitFor(
      () => coord.closes.some((close) => close.code === 1011),
      10_000,
      () => `the coordination client was not closed with 1011 (closes: ${JSON.stringify(coord.closes)})`,
    )
    refused++
    // New connections during the fault: reads work, writes are refused the same way.
    for (let i = 0; i < 3; i++) {
      const again = await KeyWriter.open(server, room, token)
      if (again.closeInfo) {
        refused++
        continue
      }
      again.write(`fault-retry-${i}`, 'z'.repeat(2000))
      const close = await again.client.waitClose(10_000, 'a writer connecting during the fault to be closed')
      harvest(again)
      assert.is(close.code, 1011, `a writer during the fault was closed with ${close.code} ${close.reason}`)
      refused++
      again.destroy()
    }
    r.set('connections closed with 1011', refused)
    assert.ok(server.running, `the server died on a full disk: ${server.stderr.slice(-1500)}`)
    assert.is((await server.fetchJson<{ status: string }>('/healthz')).status, 'ok')
    const faultAcked = [...acked].filter((key) => key.startsWith('fault')).length
    r.set('writes acknowledged while full', faultAcked)

    // The fault clears: new connections write again.
    clearDisk(mount)
    const recovered = await waitFor(
      async () => {
        const probe = await KeyWriter.open(server, room, token)
        probe.write(`probe-${Date.now()}`)
        const ok = await probe.waitAck(probe.sent[0]!, 5000)
        harvest(probe)
        probe.destroy()
        return ok
      },
      20_000,
      () => `the server never accepted writes again after the disk had space; its log: ${server.stderr.slice(-1500)}`,
    )
    assert.ok(recovered)
    const after = await KeyWriter.open(server, room, token)
    for (let i = 0; i < 40; i++) after.write(`after-${i}`, 'w'.repeat(200))
    assert.ok(await after.waitAck('after-39'), 'writes after the recovery were not acknowledged')
    harvest(after)
    // The claim made during the fault comes back with the client's resync; its token is new.
    const during = await waitOutcome(coord, duringKey, ['granted'], 15_000)
    assert.ok(during.token! > before, `token ${during.token} after the fault, ${before} before it`)

    // Everything acknowledged is on disk: after a graceful restart…
    const admin = await mintToken('disk-admin', 'admin', 'disk')
    const problems: string[] = []
    const check = async (when: string) => {
      const doc = await readDoc(server, room, token)
      const stored = new Set(doc.getMap('keys').keys())
      doc.destroy()
      const lost = [...acked].filter((key) => !stored.has(key))
      r.set(`acknowledged writes lost (${when})`, lost.length)
      if (lost.length > 0) problems.push(`${lost.length} of ${acked.size} acknowledged writes are missing ${when}: ${lost.slice(0, 8).join(', ')}`)
      // The grant a client saw during recovery must survive too, or its token could be issued again.
      const state = (await api<{ meta: { fence?: number }; outcomes: Record<string, { token?: number }> }>(server, 'GET', '/api/workspaces/disk/state', admin))
        .body
      if (!((state.meta.fence ?? 0) >= during.token!))
        problems.push(`meta.fence is ${state.meta.fence} ${when}, but token ${during.token} was granted (and seen) before: it can be issued again`)
    }
    cleanupClients()
    await server.stop()
    await server.restart()
    await check('after a graceful restart')
    // …and after a kill -9 following more writes.
    const late = await KeyWriter.open(server, room, token)
    for (let i = 0; i < 20; i++) late.write(`late-${i}`, 'v'.repeat(200))
    assert.ok(await late.waitAck('late-19'))
    harvest(late)
    await server.kill()
    await server.restart()
    await check('after a kill -9')
    r.set('acknowledged writes checked', acked.size)
    const verify = (await api<{ ok: boolean; entries: number; brokenAt?: number; problem?: string }>(server, 'GET', '/api/workspaces/disk/audit/verify', admin))
      .body
    r.set('audit chain verifies', String(verify.ok))
    if (!verify.ok) problems.push(`the audit chain of the workspace is broken after the disk fault: ${JSON.stringify(verify)}`)
    assertNone(problems, 'after the disk fault')
  })
})

/** A stopped server's data directory with content documents, locks and an .ldb table. */
async function seededDataDir(): Promise<string> {
  const dir = makeTempDir('huddle-corrupt-')
  const server = await TestServer.start({ dataDir: dir, args: ['--rate', '100000', '--burst', '100000'] })
  try {
    const token = await mintToken('seed', 'editor', 'seed')
    const writer = await KeyWriter.open(server, 'seed/doc', token)
    // Once admitted: before its token is checked a socket may send at most 32 KiB (SECURITY.md).
    writer.write('k0', 'value 0 '.repeat(30))
    assert.ok(await writer.waitAck('k0', 10_000), `the first write was not acknowledged: ${JSON.stringify(writer.closeInfo)}`)
    for (let i = 1; i < 300; i++) writer.write(`k${i}`, `value ${i} `.repeat(30))
    assert.ok(await writer.waitAck('k299', 10_000))
    const coord = await joinCoord(server, 'seed', await who('seeder', 'editor'))
    await waitOutcome(coord, claim(coord, 'c', { resources: ['r'], mode: 'exclusive' }), ['granted'])
    cleanupClients()
    await server.stop()
    // A second start turns the write-ahead log into an .ldb table.
    await server.restart()
    await server.stop()
  } finally {
    await server.dispose()
  }
  return dir
}

const find = (dir: string, pattern: RegExp): string => {
  const name = readdirSync(dir).find((file) => pattern.test(file))
  if (!name) throw new Error(`no file matching ${pattern} in ${dir}: ${readdirSync(dir).join(', ')}`)
  return join(dir, name)
}

const garble = (path: string, from: number, step: number) => {
  const bytes = readFileSync(path)
  for (let i = from; i < bytes.length; i += step) bytes[i] = bytes[i]! ^ 0xa5
  writeFileSync(path, bytes)
}

const VARIANTS: Array<[string, (dir: string) => void]> = [
  [
    'MANIFEST truncated to half',
    (dir) => {
      const path = find(dir, /^MANIFEST-/)
      truncateSync(path, Math.floor(statSync(path).size / 2))
    },
  ],
  ['MANIFEST garbled', (dir) => garble(find(dir, /^MANIFEST-/), 8, 7)],
  [
    '.ldb table truncated to half',
    (dir) => {
      const path = find(dir, /\.ldb$/)
      truncateSync(path, Math.floor(statSync(path).size / 2))
    },
  ],
  ['.ldb table garbled', (dir) => garble(find(dir, /\.ldb$/), 16, 97)],
  ['CURRENT missing', (dir) => rmSync(join(dir, 'CURRENT'))],
]

test('a corrupted or truncated database is refused at start with a clear message', async () => {
  await recorder.run(async (r) => {
    const seeded = await seededDataDir()
    const files = readdirSync(seeded)
    assert.ok(
      files.some((file) => file.endsWith('.ldb')),
      `the seeded data dir has no .ldb table: ${files.join(', ')}`,
    )
    const problems: string[] = []
    for (const [name, corrupt] of VARIANTS) {
      const dir = makeTempDir('huddle-corrupt-variant-')
      cpSync(seeded, dir, { recursive: true })
      corrupt(dir)
      let server: TestServer | null = null
      try {
        server = await TestServer.start({ dataDir: dir, startTimeoutMs: 10_000 })
      } catch (error) {
        const text = (error as Error).message
        const code = /exited \(code (\S+), signal (\S+)\)/.exec(text)
        const stderr = text.slice(text.indexOf('stderr:') + 7).trim()
        const clear =
          code !== null &&
          code[1] !== '0' &&
          code[1] !== 'null' &&
          stderr.includes(dir) &&
          /corrupt/i.test(stderr) &&
          /restore|backup|move it away/i.test(stderr)
        r.set(`start with ${name}`, clear ? `refused (exit ${code?.[1]})` : `exit ${code?.[1]}, unclear message`)
        if (!clear)
          problems.push(
            `${name}: exited (code ${code?.[1]}) but the message does not say the database in ${dir} is corrupt and what to do: ${JSON.stringify(stderr.slice(0, 400))}`,
          )
        removeTempDir(dir)
        continue
      }
      // It started: what does it serve?
      servers.push(server)
      let served = ''
      try {
        const doc = await readDoc(server, 'seed/doc', await mintToken('seed', 'editor', 'seed'))
        served = `seed/doc served with ${doc.getMap('keys').size} of 300 keys`
        doc.destroy()
      } catch (error) {
        served = `seed/doc could not be read (${(error as Error).message.slice(0, 160)})`
      }
      r.set(`start with ${name}`, `STARTED; ${served}`)
      problems.push(
        `${name}: huddle serve started and listened instead of refusing the corrupt database; ${served}; stderr: ${JSON.stringify(server.stderr.slice(-300))}`,
      )
      await server.dispose()
      servers.splice(servers.indexOf(server), 1)
      removeTempDir(dir)
    }
    removeTempDir(seeded)
    r.set('corruptions refused at start', VARIANTS.length - problems.length)
    r.set('corruptions tried', VARIANTS.length)
    r.faults = `${r.faults}; at start: ${VARIANTS.map(([name]) => name).join(', ')}`
    assertNone(problems, 'corrupt databases')
  })
})

test.run()
