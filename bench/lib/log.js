'use strict';
// Progress goes to stderr (one line each, CI-log friendly); stdout carries only the result table.

const started = Date.now();

function stamp() {
  const s = (Date.now() - started) / 1000;
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${(s % 60).toFixed(0).padStart(2, '0')}`;
}

function progress(scenario, message) {
  process.stderr.write(`[bench ${stamp()}] ${scenario.padEnd(10)} ${message}\n`);
}

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }) : String(n);

module.exports = { progress, fmt, elapsedSeconds: () => (Date.now() - started) / 1000 };
