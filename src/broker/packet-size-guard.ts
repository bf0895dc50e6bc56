import type { Duplex } from 'node:stream';

/**
 * Follows MQTT packet boundaries through a byte stream by reading only each fixed header
 * (type byte + remaining-length varint) and skipping bodies. Reports a packet as soon as its
 * announced size exceeds the limit, before its body is received, let alone buffered.
 */
export class PacketSizeScanner {
  /** Body bytes of the current packet still to skip. */
  private skip = 0;
  /** 0 = expecting a type byte, 1 = inside the remaining-length varint. */
  private phase = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Returns the announced packet size (bytes, whole packet) that broke the limit, or 0. */
  scan(chunk: Uint8Array): number {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i);
        this.skip -= k;
        i += k;
        continue;
      }
      if (this.phase === 0) {
        i++;
        this.phase = 1;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      const b = chunk[i++]!;
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (b & 0x80) {
        // More than 4 length bytes is malformed; the MQTT parser rejects that itself.
        if (this.lengthBytes >= 4) return 0;
        continue;
      }
      const size = 1 + this.lengthBytes + this.length;
      if (size > this.maxPacketBytes) return size;
      this.skip = this.length;
      this.phase = 0;
    }
    return 0;
  }
}

/**
 * Watches what aedes reads from `conn`. aedes consumes the stream in paused mode ('readable' +
 * read()), and Node emits 'data' for every chunk read() returns without switching to flowing mode
 * when a 'readable' listener exists — so the guard sees exactly the bytes aedes parses, with no
 * extra stream, copy or buffering. Must be attached after aedes.handle(conn).
 */
export function guardPacketSize(conn: Duplex, maxPacketBytes: number, onOversized: (announcedBytes: number) => void): void {
  const scanner = new PacketSizeScanner(maxPacketBytes);
  const onData = (chunk: Buffer): void => {
    const size = scanner.scan(chunk);
    if (size === 0) return;
    conn.removeListener('data', onData);
    onOversized(size);
    conn.destroy();
  };
  conn.on('data', onData);
}
