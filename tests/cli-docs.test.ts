// `huddle doc ls|cat|write|edit|watch` as processes against a real server.
import { spawn } from 'node:child_process'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { type Exit, HUDDLE_BIN, ROOT, runCli, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import { CliProcess, cliEnv } from './fixtures/client-cli.js'

const WS = 'cli-docs'
let server: TestServer
let env: Record<string, string>

withServer(test, (started) => (server = started))

test.before(async () => {
  env = await cliEnv(server, WS, 'scribe', 'editor', 'agent')
})

/** `huddle ARGS < input` */
function withStdin(args: string[], input: string, extraEnv: Record<string, string> = env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HUDDLE_BIN, ...args], { cwd: ROOT, env: { ...process.env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(input)
  })
}

test('doc write < file, doc cat and doc ls', async () => {
  const wrote = await withStdin(['doc', 'write', 'guide.md'], 'one\ntwo\nthree\n')
  assert.is(wrote.code, 0, wrote.stderr)
  assert.match(wrote.stderr, /wrote guide.md: 1 edit/)
  const cat = await runCli(['doc', 'cat', 'guide.md'], { env })
  assert.is(cat.code, 0, cat.stderr)
  assert.is(cat.stdout, 'one\ntwo\nthree\n')
  const ls = await waitFor(
    async () => {
      const result = await runCli(['doc', 'ls'], { env })
      return result.stdout.includes('guide.md') ? result : null
    },
    10_000,
    'guide.md is never listed',
  )
  assert.is(ls.stdout, 'guide.md\n')
  const missing = await runCli(['doc', 'cat', 'nope.md'], { env })
  assert.is(missing.code, 1)
  assert.match(missing.stderr, /huddle: no document at nope.md in cli-docs/)
})

test('doc edit runs $EDITOR on the text and writes what it saved as a diff', async () => {
  const human = await connectPeer(server, `${WS}/guide.md`, { token: await mintToken('ann', 'editor', WS) })
  const edited = await runCli(['doc', 'edit', 'guide.md'], { env: { ...env, EDITOR: "sed -i 's/two/TWO/'" } })
  assert.is(edited.code, 0, edited.stderr)
  assert.match(edited.stderr, /wrote guide.md: 1 edit/)
  await waitFor(
    () => human.doc.getText('body').toString() === 'one\nTWO\nthree\n',
    5000,
    () => `the human has ${human.doc.getText('body')}`,
  )
  const failed = await runCli(['doc', 'edit', 'guide.md'], { env: { ...env, EDITOR: 'false' } })
  assert.is(failed.code, 1)
  assert.match(failed.stderr, /false exited with status 1; nothing was written/)
  human.destroy()
})

/** Ctrl-C ends `doc watch` with status 0; otherwise says how it ended (a signal, and what it printed). */
function assertCleanExit(exit: Exit, stderr: string): void {
  assert.is(exit.code, 0, `doc watch ended with code ${exit.code}, signal ${exit.signal}; stderr: ${stderr.slice(-2000)}`)
}

test('doc watch prints the text and every new version', async () => {
  const watch = new CliProcess(['doc', 'watch', 'guide.md'], env)
  await watch.waitOutput(/--- guide.md at .*\none\nTWO\nthree\n/)
  const human = await connectPeer(server, `${WS}/guide.md`, { token: await mintToken('ann', 'editor', WS) })
  human.doc.getText('body').insert(0, 'zero\n')
  await watch.waitOutput(/--- guide.md at .*\nzero\none\nTWO\nthree\n/)
  watch.child.kill('SIGINT')
  assertCleanExit(await watch.exit(), watch.stderr)
  const json = new CliProcess(['doc', 'watch', 'guide.md', '--json'], env)
  const [line] = await json.waitOutput(/^.*\n/)
  const first = JSON.parse(line)
  assert.equal(Object.keys(first), ['path', 'text', 'at'], 'the fields --help promises')
  assert.equal([first.path, first.text, typeof first.at], ['guide.md', 'zero\none\nTWO\nthree\n', 'number'])
  json.child.kill('SIGINT')
  assertCleanExit(await json.exit(), json.stderr)
  human.destroy()
})

test('a viewer cannot doc write; a guarded document refuses with who holds it', async () => {
  const viewer = await withStdin(['doc', 'write', 'guide.md'], 'x', await cliEnv(server, WS, 'vic', 'viewer'))
  assert.is(viewer.code, 1)
  assert.match(viewer.stderr, /writing guide.md needs role editor; the token for vic has role viewer/)
  const holder = new CliProcess(['lock', 'doc:guide.md', '--', 'sleep', '30'], await cliEnv(server, WS, 'alice', 'editor'))
  await waitFor(async () => (await runCli(['locks'], { env })).stdout.includes('alice'), 10_000, 'alice never holds the lock')
  const refused = await withStdin(['doc', 'write', 'guide.md'], 'overwritten\n')
  assert.is(refused.code, 1)
  assert.match(refused.stderr, /doc:guide.md is locked by alice/)
  holder.child.kill('SIGINT')
  await holder.exit()
  assert.is((await runCli(['doc', 'cat', 'guide.md'], { env })).stdout, 'one\nTWO\nthree\n'.replace(/^/, 'zero\n'))
})

test('huddle commands run under `huddle lock doc:x --` write as the holder of the lock', async () => {
  const alice = await cliEnv(server, WS, 'alice', 'editor')
  const run = await withStdin(['lock', 'doc:held.md', '--', process.execPath, HUDDLE_BIN, 'doc', 'write', 'held.md'], 'written under the lock\n', alice)
  assert.is(run.code, 0, run.stderr)
  assert.match(run.stderr, /wrote held.md/)
  assert.is((await runCli(['doc', 'cat', 'held.md'], { env })).stdout, 'written under the lock\n')
})

test.run()
