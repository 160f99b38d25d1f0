// A release that crosses a refused write of the same claim key still releases. The server undoes
// another session's write of our claim key by writing the old value again, as a new item; our
// delete, made before that item reached us, does not reach it, so the server would keep the lock
// held until our session ended (here: a 30 s grace period, far beyond the test's wait). The client
// library deletes a released claim again when the server puts it back.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle } from '../client-lib/node.js'
import { cleanupClients, mintToken, waitFor, withTimeout } from './helpers/clients.js'
import { fetchAudit, refusedWrites } from './helpers/coordination-api.js'
import { claimsOf } from './helpers/coordination-maps.js'
import { joinCoord, who } from './helpers/coordination-peers.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'crossed'
let server: TestServer
const clients: Huddle[] = []

// uvu runs after-hooks in the order they were added: the clients close before the server goes.
test.after(async () => {
  for (const client of clients.splice(0)) await client.close()
  cleanupClients()
})
withServer(test, (started) => (server = started), { args: ['--lease-grace', '30s'] })

async function client(actor: string): Promise<Huddle> {
  const huddle = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken(actor, 'editor', WS, { kind: 'agent' }), maxBackoffMs: 100 })
  clients.push(huddle)
  return huddle
}

test("a release made while a forger's refused write of the claim was on its way still releases the lock", async () => {
  const owner = await client('own-bot')
  const lock = await owner.locks.acquire('db')
  const waiter = await client('wait-bot')
  const next = waiter.locks.acquire('db')
  const forger = await joinCoord(server, WS, await who('forger', 'editor', 'human', WS))
  await waitFor(() => claimsOf(forger.doc).has(lock.key), 10_000, 'the forger never saw the claim')
  // The owner is offline while the forger rewrites its claim (refused; the server puts the old
  // value back as a new item), and releases without having received either.
  owner.provider.disconnect()
  claimsOf(forger.doc).set(lock.key, { resources: ['db'], mode: 'shared' })
  await waitFor(
    async () => refusedWrites(await fetchAudit(server, WS, forger.who.token), forger.session).length > 0,
    10_000,
    "the forger's write was never refused",
  )
  await lock.release()
  owner.provider.connect()
  const granted = await withTimeout(next, 15_000, 'the waiter never got the lock: the release was lost (the server still lists the owner)')
  const release = (await fetchAudit(server, WS, forger.who.token)).find((entry) => entry.type === 'release' && entry.data?.key === lock.key)
  assert.ok(release, 'the release is audited')
  assert.is(release!.session, owner.session, 'released by its own session')
  await granted.release()
})

test.run()
