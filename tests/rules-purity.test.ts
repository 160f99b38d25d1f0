// docs/design.md §13: the rules are pure and deterministic because `server/authority/rules/` imports
// no Yjs, clock or I/O. Replay and the property tests depend on it, and nothing else would notice
// an import of 'yjs' or a Date.now() creeping in: this walks the sources the rules import (the
// shared modules included) and fails on any package, any node: module, and any clock, randomness
// or timer.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT } from './helpers/server.js'

const RULES = join(ROOT, 'server', 'authority', 'rules')
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/g
const IMPURE: Array<[RegExp, string]> = [
  [/\bDate\.now\s*\(|\bnew Date\s*\(/, 'reads the clock'],
  [/\bperformance\s*\./, 'reads the clock'],
  [/\bMath\.random\s*\(|\bcrypto\s*\./, 'draws randomness'],
  [/\b(?:setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'sets a timer'],
  [/\bprocess\s*\.|\brequire\s*\(|\bimport\s*\(|\bfetch\s*\(/, 'reaches outside (process, dynamic import, network)'],
]

/** Source text without comments, so a comment that mentions Date.now() is not a finding. */
function code(path: string): string {
  return readFileSync(path, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
}

test('server/authority/rules and what it imports: no package, no node: module, no clock, randomness, timer or I/O', () => {
  const pending = readdirSync(RULES)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(RULES, name))
  assert.ok(pending.length >= 5, `only ${pending.length} rule modules found under ${RULES}`)
  const seen = new Set<string>()
  const findings: string[] = []
  while (pending.length > 0) {
    const path = pending.pop()!
    if (seen.has(path)) continue
    seen.add(path)
    const text = code(path)
    const where = relative(ROOT, path)
    for (const [pattern, what] of IMPURE) if (pattern.test(text)) findings.push(`${where} ${what}: ${pattern.exec(text)![0]}`)
    for (const match of text.matchAll(IMPORT)) {
      const [, typeOnly, specifier] = match as unknown as [string, string | undefined, string]
      if (specifier.startsWith('.')) pending.push(resolve(dirname(path), specifier.replace(/\.js$/, '.ts')))
      // A type-only import of a package leaves nothing behind in the compiled module.
      else if (!typeOnly) findings.push(`${where} imports ${specifier}`)
    }
  }
  assert.ok(seen.has(join(ROOT, 'shared', 'coordination.ts')), 'the walk did not reach shared/coordination.ts: the import pattern no longer matches')
  assert.equal(findings, [], `the rules are no longer pure:\n  ${findings.join('\n  ')}`)
})

test.run()
