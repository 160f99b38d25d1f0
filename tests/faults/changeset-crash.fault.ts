// kill -9 between an approval and the apply of its change set (issue 15). An agent proposes new text
// for several documents with an approval; a human approves; the server is SIGKILLed at once or up to
// 400 ms later, in each round at another moment. After the restart the change set must be applied
// in full (its approval was acknowledged, so it was durable): every document holds its new text,
// none its old one. Rounds where the kill landed before the apply show up as applies the server
// made when the workspace loaded again (`resumed` in the audit entry); they are counted.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle } from '../../client-lib/node.js'
import { cleanupClients, delay, mintToken, waitFor } from '../helpers/clients.js'
import { TestServer } from '../helpers/server.js'
import { Recorder } from './helpers/report.js'

const WS = 'cs-crash'
const ROUNDS = Number(process.env.HUDDLE_CHANGESET_CRASH_ROUNDS ?? 8)
const DOCS = 16
/** filler that makes each document's apply and version a real write */
const FILLER = 'lorem ipsum dolor sit amet '.repeat(2000)

let server: TestServer | undefined

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

async function client(actor: string, role: 'editor' | 'approver', kind: 'agent' | 'human'): Promise<Huddle> {
  return connect({ url: server!.httpUrl, workspace: WS, token: await mintToken(actor, role, WS, { kind }) })
}

function oldText(round: number, doc: number): string {
  return `round ${round} doc ${doc} old\n${FILLER}\n`
}

function newText(round: number, doc: number): string {
  return `round ${round} doc ${doc} NEW\n${FILLER}\n`
}

async function auditOf(huddle: Huddle) {
  const entries = []
  for (;;) {
    const page = await huddle.api.audit({ after: entries.at(-1)?.seq ?? 0, limit: 1000 })
    entries.push(...page)
    if (page.length < 1000) return entries
  }
}

const recorder = new Recorder('changeset-crash', 'kill -9 between the approval and the apply of a change set', [
  `${ROUNDS} rounds: an agent proposes new text for ${DOCS} documents with an approval, a human approves, the server is SIGKILLed 0 to ${(ROUNDS - 1) ** 2 * 8} ms after the vote was accepted, then restarted.`,
  'After each restart the change set is applied, exactly once, and every one of its documents holds its new text (all or nothing; an acknowledged approval is never lost).',
  'At least one kill lands between the approval and the apply, so the resume at load is exercised (counted from the `resumed` audit flag).',
])

test(`kill -9 right after an approval, ${ROUNDS} rounds: every change set is applied in full after the restart`, () =>
  recorder.run(async (r) => {
    r.headlines('rounds', 'kills between approval and apply', 'documents checked', 'documents without their new text')
    await rounds(r)
  }))

async function rounds(r: Recorder): Promise<void> {
  server = await TestServer.start({ args: ['--rate', '100000', '--burst', '100000'], env: { HUDDLE_LOG: 'quiet' } })
  let resumed = 0
  r.set('documents without their new text', 0)
  for (let round = 0; round < ROUNDS; round++) {
    const agent = await client('agent', 'editor', 'agent')
    const human = await client('bob', 'approver', 'human')
    const paths = Array.from({ length: DOCS }, (_, doc) => `round${round}/doc${doc}.md`)
    await Promise.all(paths.map((path, doc) => agent.docs.write(path, oldText(round, doc))))
    const docs = Object.fromEntries(paths.map((path, doc) => [path, newText(round, doc)]))
    const { id } = await agent.changesets.propose({ title: `round ${round}`, docs, approval: true })
    const key = (await agent.changesets.get(id)).approval!.key
    await waitFor(() => human.approvals.list().some((approval) => approval.key === key), 10_000, 'the approver never saw the request')
    // Resolves once the server accepted (and wrote) the vote that approves.
    await human.approvals.vote(key, 'approve')
    // From at once (before the apply) to well after it.
    await delay(round * round * 8)
    await server.kill()
    await Promise.all([agent.close(), human.close()])
    await server.restart()

    const checker = await client('checker', 'editor', 'agent')
    const final = await checker.changesets.wait(id, { timeoutMs: 30_000, intervalMs: 100 })
    assert.is(final.status, 'applied', `round ${round}: the approved change set is ${final.status}`)
    const texts = await Promise.all(paths.map((path) => checker.docs.read(path)))
    const fresh = texts.filter((text, doc) => text === newText(round, doc)).length
    r.add('documents checked', DOCS)
    r.add('documents without their new text', DOCS - fresh)
    assert.is(fresh, DOCS, `round ${round}: ${fresh} of ${DOCS} documents hold the change set's text (all or nothing, and it was approved)`)
    const applied = (await auditOf(checker)).filter((entry) => entry.type === 'changeset.applied' && (entry.data as { changeset?: string }).changeset === id)
    assert.is(applied.length, 1, `round ${round}: applied ${applied.length} times`)
    if ((applied[0]!.data as { resumed?: boolean }).resumed) resumed++
    await checker.close()
    r.add('rounds')
  }
  r.set('kills between approval and apply', resumed)
  console.log(`changeset-crash: ${resumed} of ${ROUNDS} kills landed between the approval and the apply (finished after the restart)`)
  assert.ok(resumed > 0, 'no kill landed between the approval and the apply: the test did not test the crash window')
}

test.run()
