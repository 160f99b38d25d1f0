// A revert is validated like any write: while a lock on `doc:<path>` is held, a revert from any
// other session is refused (409 over REST, `refused` in the library, exit 1 in the CLI) and
// audited, and the document is untouched; the holder's own session reverts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle, HuddleError } from '../client-lib/node.js'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { runCli, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'histguard'
let server: TestServer
let alice: Huddle
let ann: Huddle

withServer(test, (started) => (server = started), { args: ['--history-quiet', '1h', '--history-max', '2h'] })

test.after(async () => {
  await Promise.all([alice?.close(), ann?.close()])
})

async function postRevert(token: string, body: Record<string, unknown>): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/spec.md/revert`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, ...((await response.json()) as { error?: string }) }
}

test("a revert of a guarded document is refused unless it comes from the lock holder's session", async () => {
  alice = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('alice', 'editor', WS, { kind: 'agent' }) })
  const annToken = await mintToken('ann', 'editor', WS)
  ann = await connect({ url: server.httpUrl, workspace: WS, token: annToken })
  await alice.docs.write('spec.md', 'v1\n')
  const v1 = await alice.docs.label('spec.md', 'first')
  await alice.docs.write('spec.md', 'v2 by alice\n')
  const watcher = await connectPeer(server, `${WS}/spec.md`, { token: annToken })
  await waitFor(() => watcher.doc.getText('body').toString() === 'v2 by alice\n', 5000, 'the watcher never synced')
  const lock = await alice.locks.acquire('doc:spec.md')

  const rest = await postRevert(annToken, { version: v1 })
  assert.is(rest.status, 409)
  assert.match(rest.error!, /doc:spec.md is locked by alice/)
  // Alice's session id does not make another actor her.
  const borrowed = await postRevert(annToken, { version: v1, session: alice.session })
  assert.is(borrowed.status, 409)
  assert.match(borrowed.error!, /doc:spec.md is locked by alice/)
  const library = await ann.docs.revert('spec.md', v1).catch((error: unknown) => error)
  assert.instance(library, HuddleError)
  assert.is((library as HuddleError).code, 'refused')
  const env = { HUDDLE_URL: server.httpUrl, HUDDLE_WORKSPACE: WS, HUDDLE_TOKEN: annToken }
  const cli = await runCli(['revert', 'spec.md', String(v1)], { env })
  assert.is(cli.code, 1)
  assert.match(cli.stderr, /doc:spec.md is locked by alice/)
  assert.is(await ann.docs.read('spec.md'), 'v2 by alice\n')
  const audit = await alice.api.audit({ limit: 1000 })
  const refusals = audit.filter((entry) => entry.type === 'refused' && /doc:spec.md is locked by alice/.test(String(entry.data?.reason)))
  assert.is(refusals.length, 4, 'each refused revert is audited')
  assert.ok(!audit.some((entry) => entry.type === 'revert'), 'nothing was reverted')

  // The holder reverts through the library, which sends its own session.
  await alice.docs.revert('spec.md', v1)
  await waitFor(() => watcher.doc.getText('body').toString() === 'v1\n', 5000, "the watcher never saw the holder's revert")
  await alice.docs.write('spec.md', 'v3 by alice\n')
  await lock.release()
  // Free again: anyone's revert passes.
  const free = await postRevert(annToken, { version: v1 })
  assert.is(free.status, 200, free.error)
  await waitFor(() => watcher.doc.getText('body').toString() === 'v1\n', 5000, "the watcher never saw ann's revert")
  watcher.destroy()
})

test('a revert naming a malformed session is refused with the rule', async () => {
  const reply = await postRevert(await mintToken('ann', 'editor', WS), { version: 1, session: 'no spaces allowed' })
  assert.is(reply.status, 400)
  assert.match(reply.error!, /bad session id/)
})

test.run()
