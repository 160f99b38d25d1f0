// Bundles the dashboard (dashboard/src) into dist/dashboard with esbuild, and copies
// dashboard/public (index.html, styles) beside it: no CDN, works offline.
import { cpSync } from 'node:fs'
import { build } from 'esbuild'

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
