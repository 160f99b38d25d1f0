// Document history over REST against a real server (docs/design.md §9): two people and an agent edit
// a text; versions list the right authors, blame puts each line on its writer, diff names who
// changed what, and a revert restores the exact text in every connected client and, after a
// kill -9, in a fresh one. Versions here are taken on request (the quiet timer is an hour), so
// their ids are known; history-auto.test.ts covers the timers.
import { request as httpRequest } from 'node:http'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { connectPeer, mintToken, newSession, type Peer, rawConnect, updateFrame, waitFor } from './helpers/clients.js'
import { fetchAudit } from './helpers/coordination-api.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'hist'
let server: TestServer

withServer(test, (started) => (server = started), { args: ['--history-quiet', '1h', '--history-max', '2h'] })

type Json = Record<string, any>

async function api(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: (await response.json()) as Json }
}

/** A GET with the path exactly as given: node:http, unlike fetch, does not resolve '..' first. */
function rawGet(token: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${server.httpUrl}/`, { path, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode!, body }))
    })
    request.on('error', reject).end()
  })
}

async function ok(token: string, method: string, path: string, body?: unknown): Promise<Json> {
  const answer = await api(token, method, path, body)
  assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body
}

const textOf = (peer: Peer) => peer.doc.getText('body').toString()

async function allSee(peers: Peer[], text: string): Promise<void> {
  for (const peer of peers)
    await waitFor(
      () => textOf(peer) === text,
      5000,
      () => `a client to read ${JSON.stringify(text)}, not ${JSON.stringify(textOf(peer))}`,
    )
}

test('two people and an agent: versions with their authors, blame per line, diff, revert live and after kill -9', async () => {
  const ann = await mintToken('ann', 'editor', WS, { name: 'Ann' })
  const bob = await mintToken('bob', 'editor', WS, { name: 'Bob' })
  const bot = await mintToken('bot', 'editor', WS, { name: 'Bot', kind: 'agent' })
  const room = `${WS}/notes`
  const peers = await Promise.all([ann, bob, bot].map((token) => connectPeer(server, room, { token })))
  const [annPeer, bobPeer, botPeer] = peers as [Peer, Peer, Peer]

  annPeer.doc.getText('body').insert(0, 'ann line 1\nann line 2\n')
  await allSee(peers, 'ann line 1\nann line 2\n')
  assert.is((await ok(ann, 'POST', 'notes/versions', { label: 'ann wrote' })).id, 1)

  bobPeer.doc.getText('body').insert(textOf(bobPeer).length, 'bob line\n')
  await allSee(peers, 'ann line 1\nann line 2\nbob line\n')
  assert.is((await ok(bob, 'POST', 'notes/versions', { label: 'bob wrote' })).id, 2)

  const body = botPeer.doc.getText('body')
  botPeer.doc.transact(() => {
    body.insert(body.length, 'agent line\n')
    body.delete(0, 'ann line 1\n'.length)
  })
  const v3Text = 'ann line 2\nbob line\nagent line\n'
  await allSee(peers, v3Text)
  assert.is((await ok(bot, 'POST', 'notes/versions', { label: 'agent wrote' })).id, 3)

  const { versions } = await ok(bob, 'GET', 'notes/versions')
  assert.equal(
    versions.map((v: Json) => [v.id, v.label, v.actors.map((a: Json) => `${a.id}:${a.kind}`)]),
    [
      [3, 'agent wrote', ['bot:agent']],
      [2, 'bob wrote', ['bob:human']],
      [1, 'ann wrote', ['ann:human']],
    ],
  )
  assert.ok(versions.every((v: Json) => v.bytes > 0 && typeof v.at === 'number'))

  const blame = await ok(bob, 'GET', 'notes/blame')
  assert.equal(
    blame.lines.map((line: Json) => [line.text, line.actor, line.kind, line.version]),
    [
      ['ann line 2', 'ann', 'human', 1],
      ['bob line', 'bob', 'human', 2],
      ['agent line', 'bot', 'agent', 3],
    ],
  )

  const diff = await ok(ann, 'GET', 'notes/diff?from=1&to=3')
  assert.match(diff.patch, /^-ann line 1$/m)
  assert.match(diff.patch, /^\+bob line$/m)
  assert.match(diff.patch, /^\+agent line$/m)
  const removed = diff.changes.find((change: Json) => change.op === 'removed')
  assert.equal([removed.before, removed.actors], ['ann line 1\n', ['bot']], 'the agent deleted the line')
  const added = diff.changes.find((change: Json) => change.op === 'added')
  assert.equal([added.after, added.actors], ['bob line\nagent line\n', ['bob', 'bot']])

  const version1 = await ok(bot, 'GET', 'notes/versions/1')
  assert.is(version1.text, 'ann line 1\nann line 2\n')
  assert.equal(version1.json, { body: 'ann line 1\nann line 2\n' })

  const revert = await ok(bob, 'POST', 'notes/revert', { version: 1 })
  assert.is(revert.version, 4, 'a version after the revert; the document had not changed since version 3, which is the one before it')
  await allSee(peers, 'ann line 1\nann line 2\n')
  const audit = await fetchAudit(server, WS, ann)
  const entry = audit.find((e) => e.type === 'revert')
  assert.equal([entry?.actor, (entry?.data as Json)?.version, (entry?.data as Json)?.before], ['bob', 1, 3])
  const afterRevert = await ok(ann, 'GET', 'notes/blame')
  assert.equal(afterRevert.lines[0].actor, 'bob', 'the restored line was written again by the reverter')

  // Reverting the revert: back to what the agent left.
  assert.is((await ok(ann, 'POST', 'notes/revert', { version: 3 })).version, 5)
  await allSee(peers, v3Text)
  const latest = (await ok(ann, 'GET', 'notes/versions')).versions[0]
  assert.equal([latest.id, latest.reason, latest.restored, latest.actors.map((a: Json) => a.id)], [5, 'revert', 3, ['ann']])

  for (const peer of peers) peer.destroy()
  await server.kill()
  await server.restart()
  const fresh = await connectPeer(server, room, { token: bob })
  assert.is(textOf(fresh), v3Text)
  assert.equal(
    (await ok(bob, 'GET', 'notes/versions')).versions.map((v: Json) => v.id),
    [5, 4, 3, 2, 1],
  )
  fresh.destroy()
})

test('bad input: viewers read but cannot revert or label, unknown versions and documents are 404, bad paths 400', async () => {
  const editor = await mintToken('eve', 'editor', WS)
  const viewer = await mintToken('vic', 'viewer', WS)
  const peer = await connectPeer(server, `${WS}/bad`, { token: editor })
  peer.doc.getText('body').insert(0, 'hello\n')
  await waitFor(async () => (await api(editor, 'GET', 'bad/versions')).status === 200, 5000, 'the write to be stored')
  await ok(editor, 'POST', 'bad/versions', { label: 'one' })
  assert.is((await api(viewer, 'GET', 'bad/versions')).status, 200)
  const refused = await api(viewer, 'POST', 'bad/revert', { version: 1 })
  assert.is(refused.status, 403)
  assert.match(refused.body.error, /needs role editor/)
  assert.is((await api(viewer, 'POST', 'bad/versions', { label: 'x' })).status, 403)
  await waitFor(
    async () =>
      (await fetchAudit(server, WS, editor)).filter((e) => e.type === 'refused' && e.actor === 'vic' && /needs role editor/.test(String(e.data?.reason)))
        .length === 2,
    5000,
    "the viewer's refused revert and label to be audited",
  )
  const unknown = await api(editor, 'GET', 'bad/versions/7')
  assert.is(unknown.status, 404)
  assert.match(unknown.body.error, /no version 7.*versions near it: 1/)
  assert.is((await api(editor, 'POST', 'bad/revert', { version: 9 })).status, 404)
  const missing = await api(editor, 'GET', 'nothing-here/versions')
  assert.is(missing.status, 404)
  assert.match(missing.body.error, /no document nothing-here/)
  // Every endpoint, not only the listing: nothing is created by asking about a missing document.
  for (const [method, what, body] of [
    ['GET', 'versions/1'],
    ['GET', 'diff?from=1'],
    ['GET', 'blame'],
    ['POST', 'versions', { label: 'x' }],
    ['POST', 'revert', { version: 1 }],
  ] as Array<[string, string, Json?]>) {
    const reply = await api(editor, method, `nothing-here/${what}`, body)
    assert.is(reply.status, 404, `${method} ${what}`)
    assert.match(reply.body.error, /no document nothing-here in workspace/, `${method} ${what}`)
  }
  assert.is((await api(editor, 'GET', 'nothing-here/versions')).status, 404, 'still missing')
  // Dot segments sent as they are (fetch would resolve them first) are resolved like any URL's,
  // before the workspace is read, so they cannot reach past the token's workspace.
  const escaped = await rawGet(editor, `/api/workspaces/${WS}/docs/../../other/docs/x/versions`)
  assert.is(escaped.status, 403, `'..' segments out of the workspace: ${escaped.status} ${escaped.body}`)
  assert.match(escaped.body, /other/)
  assert.is((await rawGet(editor, `/api/workspaces/${WS}/docs/a/../bad/versions`)).status, 200, "'a/../bad' is bad")
  const badSegment = await api(editor, 'GET', 'sp%20ace/versions')
  assert.is(badSegment.status, 400)
  assert.match(badSegment.body.error, /use A-Z, a-z, 0-9/)
  const badEscape = await api(editor, 'GET', '%E0%A4%A/versions')
  assert.is(badEscape.status, 400, "a malformed percent-escape is the client's error")
  assert.match(badEscape.body.error, /malformed percent-escape/)
  assert.is((await api(editor, 'GET', 'bad/diff?from=abc')).status, 400)
  assert.is((await api(editor, 'POST', 'bad/revert', {})).status, 400)
  assert.is((await api(editor, 'POST', 'bad/versions', { label: '' })).status, 400)
  assert.equal(peer.closes, [])
  peer.destroy()
})

test('a Yjs clientID is bound to the first actor that writes with it: another actor using it is refused with 4403', async () => {
  const ann = await mintToken('ann', 'editor', WS)
  const mallory = await mintToken('mallory', 'editor', WS)
  const room = `${WS}/bound`
  const writer = new Y.Doc()
  writer.clientID = 424242
  const send = async (token: string, update: Uint8Array) => {
    const client = await rawConnect(server, room, { token, session: newSession() })
    client.send(updateFrame(update))
    return client
  }
  writer.getText('body').insert(0, 'mine\n')
  const first = await send(ann, Y.encodeStateAsUpdate(writer))
  await first.roundTrip()
  first.close()
  // Ann again in a new session with the same clientID (a reconnecting tab gets a new session): allowed.
  const before = Y.encodeStateVector(writer)
  writer.getText('body').insert(0, 'still me\n')
  const second = await send(ann, Y.encodeStateAsUpdate(writer, before))
  await second.roundTrip()
  second.close()
  // Mallory's own doc, made to use Ann's clientID: ids past what Ann wrote.
  const forged = new Y.Doc()
  forged.clientID = 424242
  forged.getText('body').insert(0, 'not yours, and long enough to pass the clocks ann used\n')
  const thief = await send(mallory, Y.encodeStateAsUpdate(forged))
  const close = await thief.waitClose(5000, 'the forged clientID to be refused')
  assert.is(close.code, 4403)
  assert.match(close.reason, /clientID 424242 already writes for ann/)
  const lines = (await ok(ann, 'GET', 'bound/blame')).lines.map((line: Json) => [line.text, line.actor])
  assert.equal(lines, [
    ['still me', 'ann'],
    ['mine', 'ann'],
  ])
  const refusals = (await fetchAudit(server, WS, ann)).filter((e) => e.type === 'refused' && e.actor === 'mallory')
  assert.ok(refusals.length >= 1, 'the refusal is audited')
})

test('text a client sends ahead of what it builds on is attributed to that client, not to whoever completes it', async () => {
  const ann = await mintToken('ann', 'editor', WS)
  const mallory = await mintToken('mallory', 'editor', WS)
  const room = `${WS}/pending`
  const annDoc = new Y.Doc()
  annDoc.clientID = 5150
  const annClient = await rawConnect(server, room, { token: ann, session: newSession() })
  annDoc.getText('body').insert(0, 'hello')
  annClient.send(updateFrame(Y.encodeStateAsUpdate(annDoc)))
  await annClient.roundTrip()
  // Mallory guesses ann's next ids (her next five characters) and writes after them: the server
  // holds her text pending until ann's own update brings those ids.
  const guess = new Y.Doc()
  Y.applyUpdate(guess, Y.encodeStateAsUpdate(annDoc))
  guess.clientID = 5150
  guess.getText('body').insert(5, ' you!')
  const forged = new Y.Doc()
  forged.clientID = 6666
  Y.applyUpdate(forged, Y.encodeStateAsUpdate(guess))
  forged.getText('body').insert(10, '\nwritten by mallory\n')
  const thief = await rawConnect(server, room, { token: mallory, session: newSession() })
  thief.send(updateFrame(Y.encodeStateAsUpdate(forged, Y.encodeStateVector(guess))))
  await thief.roundTrip()
  // An unrelated write meanwhile: mallory's claim must outlive other updates while hers waits.
  const bob = await rawConnect(server, room, { token: await mintToken('bob', 'editor', WS), session: newSession() })
  const bobDoc = new Y.Doc()
  bobDoc.getMap('meta').set('status', 'draft')
  bob.send(updateFrame(Y.encodeStateAsUpdate(bobDoc)))
  await bob.roundTrip()
  bob.close()
  const before = Y.encodeStateVector(annDoc)
  annDoc.getText('body').insert(5, ' all!')
  annClient.send(updateFrame(Y.encodeStateAsUpdate(annDoc, before)))
  await annClient.roundTrip()
  const lines = (await ok(ann, 'GET', 'pending/blame')).lines.map((line: Json) => [line.text, line.actor])
  assert.equal(lines, [
    ['hello all!', 'ann'],
    ['written by mallory', 'mallory'],
  ])
  annClient.close()
  thief.close()
})

test("the server's own clientID (what a revert writes under) cannot be borrowed by a client", async () => {
  const ann = await mintToken('ann', 'editor', WS)
  const mallory = await mintToken('mallory', 'editor', WS)
  const room = `${WS}/server-id`
  const peer = await connectPeer(server, room, { token: ann })
  const body = peer.doc.getText('body')
  body.insert(0, 'hello\n')
  await waitFor(async () => (await api(ann, 'GET', 'server-id/versions')).status === 200, 5000, 'the write to be stored')
  const v1 = (await ok(ann, 'POST', 'server-id/versions', { label: 'hello' })).id
  body.delete(0, body.length)
  await waitFor(async () => (await ok(ann, 'GET', `server-id/diff?from=${v1}`)).changes.length > 0, 5000, 'the deletion to be stored')
  await ok(ann, 'POST', 'server-id/revert', { version: v1 })
  await allSee([peer], 'hello\n')
  // The revert inserted the text again under the server's clientID: the only one besides ann's.
  const serverIds = [...peer.doc.store.clients.keys()].filter((client) => client !== peer.doc.clientID)
  assert.is(serverIds.length, 1, `one clientID besides ann's, not ${serverIds.join(', ')}`)
  const forged = new Y.Doc()
  forged.clientID = serverIds[0]!
  forged.getText('body').insert(0, 'written as if by the server, past the clocks it used\n')
  const thief = await rawConnect(server, room, { token: mallory, session: newSession() })
  thief.send(updateFrame(Y.encodeStateAsUpdate(forged)))
  const close = await thief.waitClose(5000, 'the borrowed server clientID to be refused')
  assert.is(close.code, 4403)
  assert.match(close.reason, new RegExp(`clientID ${serverIds[0]} already writes for huddle:server`))
  const lines = (await ok(ann, 'GET', 'server-id/blame')).lines.map((line: Json) => [line.text, line.actor])
  assert.equal(lines, [['hello', 'ann']], "nothing of the forged update is in the document; the revert's text is ann's")
  peer.destroy()
})

test('maps diff by key with their writers, and a revert restores keys set and deleted since', async () => {
  const ann = await mintToken('ann', 'editor', WS)
  const bot = await mintToken('bot', 'editor', WS, { kind: 'agent' })
  const annPeer = await connectPeer(server, `${WS}/settings`, { token: ann })
  const botPeer = await connectPeer(server, `${WS}/settings`, { token: bot })
  annPeer.doc.getMap('config').set('theme', 'dark')
  annPeer.doc.getMap('config').set('size', 12)
  await waitFor(() => botPeer.doc.getMap('config').get('size') === 12, 5000, 'the agent to see the config')
  const v1 = (await ok(ann, 'POST', 'settings/versions', { label: 'base' })).id
  botPeer.doc.getMap('config').set('size', 14)
  botPeer.doc.getMap('config').delete('theme')
  botPeer.doc.getMap('config').set('mode', 'fast')
  await waitFor(() => annPeer.doc.getMap('config').get('mode') === 'fast' && !annPeer.doc.getMap('config').has('theme'), 5000, "ann to see the agent's change")
  const diff = await ok(ann, 'GET', `settings/diff?from=${v1}&to=current`)
  assert.equal(
    diff.changes.map((c: Json) => [c.key, c.op, c.before, c.after, c.actors]),
    [
      ['mode', 'added', undefined, 'fast', ['bot']],
      ['size', 'changed', 12, 14, ['bot']],
      ['theme', 'removed', 'dark', undefined, ['bot']],
    ],
  )
  await ok(ann, 'POST', 'settings/revert', { version: v1 })
  for (const peer of [annPeer, botPeer]) {
    await waitFor(
      () =>
        JSON.stringify(peer.doc.getMap('config').toJSON()) === JSON.stringify({ theme: 'dark', size: 12 }) ||
        JSON.stringify(peer.doc.getMap('config').toJSON()) === JSON.stringify({ size: 12, theme: 'dark' }),
      5000,
      () => `the config restored, not ${JSON.stringify(peer.doc.getMap('config').toJSON())}`,
    )
  }
  annPeer.destroy()
  botPeer.destroy()
})

test.run()
