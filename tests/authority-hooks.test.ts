// A deployment's own validator (docs/hooks.md), run by a server started programmatically
// (tests/fixtures/custom-server.ts): only listed actors may change `config` in `<ws>/settings`.
// An allowed change sticks; anyone else's is undone in the same transaction (a watcher never
// sees it), the writer's document converges back, and the connection is told.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { connectPeer, newSession, type Peer, waitFor } from './helpers/clients.js'
import { fetchAudit } from './helpers/coordination-api.js'
import { waitSeen } from './helpers/coordination-compare.js'
import { claim, waitOutcome } from './helpers/coordination-maps.js'
import { joinCoord, who } from './helpers/coordination-peers.js'
import { distScript, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
withServer(test, (started) => void (server = started), { script: distScript('tests/fixtures/custom-server.js'), env: { CONFIG_EDITORS: 'alice,carol' } })

const WS = 'hooked'
const failures: string[] = []
const ROOM = `${WS}/settings`

/** A viewer that records every value each `config` key ever had in a state it observed. */
async function configWatcher(): Promise<{ peer: Peer; seen: Map<string, unknown[]> }> {
  const doc = new Y.Doc()
  const seen = new Map<string, unknown[]>()
  const config = doc.getMap('config')
  const record = () => {
    for (const [key, value] of config.entries()) {
      const values = seen.get(key) ?? []
      if (values[values.length - 1] !== value) values.push(value)
      seen.set(key, values)
    }
  }
  config.observeDeep(record)
  doc.on('afterTransaction', record)
  const peer = await connectPeer(server, ROOM, { token: (await who('hook-watcher', 'viewer')).token, doc })
  return { peer, seen }
}

test('an allowed editor changes config; another editor is undone in the same transaction and told', async () => {
  const { peer: watcher, seen } = await configWatcher()
  const alice = await connectPeer(server, ROOM, { token: (await who('alice', 'editor')).token })
  const bobWho = await who('bob', 'editor')
  const bob = await connectPeer(server, ROOM, { token: bobWho.token })
  alice.doc.getMap('config').set('theme', 'dark')
  alice.doc.getMap('config').set('retries', 3)
  await waitFor(
    () => watcher.doc.getMap('config').get('retries') === 3 && bob.doc.getMap('config').get('theme') === 'dark',
    5000,
    "alice's change did not reach the others",
  )

  // bob: a forged change and a new key in config, plus an unrelated legitimate change, in one transaction
  bob.doc.transact(() => {
    bob.doc.getMap('config').set('theme', 'light')
    bob.doc.getMap('config').set('debug', true)
    bob.doc.getMap('notes').set('bob', 'hello')
  })
  await waitSeen(watcher, bob)
  await waitFor(
    () => bob.doc.getMap('config').get('theme') === 'dark' && !bob.doc.getMap('config').has('debug'),
    5000,
    () => `bob's document did not converge back: ${JSON.stringify(bob.doc.getMap('config').toJSON())}`,
  )
  assert.is(watcher.doc.getMap('notes').get('bob'), 'hello', 'the unrelated change sticks')
  assert.equal(watcher.doc.getMap('config').toJSON(), { theme: 'dark', retries: 3 })
  // bob deletes a key: restored.
  bob.doc.getMap('config').delete('retries')
  await waitFor(() => bob.doc.getMap('config').get('retries') === 3, 5000, "bob's delete was not undone")
  // The watcher never saw any of bob's config values, not even for a moment.
  assert.equal(seen.get('theme'), ['dark'])
  assert.equal(seen.get('retries'), [3])
  assert.is(seen.get('debug'), undefined)
  // The other allowed editor still can.
  const carol = await connectPeer(server, ROOM, { token: (await who('carol', 'editor')).token })
  carol.doc.getMap('config').set('theme', 'solarized')
  await waitFor(() => watcher.doc.getMap('config').get('theme') === 'solarized', 5000, "carol's change did not stick")
  assert.equal(bob.closes, [], 'a few refusals do not close the connection')
})

test('the refusal is audited, and repeated forgeries close the connection with 4403', async () => {
  const { peer: watcher, seen } = await configWatcher()
  const mallory = await who('mallory', 'editor')
  const session = newSession()
  const forger = await connectPeer(server, ROOM, { token: mallory.token, session })
  forger.doc.getMap('config').set('owner', 'mallory')
  await waitSeen(watcher, forger)
  await waitFor(() => !forger.doc.getMap('config').has('owner'), 5000, 'the forged key was not removed')
  // docs/design.md §7: every refusal is audited (hooks.ts: refuse() is "for the audit log").
  await waitFor(
    async () =>
      (await fetchAudit(server, WS, mallory.token)).some(
        (entry) => entry.type === 'refused' && entry.session === session && entry.data?.code === undefined && /config\.owner/.test(JSON.stringify(entry.data)),
      ),
    5000,
    'no refused audit entry for a write undone by a deployment hook',
  ).catch((error: Error) => {
    failures.push(error.message)
  })
  for (let i = 0; i < 25 && !forger.terminal; i++) {
    forger.doc.getMap('config').set('owner', `mallory-${i}`)
    await waitSeen(watcher, forger).catch(() => undefined)
    await waitFor(() => forger.terminal || !forger.doc.getMap('config').has('owner'), 5000, `forgery ${i} was not undone`)
  }
  assert.ok(forger.terminal, 'the connection was never closed')
  assert.is(forger.terminal!.code, 4403)
  assert.match(forger.terminal!.reason, /refused writes/)
  assert.is(seen.get('owner'), undefined, 'the watcher saw a forged value')
  await waitFor(
    async () =>
      (await fetchAudit(server, WS, mallory.token)).some((entry) => entry.type === 'refused' && entry.session === session && entry.data?.code === 4403),
    5000,
    'the 4403 close is not audited',
  )
  // The coordination document of the same workspace still has the built-in authority.
  const agent = await joinCoord(server, WS, await who('hook-agent', 'editor', 'agent'))
  await waitOutcome(agent, claim(agent, 'c', { resources: ['settings'], mode: 'exclusive' }), ['granted'])
  assert.equal(failures, [], failures.join('\n'))
})

test('a refuseClientUpdate hook that throws refuses the write: nobody sees it (fail closed)', async () => {
  const token = (await who('dan', 'editor')).token
  const watcher = await connectPeer(server, `${WS}/broken`, { token: (await who('hook-watcher', 'viewer')).token })
  const writer = await connectPeer(server, `${WS}/broken`, { token })
  writer.doc.getText('body').insert(0, 'through a broken check')
  await waitFor(() => writer.terminal, 5000, 'the write was never refused')
  assert.is(writer.terminal!.code, 4403)
  assert.match(writer.terminal!.reason, /^the write check failed \(the check is broken\); nothing was applied/)
  // The server's state, as a client joining now syncs it, never had the write.
  const late = await connectPeer(server, `${WS}/broken`, { token: (await who('hook-watcher', 'viewer')).token })
  assert.is(late.doc.getText('body').toString(), '')
  assert.is(watcher.doc.getText('body').toString(), '')
  for (const peer of [watcher, writer, late]) peer.destroy()
})

test.run()
