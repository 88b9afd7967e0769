'use strict';
// Summary of a V8 .cpuprofile (node --cpu-prof): self time grouped by where the code lives
// (a package in node_modules, a file of dist/, node internals, GC/idle) and the top functions.
const fs = require('node:fs');

function where(url, functionName) {
  // V8's pseudo-frames: (idle), (garbage collector), (program), (root).
  if (!url && /^\(.*\)$/.test(functionName)) return functionName;
  if (!url) return functionName ? `native ${functionName.slice(0, 60)}` : '(native)';
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `dist/${dist[1]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url.split('/').slice(-2).join('/');
}

function summarizeProfile(file, top = 15) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const byPlace = new Map();
  const byFunction = new Map();
  for (const [id, t] of self) {
    const { callFrame } = nodes.get(id);
    const place = where(callFrame.url, callFrame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + t);
    const fn = `${callFrame.functionName || '(anonymous)'} ${place}:${callFrame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + t);
  }
  // Shares of the busy (non-idle) time: the API also sits idle between and during other steps.
  const idle = byPlace.get('(idle)') ?? 0;
  const busy = Math.max(1, total - idle);
  byPlace.delete('(idle)');
  for (const k of [...byFunction.keys()]) if (k.startsWith('(idle)')) byFunction.delete(k);
  const rank = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, t]) => ({ name: name.length > 110 ? `${name.slice(0, 107)}...` : name, percent: Math.round((1000 * t) / busy) / 10 }));
  return {
    file,
    seconds: Math.round(total / 1e5) / 10,
    busySeconds: Math.round(busy / 1e5) / 10,
    idlePercent: Math.round((1000 * idle) / total) / 10,
    byPlace: rank(byPlace),
    byFunction: rank(byFunction),
  };
}

function formatSummary(s) {
  const lines = [`CPU profile ${s.file}: ${s.seconds} s sampled, ${s.idlePercent}% idle; shares of the ${s.busySeconds} busy seconds, self time by place:`];
  for (const p of s.byPlace) lines.push(`  ${String(p.percent).padStart(5)}%  ${p.name}`);
  lines.push('top functions (self time):');
  for (const f of s.byFunction) lines.push(`  ${String(f.percent).padStart(5)}%  ${f.name}`);
  return lines.join('\n');
}

module.exports = { summarizeProfile, formatSummary };

if (require.main === module) {
  for (const file of process.argv.slice(2)) console.log(formatSummary(summarizeProfile(file, 25)));
}
