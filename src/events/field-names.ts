/**
 * Storage form of user-supplied field names (`metadata`, `payload`, at any depth, also inside
 * arrays). MongoDB forbids names starting with `$` and treats `.` as a path separator; FerretDB
 * v1 rejects both outright (code 2 "invalid key"); BSON cannot hold NUL in a name at all. So the
 * worker escapes names before the write and every reader unescapes them before answering:
 *
 *   `$`      → U+FF04 FULLWIDTH DOLLAR SIGN   (the substitution MongoDB's manual suggests)
 *   `.`      → U+FF0E FULLWIDTH FULL STOP
 *   NUL      → U+FF05 '0'
 *   U+FF04, U+FF0E, U+FF05 (literal, rare)  → U+FF05 followed by the character
 *
 * U+FF05 FULLWIDTH PERCENT SIGN is the escape character, so the mapping is a bijection: every
 * name round-trips exactly, including names that already contain the fullwidth characters.
 * Names without any of these characters (almost all) are stored unchanged, and objects that need
 * no change are returned as is (no copy on the hot path).
 */
const DOLLAR = '\uFF04';
const DOT = '\uFF0E';
const ESC = '\uFF05';

const NEEDS_ESCAPE = /[$.\u0000\uFF04\uFF0E\uFF05]/;
const ESCAPE_CHARS = /[$.\u0000\uFF04\uFF0E\uFF05]/g;
const NEEDS_UNESCAPE = /[\uFF04\uFF0E\uFF05]/;
const UNESCAPE_SEQ = /\uFF05([0\uFF04\uFF0E\uFF05])|[\uFF04\uFF0E]/g;

const escapeChar = (c: string): string => {
  switch (c) {
    case '$':
      return DOLLAR;
    case '.':
      return DOT;
    case '\u0000':
      return `${ESC}0`;
    default:
      return ESC + c;
  }
};

export function escapeFieldName(name: string): string {
  return NEEDS_ESCAPE.test(name) ? name.replace(ESCAPE_CHARS, escapeChar) : name;
}

export function unescapeFieldName(name: string): string {
  if (!NEEDS_UNESCAPE.test(name)) return name;
  return name.replace(UNESCAPE_SEQ, (seq: string, literal?: string) => {
    if (literal !== undefined) return literal === '0' ? '\u0000' : literal;
    return seq === DOLLAR ? '$' : '.';
  });
}

/** Deep copy of `value` with every object key escaped; returns `value` itself when nothing changes. */
export function escapeFieldNames<T>(value: T): T {
  return mapKeys(value, escapeFieldName) as T;
}

/** Inverse of escapeFieldNames (for readers returning stored events). */
export function unescapeFieldNames<T>(value: T): T {
  return mapKeys(value, unescapeFieldName) as T;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function mapKeys(value: unknown, rename: (name: string) => string): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as unknown;
      const mapped = mapKeys(item, rename);
      if (mapped !== item) {
        out ??= value.slice();
        out[i] = mapped;
      }
    }
    return out ?? value;
  }
  // Dates, ObjectIds and other class instances are values, not documents to rename.
  if (!isPlainObject(value)) return value;
  const keys = Object.keys(value);
  // Allocated only once something changes: most events need no copy at all.
  let entries: Array<[string, unknown]> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const item = value[key];
    const newKey = rename(key);
    const mapped = mapKeys(item, rename);
    if (!entries && (newKey !== key || mapped !== item)) {
      entries = keys.slice(0, i).map((k): [string, unknown] => [k, value[k]]);
    }
    entries?.push([newKey, mapped]);
  }
  // Object.fromEntries defines own properties, so a key named "__proto__" stays a plain field
  // and never becomes the prototype of the copy.
  return entries ? Object.fromEntries(entries) : value;
}
