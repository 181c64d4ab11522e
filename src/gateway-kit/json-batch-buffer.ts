/** How a batch's events are framed: `open`, the events with a one-byte separator, `close`. */
export interface JsonBatchFraming {
  open: string;
  /** The byte between two events (`,` for a JSON array) or, `terminated`, after each (`\n` for NDJSON). */
  separator: number;
  terminated: boolean;
  close: string;
}

export const NDJSON_LINES: JsonBatchFraming = { open: '', separator: 0x0a, terminated: true, close: '' };

/**
 * Writes a batch of events as JSON into one Buffer kept from batch to batch: each event's JSON
 * goes straight into it, so a batch makes no batch-sized string and no new Buffer (a string and a
 * Buffer of a whole batch, over 128 KB at 500 events, land in V8's large-object space and in fresh
 * memory each time).
 *
 * The bytes returned are a view of the kept Buffer, valid until the next `write`.
 */
export class JsonBatchBuffer {
  private buffer: Buffer;

  constructor(initialBytes = 256 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  write(events: readonly unknown[], framing: JsonBatchFraming): Buffer {
    let length = this.text(0, framing.open);
    for (let i = 0; i < events.length; i += 1) {
      if (i > 0 && !framing.terminated) length = this.byte(length, framing.separator);
      length = this.text(length, String(JSON.stringify(events[i])));
      if (framing.terminated) length = this.byte(length, framing.separator);
    }
    length = this.text(length, framing.close);
    return this.buffer.subarray(0, length);
  }

  /** Writes `text` at `at`; the length after it. */
  private text(at: number, text: string): number {
    if (text.length === 0) return at;
    const room = text.length * 3; // the most UTF-8 bytes a string of this many UTF-16 units takes
    if (at + room > this.buffer.length) this.grow(at, at + room);
    return at + this.buffer.write(text, at);
  }

  private byte(at: number, value: number): number {
    if (at + 1 > this.buffer.length) this.grow(at, at + 1);
    this.buffer[at] = value;
    return at + 1;
  }

  /** At least `needed` bytes (twice as many as before, or more), keeping the first `used`. */
  private grow(used: number, needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(next, 0, 0, used);
    this.buffer = next;
  }
}
