// The last file of the fault suite (uvu runs files in name order): assembles RELIABILITY.md from
// the figures every fault test of this run wrote to test-output/reliability/.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assembleReport, ORDER, readFigures, RUN_ID } from './helpers/report.js'

test('RELIABILITY.md is assembled from the figures measured in this run', () => {
  const mine = readFigures().filter((figures) => figures.runId === RUN_ID)
  // Run on its own, it would replace the report with an empty one.
  assert.ok(mine.length > 0, 'no fault test ran in this process: run the whole suite (npm run test:faults) to refresh RELIABILITY.md')
  const { missing, failed } = assembleReport()
  assert.equal(missing, [], `these fault tests wrote no figures in this run: ${missing.join(', ')} (RELIABILITY.md lists them as not run)`)
  // Failures are reported by their own tests; the report marks them FAIL.
  void failed
  void ORDER
})

test.run()
