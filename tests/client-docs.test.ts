// Documents as text through the client library (docs/design.md §12): read, list, whole-text writes as
// the fewest Yjs edits (a person's concurrent typing survives), live handles, bad input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle, HuddleError } from '../client-lib/node.js'
import { connectPeer, mintToken, rejectionOf, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'texts'
let server: TestServer
let agent: Huddle

withServer(test, (started) => (server = started))

test.before(async () => {
  agent = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('claude', 'editor', WS, { kind: 'agent' }) })
})

test.after(async () => {
  await agent.close()
})

test('write, read and list: the text lands in the Y.Text `body` a stock client sees', async () => {
  const edits = await agent.docs.write('notes/plan.md', 'first line\nsecond line\n')
  assert.equal(edits, [{ index: 0, deleteCount: 0, insert: 'first line\nsecond line\n' }])
  const human = await connectPeer(server, `${WS}/notes/plan.md`, { token: await mintToken('ann', 'editor', WS) })
  await waitFor(() => human.doc.getText('body').toString() === 'first line\nsecond line\n', 5000, 'the human never saw the text')
  assert.is(await agent.docs.read('notes/plan.md'), 'first line\nsecond line\n')
  await waitFor(async () => (await agent.docs.list()).some((doc) => doc.path === 'notes/plan.md'), 5000, 'the document is never listed')
  await agent.docs.write('notes/other.md', 'in another type', { type: 'draft' })
  assert.is(await agent.docs.read('notes/other.md', { type: 'draft' }), 'in another type')
  assert.is(await agent.docs.read('notes/other.md'), '', 'body is a different type')
  human.destroy()
})

test("a whole-text write keeps a human's concurrent edit elsewhere in the text", async () => {
  await agent.docs.write('story.md', 'Once upon a time.\nThe end.\n')
  const human = await connectPeer(server, `${WS}/story.md`, { token: await mintToken('ann', 'editor', WS) })
  const body = human.doc.getText('body')
  await waitFor(() => body.length > 0, 5000, 'the human never got the story')
  // The human types offline while the agent rewrites the first line from the text it read.
  human.provider.disconnect()
  body.insert(body.toString().indexOf('The end.'), 'They lived happily.\n')
  const edits = await agent.docs.write('story.md', 'Once upon a midnight dreary.\nThe end.\n')
  assert.ok(
    edits.every((edit) => edit.deleteCount + edit.insert.length < 20),
    `minimal edits, not a rewrite: ${JSON.stringify(edits)}`,
  )
  human.provider.connect()
  const expected = 'Once upon a midnight dreary.\nThey lived happily.\nThe end.\n'
  await waitFor(
    () => body.toString() === expected,
    5000,
    () => `the human has ${JSON.stringify(body.toString())}`,
  )
  assert.is(await agent.docs.read('story.md'), expected)
  human.destroy()
})

test("a live handle: text, insert, delete, replace and onChange for others' edits", async () => {
  const handle = await agent.docs.open('live.md')
  const seen: Array<{ text: string; local: boolean }> = []
  handle.onChange((change) => seen.push(change))
  handle.insert(0, 'hello world')
  handle.delete(5, 6)
  handle.replace('hello there')
  await handle.saved()
  const human = await connectPeer(server, `${WS}/live.md`, { token: await mintToken('ann', 'editor', WS) })
  await waitFor(() => human.doc.getText('body').toString() === 'hello there', 5000, "the human never saw the handle's edits")
  human.doc.getText('body').insert(0, '>> ')
  await waitFor(
    () => handle.text === '>> hello there',
    5000,
    () => `the handle has ${JSON.stringify(handle.text)}`,
  )
  assert.equal(
    seen.map((change) => change.local),
    [true, true, true, false],
  )
  assert.throws(
    () => handle.delete(10, 100),
    (error: Error) => error instanceof HuddleError && /do not fit the text of live.md, which is 14 characters long/.test(error.message),
  )
  handle.close()
  assert.throws(() => handle.insert(0, 'x'), /closed; open the document again/)
  human.destroy()
})

test('bad input says what to do: bad paths, unknown documents, a viewer writing', async () => {
  const badPath = await rejectionOf(HuddleError, agent.docs.read('../etc/passwd'))
  assert.is(badPath.code, 'invalid-argument')
  assert.match(badPath.message, /bad document path segment ".."/)
  const missing = await rejectionOf(HuddleError, agent.docs.read('never/written.md'))
  assert.is(missing.code, 'not-found')
  assert.match(missing.message, /no document at never\/written.md in texts: list the documents/)
  const viewer = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('vic', 'viewer', WS) })
  const refused = await rejectionOf(HuddleError, viewer.docs.write('story.md', 'vandalised'))
  assert.is(refused.code, 'forbidden')
  assert.match(refused.message, /writing story.md needs role editor; the token for vic has role viewer/)
  assert.ok((await viewer.docs.read('story.md')).startsWith('Once upon a midnight'))
  // Through a handle the server refuses the viewer's edit: reported as a conflict, kept locally, never retried.
  const handle = await viewer.docs.open('story.md')
  handle.replace('vandalised')
  const kept = await rejectionOf(HuddleError, handle.saved())
  assert.is(kept.code, 'refused')
  assert.match(kept.message, /read-only: your role is viewer.*\(your edits are kept locally only\)/)
  assert.equal([handle.conflict?.willRetry, handle.text], [false, 'vandalised'])
  assert.ok((await agent.docs.read('story.md')).startsWith('Once upon a midnight'))
  // Closing the client closes its open handles.
  await viewer.close()
  assert.throws(() => handle.insert(0, 'x'), /the handle on story.md is closed/)
})

test.run()
