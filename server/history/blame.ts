// Blame: per line of a text, the record of the last write that touched it.
import type * as Y from 'yjs'
import type { Attribution, IdIndex } from './attribution.js'
import { idRuns } from './content.js'
import { later, segmentsIn } from './lookup.js'

export interface BlamedLine {
  text: string
  /** the last write to the line; null when it predates history */
  record: Attribution | null
}

/** Each line's latest write among its characters (its newline counts only for an empty line). */
export function blameText(text: Y.Text, inserted: IdIndex): BlamedLine[] {
  const content = text.toString()
  const runs = idRuns(text, true)
  const lines: BlamedLine[] = []
  let lineStart = 0
  let best: Attribution | null = null
  let position = 0
  for (const segment of segmentsIn(runs, inserted, 0, content.length)) {
    const end = position + segment.length
    while (position < end) {
      const newline = content.indexOf('\n', position)
      if (newline === -1 || newline >= end) {
        best = later(best, segment.record)
        position = end
        break
      }
      if (newline > position) best = later(best, segment.record)
      else if (newline === lineStart) best = segment.record
      lines.push({ text: content.slice(lineStart, newline), record: best })
      best = null
      position = lineStart = newline + 1
    }
  }
  if (lineStart < content.length) lines.push({ text: content.slice(lineStart), record: best })
  return lines
}
