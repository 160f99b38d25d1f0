// Bundles the dashboard (dashboard/src) into dist/dashboard with esbuild, and copies
// dashboard/public (index.html, styles) beside it: no CDN, works offline.
import { cpSync, existsSync } from 'node:fs'
import { build } from 'esbuild'

if (!existsSync('dashboard/src/main.ts')) {
  console.log('build-dashboard: no dashboard/src/main.ts yet; skipping')
  process.exit(0)
}
await build({
  entryPoints: ['dashboard/src/main.ts'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outdir: 'dist/dashboard',
  logLevel: 'warning',
})
cpSync('dashboard/public', 'dist/dashboard', { recursive: true })
console.log('build-dashboard: wrote dist/dashboard')
