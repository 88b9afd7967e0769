'use strict';
// Progress goes to stderr (one line each, CI-log friendly); stdout carries only the result table.

const started = Date.now();

function stamp() {
  // Whole seconds first: rounding the remainder alone printed 59.6 s as "00:60".
  const s = Math.round((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function progress(scenario, message) {
  process.stderr.write(`[bench ${stamp()}] ${scenario.padEnd(10)} ${message}\n`);
}

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }) : String(n);

module.exports = { progress, fmt, elapsedSeconds: () => (Date.now() - started) / 1000 };
