// One SVG chart per benchmark scenario for the Markdown report: grouped bars of its key metrics,
// one bar per server, with a logarithmic axis when a peer's values are off the scale.
import { fmt, METRICS } from './metrics.js'
import type { Row } from './report.js'
import { LABELS, type ServerKind } from './servers.js'

const COLORS: Record<ServerKind, string> = {
  huddle: '#1f6feb',
  'huddle-mem': '#79b8ff',
  yws: '#d73a49',
  hocuspocus: '#e3a008',
  hocuspocus4: '#b08800',
  etcd: '#6f42c1',
  'huddle-base': '#8b949e',
}
const CHART_METRICS: Record<string, string[]> = {
  A: ['p99', 'cpuPerMessageUs', 'rssPerConnectionKb'],
  B: ['allSyncedMs', 'cpuPerClientMs', 'peakRssMb'],
  C: ['p99', 'cpuPerMoveUs'],
  D: ['rttP50', 'rttP99', 'handoffP99', 'grantsPerSecond'],
  E: ['updatesPerSecond', 'p50', 'coldLoadMs'],
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Grouped bars: one panel per metric, cases along x, one bar per server. */
export function chart(scenario: string, scenarioRows: Row[], servers: ServerKind[]): string | null {
  const metrics = (CHART_METRICS[scenario[0]!] ?? []).filter((metric) => scenarioRows.some((row) => row.metric === metric))
  if (metrics.length === 0) return null
  const panelW = 330
  const panelH = 230
  const width = panelW * metrics.length + 20
  const height = panelH + 90
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${escapeXml(scenario)}</text>`,
  ]
  metrics.forEach((metric, index) => {
    const rowsOf = scenarioRows.filter((row) => row.metric === metric)
    const cases = rowsOf.map((row) => row.case)
    const values = rowsOf.flatMap((row) => servers.map((s) => row.values[s] ?? Number.NaN)).filter((v) => Number.isFinite(v) && v > 0)
    const x0 = 10 + index * panelW + 40
    const y0 = 40
    const plotW = panelW - 60
    const plotH = panelH - 50
    // a logarithmic axis when the values span more than two decades (a peer that collapsed)
    const low = Math.min(...values, Number.POSITIVE_INFINITY)
    const high = Math.max(...values, 1e-9)
    const log = values.length > 0 && high / low > 100
    const bottom = log ? 10 ** Math.floor(Math.log10(low)) : 0
    const top = log ? 10 ** Math.ceil(Math.log10(high * 1.5)) : high * 1.15
    const scale = (value: number) => (log ? (Math.log10(value) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom)) : value / top)
    const meta = METRICS[metric] ?? { label: metric, digits: 2 }
    parts.push(`<text x="${x0}" y="${y0 - 6}" font-weight="bold">${escapeXml(meta.label)}${log ? ' (log scale)' : ''}</text>`)
    parts.push(`<line x1="${x0}" y1="${y0 + plotH}" x2="${x0 + plotW}" y2="${y0 + plotH}" stroke="#888"/>`)
    parts.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + plotH}" stroke="#888"/>`)
    const ticks = log ? Array.from({ length: Math.round(Math.log10(top / bottom)) + 1 }, (_, i) => bottom * 10 ** i) : [0, 1, 2, 3, 4].map((i) => (top / 4) * i)
    for (const value of ticks) {
      const y = y0 + plotH - plotH * scale(value)
      parts.push(`<text x="${x0 - 4}" y="${y + 4}" text-anchor="end" fill="#555">${escapeXml(compact(value))}</text>`)
      if (value > bottom) parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#eee"/>`)
    }
    const groupW = plotW / Math.max(1, cases.length)
    const barW = Math.min(28, (groupW - 10) / Math.max(1, servers.length))
    rowsOf.forEach((row, c) => {
      const gx = x0 + c * groupW + (groupW - barW * servers.length) / 2
      servers.forEach((server, s) => {
        const value = row.values[server]
        const x = gx + s * barW
        if (value === undefined || !Number.isFinite(value) || (log && value <= 0)) {
          parts.push(`<text x="${x + barW / 2}" y="${y0 + plotH - 3}" text-anchor="middle" fill="#999">×</text>`)
          return
        }
        const h = plotH * Math.max(0, scale(value))
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${(y0 + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[server]}"><title>${escapeXml(`${LABELS[server]} ${row.case}: ${fmt(value, meta.digits)}`)}</title></rect>`,
        )
        parts.push(
          `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y0 + plotH - h - 3).toFixed(1)}" text-anchor="middle" font-size="9">${escapeXml(compact(value))}</text>`,
        )
      })
      parts.push(`<text x="${(x0 + c * groupW + groupW / 2).toFixed(1)}" y="${y0 + plotH + 14}" text-anchor="middle">${escapeXml(row.case)}</text>`)
    })
  })
  servers.forEach((server, s) => {
    const x = 20 + s * 170
    parts.push(
      `<rect x="${x}" y="${height - 22}" width="12" height="12" fill="${COLORS[server]}"/><text x="${x + 16}" y="${height - 12}">${escapeXml(LABELS[server])}</text>`,
    )
  })
  parts.push('</svg>')
  return parts.join('\n')
}

function compact(value: number): string {
  if (value === 0) return '0'
  if (Math.abs(value) >= 10_000) return `${(value / 1000).toFixed(0)}k`
  if (Math.abs(value) >= 100) return value.toFixed(0)
  if (Math.abs(value) >= 10) return value.toFixed(1)
  return value.toPrecision(2)
}
