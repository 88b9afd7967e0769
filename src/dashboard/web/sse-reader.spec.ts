import { SseParser } from './sse-reader';

describe('SseParser', () => {
  const stream = 'id: 1\ndata: {"a":1}\n\n: keep-alive\n\nid: 2\nevent: x\ndata: line1\ndata: line2\n\n';

  it('parses whole events, skips comments, joins multi-line data', () => {
    expect(new SseParser().push(stream)).toEqual([
      { id: '1', event: undefined, data: '{"a":1}' },
      { id: '2', event: 'x', data: 'line1\nline2' },
    ]);
  });

  it('gives the same events whatever the chunk boundaries (including \\r\\n split in two)', () => {
    const crlf = stream.replace(/\n/g, '\r\n');
    for (const text of [stream, crlf]) {
      for (let size = 1; size <= 7; size++) {
        const p = new SseParser();
        const got = [];
        for (let i = 0; i < text.length; i += size) got.push(...p.push(text.slice(i, i + size)));
        expect(got.map((e) => e.data)).toEqual(['{"a":1}', 'line1\nline2']);
      }
    }
  });

  it('keeps an incomplete event until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.push('data: part')).toEqual([]);
    expect(p.push('ial\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ id: undefined, event: undefined, data: 'partial' }]);
  });
});
