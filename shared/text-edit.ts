// Replacing a Y.Text's content with new text as the smallest edits that get there, so a person
// typing elsewhere in the same text keeps their work (a delete-all-and-insert would erase any
// concurrent edit and attribute every character to the last writer). Used by revert, by agents'
// whole-text writes and by change sets.
import { diffChars } from 'diff'
import type * as Y from 'yjs'

/** One edit, in coordinates of the text as it is before any edit of the list is applied. */
export interface TextEdit {
  index: number
  deleteCount: number
  insert: string
}

/** Past this many changed characters in the middle a character diff is not worth its time. */
const MAX_DIFF_CHARS = 200_000
/** jsdiff gives up after this many ms and we replace the changed middle as one edit */
const DIFF_TIMEOUT_MS = 200

/**
 * The edits turning `from` into `to`. The common prefix and suffix are cut first (the usual case:
 * one region changed), then the middle is diffed by characters.
 */
export function textEdits(from: string, to: string): TextEdit[] {
  if (from === to) return []
  let start = 0
  const shorter = Math.min(from.length, to.length)
  while (start < shorter && from.charCodeAt(start) === to.charCodeAt(start)) start++
  let end = 0
  while (end < shorter - start && from.charCodeAt(from.length - 1 - end) === to.charCodeAt(to.length - 1 - end)) end++
  const oldMiddle = from.slice(start, from.length - end)
  const newMiddle = to.slice(start, to.length - end)
  const whole: TextEdit[] = [{ index: start, deleteCount: oldMiddle.length, insert: newMiddle }]
  if (oldMiddle.length === 0 || newMiddle.length === 0) return whole
  if (oldMiddle.length + newMiddle.length > MAX_DIFF_CHARS) return whole
  const parts = diffChars(oldMiddle, newMiddle, { timeout: DIFF_TIMEOUT_MS })
  if (!parts) return whole
  const edits: TextEdit[] = []
  let index = start
  for (const part of parts) {
    const last = edits[edits.length - 1]
    const open = last && last.index + last.deleteCount === index ? last : undefined
    if (part.added) {
      if (open) open.insert += part.value
      else edits.push({ index, deleteCount: 0, insert: part.value })
    } else if (part.removed) {
      if (open && open.insert === '') open.deleteCount += part.value.length
      else edits.push({ index, deleteCount: part.value.length, insert: '' })
      index += part.value.length
    } else {
      index += part.value.length
    }
  }
  return edits
}

/**
 * Makes `text` read `next` with the fewest edits, inside the caller's transaction if there is one
 * (call it within `doc.transact` to send all edits as one update). Returns the edits applied.
 */
export function replaceText(text: Y.Text, next: string): TextEdit[] {
  const edits = textEdits(text.toString(), next)
  const apply = () => {
    // From the end backwards, so each edit's index still refers to the untouched text before it.
    for (let i = edits.length - 1; i >= 0; i--) {
      const edit = edits[i]!
      if (edit.deleteCount > 0) text.delete(edit.index, edit.deleteCount)
      if (edit.insert) text.insert(edit.index, edit.insert)
    }
  }
  if (text.doc) text.doc.transact(apply)
  else apply()
  return edits
}
