'use strict';
// Percentiles and small number helpers. Latencies are kept raw (a Float64Array grown on demand):
// a full run records at most a few million values, and exact percentiles need no histogram tuning.

class Samples {
  constructor(initial = 1 << 16) {
    this.values = new Float64Array(initial);
    this.length = 0;
    this.sorted = true;
  }

  push(v) {
    if (this.length === this.values.length) {
      const next = new Float64Array(this.values.length * 2);
      next.set(this.values);
      this.values = next;
    }
    this.values[this.length++] = v;
    this.sorted = false;
  }

  append(other) {
    for (let i = 0; i < other.length; i++) this.push(other.values[i]);
  }

  /** Nearest-rank percentile (p in 0..100); NaN when empty. */
  percentile(p) {
    if (this.length === 0) return NaN;
    if (!this.sorted) {
      this.values.subarray(0, this.length).sort();
      this.sorted = true;
    }
    const rank = Math.min(this.length, Math.max(1, Math.ceil((p / 100) * this.length)));
    return this.values[rank - 1];
  }

  mean() {
    if (this.length === 0) return NaN;
    let s = 0;
    for (let i = 0; i < this.length; i++) s += this.values[i];
    return s / this.length;
  }

  summary() {
    return {
      count: this.length,
      mean: round(this.mean(), 2),
      p50: round(this.percentile(50), 2),
      p95: round(this.percentile(95), 2),
      p99: round(this.percentile(99), 2),
      max: round(this.percentile(100), 2),
    };
  }
}

function round(v, digits = 0) {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Significant-digit rounding for rates: 13456 → 13460, 0.8123 → 0.812. */
function sig(v, digits = 3) {
  if (!Number.isFinite(v) || v === 0) return v;
  const magnitude = Math.floor(Math.log10(Math.abs(v)));
  const f = 10 ** (digits - 1 - magnitude);
  return Math.round(v * f) / f;
}

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b, 3) : null;
}

module.exports = { Samples, round, sig, ratio };
