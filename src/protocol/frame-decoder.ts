/**
 * Incremental frame decoder: bytes in, packets out. No I/O: the owner pushes chunks and
 * receives events on a sink, so tests can feed it one byte at a time.
 *
 * It keeps the received chunks and slices views out of them; it copies only when a packet
 * straddles chunk borders. A header that breaks the limits is fatal (the stream cannot be
 * trusted any more: the owner closes the connection). A packet whose JSON connection object
 * does not parse is skipped and reported as non-fatal: the stream is still in sync.
 */
import { ProtocolError } from '../errors.js';
import { type ConnObj, HEADER_LENGTH, type Packet, PACKET_REQUEST, PACKET_RESPONSE, PROTOCOL_VERSION, readHeader } from './packet.js';

/** Default limit for a whole packet (header + connection object + data): 64 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024;
/** Default limit for the JSON connection object: 1 MiB. */
export const DEFAULT_MAX_CONN_OBJECT_SIZE = 1024 * 1024;

/** Where the decoder delivers what it finds. */
export interface FrameSink {
  /** One complete packet. */
  onPacket(packet: Packet): void;
  /**
   * A bad frame. `fatal`: the stream is out of sync, stop reading and close. Otherwise the
   * frame was skipped; `id`/`isResponse` say which packet it was so a pending call can fail.
   */
  onFrameError(err: ProtocolError, fatal: boolean, id: number, isResponse: boolean): void;
}

export interface FrameDecoderLimits {
  maxFrameSize?: number;
  maxConnObjectSize?: number;
}

export class FrameDecoder {
  readonly #sink: FrameSink;
  readonly #maxFrameSize: number;
  readonly #maxConnObjectSize: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed = false;

  constructor(sink: FrameSink, limits: FrameDecoderLimits = {}) {
    this.#sink = sink;
    this.#maxFrameSize = limits.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#maxConnObjectSize = limits.maxConnObjectSize ?? DEFAULT_MAX_CONN_OBJECT_SIZE;
  }

  /** Bytes received but not yet part of a delivered packet. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** True once a fatal error was reported; later pushes are ignored. */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Feeds received bytes and delivers the complete packets they finish, at most `limit` of them.
   * Returns true if it stopped at the limit (more may be buffered: call `drain`). Never throws.
   */
  push(chunk: Buffer, limit = Infinity): boolean {
    if (this.#failed) return false;
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    return this.drain(limit);
  }

  /** Delivers up to `limit` buffered complete packets. Returns true if it stopped at the limit. */
  drain(limit = Infinity): boolean {
    let delivered = 0;
    while (!this.#failed && this.#buffered >= HEADER_LENGTH) {
      if (delivered >= limit) return true;
      if (!this.#decodeOne()) break;
      delivered++;
    }
    return false;
  }

  /** Drops buffered bytes (the connection is gone). */
  reset(): void {
    this.#chunks = [];
    this.#buffered = 0;
  }

  #fail(message: string, id: number, isResponse: boolean): void {
    this.#failed = true;
    this.reset();
    this.#sink.onFrameError(new ProtocolError(message), true, id, isResponse);
  }

  /** Decodes one packet if all its bytes are here. Returns false when more bytes are needed. */
  #decodeOne(): boolean {
    const head = this.#peek(HEADER_LENGTH);
    const header = readHeader(head);
    const { id, isResponse } = header;
    if (header.version !== PROTOCOL_VERSION) {
      this.#fail(`unsupported protocol version ${header.version} (expected ${PROTOCOL_VERSION})`, id, isResponse);
      return false;
    }
    const kind = head[1];
    if (kind !== PACKET_REQUEST && kind !== PACKET_RESPONSE) {
      this.#fail(`packet kind byte must be 0 (request) or 1 (response), got ${kind}`, id, isResponse);
      return false;
    }
    if (header.connLength < 0 || header.dataLength < 0) {
      this.#fail(`negative length in header (connection object ${header.connLength}, data ${header.dataLength})`, id, isResponse);
      return false;
    }
    if (header.connLength > this.#maxConnObjectSize) {
      this.#fail(`connection object of ${header.connLength} bytes exceeds the limit of ${this.#maxConnObjectSize}`, id, isResponse);
      return false;
    }
    const frameLength = HEADER_LENGTH + header.connLength + header.dataLength;
    if (frameLength > this.#maxFrameSize) {
      this.#fail(`packet of ${frameLength} bytes exceeds maxFrameSize ${this.#maxFrameSize}`, id, isResponse);
      return false;
    }
    if (this.#buffered < frameLength) return false;

    const frame = this.#take(frameLength);
    const connEnd = HEADER_LENGTH + header.connLength;
    let connObj: unknown;
    try {
      connObj = JSON.parse(frame.toString('utf8', HEADER_LENGTH, connEnd));
    } catch (err) {
      this.#sink.onFrameError(new ProtocolError(`connection object of packet #${id} is not valid JSON`, { cause: err }), false, id, isResponse);
      return true;
    }
    if (connObj === null || typeof connObj !== 'object' || Array.isArray(connObj) || typeof (connObj as ConnObj).type !== 'string') {
      this.#sink.onFrameError(new ProtocolError(`connection object of packet #${id} has no string "type"`), false, id, isResponse);
      return true;
    }
    this.#sink.onPacket({
      id,
      isResponse,
      timeout: header.timeout,
      connObj: connObj as ConnObj,
      data: header.dataLength > 0 ? frame.subarray(connEnd) : undefined,
    });
    return true;
  }

  /** The first `n` buffered bytes without consuming them (copies only across chunk borders). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    this.#merge(n);
    return this.#chunks[0]!;
  }

  /** Consumes and returns exactly `n` bytes: a view when they lie in one chunk. */
  #take(n: number): Buffer {
    let first = this.#chunks[0]!;
    if (first.length < n) {
      this.#merge(n);
      first = this.#chunks[0]!;
    }
    this.#buffered -= n;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    this.#chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }

  /** Makes the first chunk at least `n` bytes long by joining the chunks it needs. */
  #merge(n: number): void {
    const merged = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const want = n - offset;
      if (chunk.length <= want) {
        chunk.copy(merged, offset);
        offset += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(merged, offset, 0, want);
        this.#chunks[0] = chunk.subarray(want);
        offset = n;
      }
    }
    this.#chunks.unshift(merged);
  }
}
