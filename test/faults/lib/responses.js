'use strict';
// Judging error answers against the contract (§3): a 4xx, the envelope
// {success:false, error:{code, message}}, an x-request-id, no stack trace, no secret.

const STACK_TRACE = /\n\s+at .+:\d+:\d+|node_modules|\/work\/|dist\/|\.ts:\d+/;

/** Problems with an answer to a request that must be refused (empty list: fine). */
function judgeRefusal(res, { expect, secrets = [] } = {}) {
  const problems = [];
  if (res.error) return [`no HTTP answer (${res.error})`];
  if (res.status >= 500) problems.push(`${res.status} (5xx)`);
  else if (res.status < 400) problems.push(`${res.status} (not refused)`);
  const env = res.json;
  if (!env || env.success !== false || typeof env.error?.code !== 'string' || typeof env.error?.message !== 'string') {
    problems.push(`not the contract envelope: ${JSON.stringify((res.text ?? '').slice(0, 160))}`);
  }
  if (!res.headers?.['x-request-id']) problems.push('no x-request-id');
  if (STACK_TRACE.test(res.text ?? '')) problems.push('stack trace or source path in the body');
  for (const s of secrets) if (s && (res.text ?? '').includes(s)) problems.push('a secret appears in the body');
  if (expect !== undefined) {
    const want = Array.isArray(expect) ? expect : [expect];
    if (!want.includes(res.status)) problems.push(`status ${res.status}, contract says ${want.join('/')}`);
  }
  return problems;
}

let ipCounter = 0;
/** A fresh client address per request (with TRUST_PROXY=true): the auth rate limit must not mask validation. */
function freshIp() {
  ipCounter += 1;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

module.exports = { judgeRefusal, freshIp };
