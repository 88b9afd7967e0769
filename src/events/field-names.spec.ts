import { escapeFieldName, escapeFieldNames, unescapeFieldName, unescapeFieldNames } from './field-names';

describe('field name storage form', () => {
  it.each([
    ['$set', '\uFF04set'],
    ['a.b.c', 'a\uFF0Eb\uFF0Ec'],
    ['price$', 'price\uFF04'],
    ['a\u0000b', 'a\uFF050b'],
    ['\uFF04already', '\uFF05\uFF04already'],
    ['\uFF05', '\uFF05\uFF05'],
    ['\uFF050', '\uFF05\uFF050'],
    ['plain_key', 'plain_key'],
    ['', ''],
  ])('escapes %j as %j and back', (name, stored) => {
    expect(escapeFieldName(name)).toBe(stored);
    expect(unescapeFieldName(stored)).toBe(name);
  });

  it('stored names never contain $, . or NUL', () => {
    const nasty = ['$', '.', '\u0000', '$.$', '..', '\uFF04.\uFF0E$\uFF05\u0000', 'x.$y'];
    for (const n of nasty) expect(escapeFieldName(n)).not.toMatch(/[$.\u0000]/);
  });

  it('round-trips every combination of the special characters', () => {
    const alphabet = ['$', '.', '\u0000', '\uFF04', '\uFF0E', '\uFF05', '0', 'a'];
    const names: string[] = [''];
    for (let len = 1; len <= 3; len++) {
      const next: string[] = [];
      for (const prefix of names.filter((n) => n.length === len - 1)) for (const c of alphabet) next.push(prefix + c);
      names.push(...next);
    }
    const stored = new Set<string>();
    for (const n of names) {
      const s = escapeFieldName(n);
      expect(unescapeFieldName(s)).toBe(n);
      stored.add(s);
    }
    // Injective: no two names share a storage form.
    expect(stored.size).toBe(names.length);
  });

  it('walks nested objects and arrays, leaving values alone', () => {
    const input = {
      'a.b': { $c: [{ 'd.e': 'x.y$z' }, 1, 'f.g'] },
      ok: { nested: true },
    };
    const stored = escapeFieldNames(input);
    expect(stored).toEqual({
      'a\uFF0Eb': { '\uFF04c': [{ 'd\uFF0Ee': 'x.y$z' }, 1, 'f.g'] },
      ok: { nested: true },
    });
    // Untouched branches are shared, the input is not mutated.
    expect(stored.ok).toBe(input.ok);
    expect(Object.keys(input)).toEqual(['a.b', 'ok']);
    expect(unescapeFieldNames(stored)).toEqual(input);
  });

  it('returns the same object when nothing needs escaping', () => {
    const input = { a: { b: [1, { c: 2 }] }, d: 'e.f' };
    expect(escapeFieldNames(input)).toBe(input);
  });

  it('keeps __proto__ and constructor as ordinary fields (no prototype pollution)', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "a.b": 1, "constructor": {"x.y": 2}}') as Record<string, unknown>;
    const stored = escapeFieldNames(input);
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(stored)).toEqual(['__proto__', 'a\uFF0Eb', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(stored, '__proto__')?.value).toEqual({ polluted: true });
    const back = unescapeFieldNames(stored);
    expect(Object.keys(back)).toEqual(['__proto__', 'a.b', 'constructor']);
    expect(JSON.stringify(back)).toBe(JSON.stringify(input));
  });

  it('leaves non-plain values such as Dates untouched', () => {
    const when = new Date(0);
    const stored = escapeFieldNames({ 'a.b': when });
    expect(stored['a\uFF0Eb' as 'a.b']).toBe(when);
  });
});
