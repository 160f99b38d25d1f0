// The minimal text edits behind revert, agents' writes and change sets: the result is exact, and a
// concurrent edit elsewhere in the text survives a whole-text replace.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import fc from 'fast-check'
import { replaceText, textEdits } from '../shared/text-edit.js'

test('replaceText makes the text read exactly the new value, for any pair of strings', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 }), (from, to) => {
      const doc = new Y.Doc()
      const text = doc.getText('body')
      text.insert(0, from)
      replaceText(text, to)
      assert.is(text.toString(), to)
    }),
    { numRuns: 500 },
  )
})

test('an edit touches only what changed', () => {
  assert.equal(textEdits('hello world', 'hello brave world'), [{ index: 6, deleteCount: 0, insert: 'brave ' }])
  assert.equal(textEdits('same', 'same'), [])
  const edits = textEdits('line one\nline two\nline three\n', 'line one\nline 2\nline three\n')
  assert.ok(
    edits.every((edit) => edit.index >= 9 && edit.index < 17),
    JSON.stringify(edits),
  )
})

test('a concurrent edit elsewhere survives a whole-text replace', () => {
  const base = new Y.Doc()
  base.getText('body').insert(0, 'first paragraph\n\nsecond paragraph\n')
  const agent = new Y.Doc()
  const human = new Y.Doc()
  Y.applyUpdate(agent, Y.encodeStateAsUpdate(base))
  Y.applyUpdate(human, Y.encodeStateAsUpdate(base))
  replaceText(agent.getText('body'), 'first paragraph, revised\n\nsecond paragraph\n')
  human.getText('body').insert(human.getText('body').length, 'third, typed by a person\n')
  Y.applyUpdate(agent, Y.encodeStateAsUpdate(human))
  Y.applyUpdate(human, Y.encodeStateAsUpdate(agent))
  assert.is(agent.getText('body').toString(), 'first paragraph, revised\n\nsecond paragraph\nthird, typed by a person\n')
  assert.is(human.getText('body').toString(), agent.getText('body').toString())
})

test.run()
