'use strict';
// Raw HTTP/1.1 over a socket, for requests node:http refuses to send (broken request lines,
// control characters in headers, smuggling-shaped framing). Reads until the server closes or
// `timeoutMs`, then parses the status line, headers and body of the first response.
const net = require('node:net');

function sendRaw(port, bytes, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const chunks = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    const finish = (error) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(parse(Buffer.concat(chunks), error));
    };
    const timer = setTimeout(() => finish(chunks.length ? undefined : 'TIMEOUT'), timeoutMs);
    sock.on('data', (c) => {
      chunks.push(c);
      // One complete response is enough (keep-alive servers do not close).
      const r = parse(Buffer.concat(chunks));
      if (r.complete) finish();
    });
    sock.on('error', (err) => finish(chunks.length ? undefined : err.code));
    sock.on('close', () => finish(chunks.length ? undefined : 'CLOSED_WITHOUT_RESPONSE'));
  });
}

function parse(buf, error) {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { error: error ?? 'INCOMPLETE', complete: false, text };
  const [statusLine, ...headerLines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers = {};
  for (const l of headerLines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  let complete = true;
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    complete = body.length >= n;
    body = body.subarray(0, n);
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    complete = /\r\n0\r\n\r\n$/.test(body.toString('latin1')) || body.toString('latin1').startsWith('0\r\n');
    body = Buffer.from(dechunk(body.toString('latin1')), 'latin1');
  } else complete = false;
  const bodyText = body.toString('utf8');
  let json;
  try {
    json = JSON.parse(bodyText);
  } catch {
    json = undefined;
  }
  return { status: m ? Number(m[1]) : undefined, headers, text: bodyText, json, complete };
}

function dechunk(s) {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const nl = s.indexOf('\r\n', i);
    if (nl < 0) break;
    const n = parseInt(s.slice(i, nl), 16);
    if (!n) break;
    out += s.slice(nl + 2, nl + 2 + n);
    i = nl + 2 + n + 2;
  }
  return out;
}

module.exports = { sendRaw };
