#!/usr/bin/env node
// Builds the dashboard's static files into dist/dashboard/public (part of `npm run build`):
// the browser TypeScript (src/dashboard/web, its own tsconfig: DOM types, ES modules), the HTML
// and CSS next to it, and uPlot from node_modules (served by us: no CDN).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'src', 'dashboard', 'web');
const out = path.join(root, 'dist', 'dashboard', 'public');

// Only this folder is ours to clean: a stale file would otherwise be served until it is removed by hand.
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'vendor'), { recursive: true });

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(src, 'tsconfig.json')], { stdio: 'inherit' });

for (const file of fs.readdirSync(src)) {
  if (/\.(html|css)$/.test(file)) fs.copyFileSync(path.join(src, file), path.join(out, file));
}
const uplot = path.dirname(require.resolve('uplot/package.json'));
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) fs.copyFileSync(path.join(uplot, 'dist', file), path.join(out, 'vendor', file));
fs.copyFileSync(path.join(uplot, 'LICENSE'), path.join(out, 'vendor', 'uPlot.LICENSE.txt'));

console.log(`dashboard built: ${path.relative(root, out)}`);
