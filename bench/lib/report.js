'use strict';
// Figures of one run: each with its unit, its baseline and ratio when it has one, its target
// (from the issues) and pass/miss. Rendered as latest.json and as a markdown table.
const { sig, round } = require('./stats');

const OPS = {
  '>=': (a, b) => a >= b,
  '<=': (a, b) => a <= b,
  '<': (a, b) => a < b,
  '>': (a, b) => a > b,
};

class Report {
  constructor() {
    this.figures = [];
    this.details = {};
    this.errors = [];
  }

  /**
   * @param {object} f
   * @param {string} f.id          stable key, e.g. "ingest.single.rps"
   * @param {string} f.scenario
   * @param {string} f.name        what a reader sees in the table
   * @param {number|null} f.value
   * @param {string} f.unit
   * @param {{name: string, value: number, unit?: string}} [f.baseline]
   * @param {number|null} [f.ratio]
   * @param {{op: string, value: number, on?: 'value'|'ratio', source: string}} [f.target]
   * @param {boolean} [f.judge=true]  false: show the target but do not judge (e.g. a quick run's RSS)
   * @param {string} [f.note]
   */
  figure(f) {
    const value = Number.isFinite(f.value) ? f.value : null;
    let status = 'info';
    if (value === null) status = 'error';
    else if (f.target) {
      const subject = f.target.on === 'ratio' ? f.ratio : value;
      if (f.judge === false) status = 'info';
      else if (subject === null || subject === undefined || !Number.isFinite(subject)) status = 'error';
      else status = OPS[f.target.op](subject, f.target.value) ? 'pass' : 'miss';
    }
    const entry = {
      id: f.id,
      scenario: f.scenario,
      name: f.name,
      value: value === null ? null : round(value, 3),
      unit: f.unit,
      ...(f.baseline ? { baseline: { ...f.baseline, value: round(f.baseline.value, 3) } } : {}),
      ...(f.ratio !== undefined ? { ratio: f.ratio } : {}),
      ...(f.target ? { target: { on: 'value', ...f.target } } : {}),
      status,
      ...(f.target && f.judge === false ? { judged: false } : {}),
      ...(f.note ? { note: f.note } : {}),
    };
    this.figures = this.figures.filter((x) => x.id !== f.id);
    this.figures.push(entry);
    return entry;
  }

  skip(id, scenario, name, reason) {
    this.figures.push({ id, scenario, name, value: null, unit: '', status: 'skipped', note: reason });
  }

  error(scenario, err) {
    this.errors.push({ scenario, message: err?.stack ?? String(err) });
  }

  detail(scenario, data) {
    this.details[scenario] = { ...(this.details[scenario] ?? {}), ...data };
  }

  markdown({ quick }) {
    const fmtValue = (v, unit) => {
      if (v === null || v === undefined) return '—';
      const n = Math.abs(v) >= 1000 ? sig(v, 4).toLocaleString('en-US') : String(sig(v, 3));
      return unit ? `${n} ${unit}` : n;
    };
    const targetText = (t) => {
      if (!t) return '';
      const unit = t.on === 'ratio' ? '' : ` ${t.unit ?? ''}`.trimEnd();
      return `${t.on === 'ratio' ? 'ratio ' : ''}${t.op} ${t.value.toLocaleString('en-US')}${unit}`;
    };
    const mark = { pass: 'pass', miss: '**MISS**', info: '', error: '**ERROR**', skipped: 'skipped' };
    const lines = [
      '| Scenario | Figure | Value | Baseline | Ratio | Target | Result |',
      '|---|---|---:|---:|---:|---|---|',
    ];
    for (const f of this.figures) {
      const baseline = f.baseline ? `${fmtValue(f.baseline.value, f.baseline.unit ?? f.unit)} (${f.baseline.name})` : '';
      const ratio = f.ratio === undefined || f.ratio === null ? '' : String(f.ratio);
      const result = f.status === 'skipped' ? `skipped: ${f.note}` : f.judged === false ? `not judged: ${f.note ?? ''}` : mark[f.status];
      lines.push(`| ${f.scenario} | ${f.name} | ${fmtValue(f.value, f.unit)} | ${baseline} | ${ratio} | ${targetText(f.target)} | ${result} |`);
    }
    if (quick) lines.push('', '_Quick run (CI size): seconds of load on small data — the figures prove the harness works, they are not the performance of the system._');
    return lines.join('\n');
  }
}

module.exports = { Report };
