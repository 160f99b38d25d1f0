// `node dist/bench/profile-summary.js <file.cpuprofile>... [top]`: self time by function and by
// file from a V8 CPU profile (what `npm run bench -- --profile` writes to bench/results/profiles/).
import { readFileSync } from 'node:fs'

interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount: number
  children?: number[]
}

const args = process.argv.slice(2)
const files = args.filter((arg) => arg.endsWith('.cpuprofile'))
const topText = args.find((arg) => !arg.endsWith('.cpuprofile'))
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile>... [top]   (several files are summed)\n')
  process.exit(2)
}
const top = Number(topText ?? 30)
const byFunction = new Map<string, number>()
const byFile = new Map<string, number>()
let total = 0
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame
    const where = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')
    const name = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + us)
    byFile.set(where || frame.functionName, (byFile.get(where || frame.functionName) ?? 0) + us)
    total += us
  }
}
const show = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title} (total ${(total / 1000).toFixed(0)} ms)\n`)
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}\n`)
  }
}
show('self time by function', byFunction)
show('self time by file', byFile)
