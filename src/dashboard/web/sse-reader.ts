/** One server-sent event (only the fields the dashboard uses). */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/**
 * Incremental parser of a text/event-stream body (WHATWG "event stream interpretation"): feed it
 * chunks as they arrive, in any split, and it returns the events completed so far. Used with
 * fetch() because EventSource cannot send an Authorization header, and a token must never go in
 * a URL.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private id?: string;
  private event?: string;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const sep = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
      if (sep === 1 && this.buffer[nl] === '\r' && nl === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(nl + sep);
      if (line === '') {
        if (this.data.length > 0) out.push({ data: this.data.join('\n'), id: this.id, event: this.event });
        this.data = [];
        this.event = undefined;
        continue;
      }
      if (line.startsWith(':')) continue; // comment / keep-alive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'id') this.id = value;
      else if (field === 'event') this.event = value;
    }
    return out;
  }
}
