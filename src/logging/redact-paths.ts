/** Paths that never reach a log line: keys, tokens, passwords (redacted by pino, not by us). */
export const REDACT_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password',
  'passwordHash',
  '*.password',
  '*.passwordHash',
  '*.apiKey',
  '*.key',
  '*.token',
  '*.secret',
];
