// Runs uvu and fails when any counted test did not run. uvu returns from a `finally` block in its
// runner, which swallows an error thrown by `test.before`: a file whose server failed to start
// would otherwise report 0 of N tests and still exit 0.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// uvu does not export its bin, so it is found beside this script's checkout.
const uvu = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url))
const child = spawn(process.execPath, [uvu, ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] })
let output = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  output += chunk
})
child.on('close', (code) => {
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '')
  const count = (label) => Number(new RegExp(`\\n\\s*${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? NaN)
  const total = count('Total')
  const passed = count('Passed')
  const skipped = count('Skipped')
  const missing = total - passed - skipped
  console.log(`\n${passed} passed, ${Number.isNaN(missing) ? '?' : missing} failed${skipped ? `, ${skipped} skipped` : ''}`)
  if (code !== 0) process.exit(code ?? 1)
  if (!(missing === 0)) {
    console.error(`test: ${Number.isNaN(missing) ? 'could not read the totals' : `${missing} of ${total} tests did not pass`}; look for a file whose before() hook failed (uvu does not report it)`)
    process.exit(1)
  }
})
