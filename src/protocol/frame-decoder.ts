/**
 * Incremental frame decoder: bytes in, packets out. No I/O: the owner pushes chunks and
 * receives events on a sink, so tests can feed it one byte at a time.
 *
 * It reads packets straight out of the received chunk, and each packet points into it; it copies
 * only when a packet straddles chunk borders. A header that breaks the limits is fatal (the stream cannot be
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

const EMPTY = Buffer.alloc(0);

/** A connection object up to this many bytes is remembered for the next packet (see FrameDecoder). */
const MAX_REMEMBERED_CONN_OBJECT = 256;

export interface FrameDecoderLimits {
  maxFrameSize?: number;
  maxConnObjectSize?: number;
}

export class FrameDecoder {
  readonly #sink: FrameSink;
  readonly #maxFrameSize: number;
  readonly #maxConnObjectSize: number;
  /**
   * The chunk being read, from `#offset` on. Packets are read straight out of it (the usual case:
   * a chunk holds whole packets, and nothing is copied or queued).
   */
  #head: Buffer | undefined;
  #offset = 0;
  /** Where the bytes of `#head` end (a reader may hand over a longer view: see push). */
  #headEnd = 0;
  /** Chunks received after `#head`, waiting (only while a packet straddles chunk borders). */
  #more: Buffer[] = [];
  #buffered = 0;
  #failed = false;
  /** The last small flat connection object and its JSON text (see #remember). */
  #lastConn: ConnObj | undefined;
  #lastConnText: string | undefined;

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
   * The bytes are `chunk[start .. end)`: a reader hands over the memory it read into, with no
   * view cut to size first. They must stay as they are while the decoder or a packet holds them.
   */
  push(chunk: Buffer, limit = Infinity, start = 0, end = chunk.length): boolean {
    if (this.#failed) return false;
    if (end > start) {
      if (this.#head === undefined) {
        this.#head = chunk;
        this.#offset = start;
        this.#headEnd = end;
      } else {
        this.#more.push(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
      }
      this.#buffered += end - start;
    }
    // The delivery loop is here rather than a call to drain(): one function less on the path of
    // every packet (each is one more for V8 to warm up while values arrive).
    let delivered = 0;
    while (!this.#failed && this.#buffered >= HEADER_LENGTH) {
      if (delivered >= limit) return true;
      if (!this.#decodeOne()) break;
      delivered++;
    }
    return false;
  }

  /** Delivers up to `limit` buffered complete packets. Returns true if it stopped at the limit. */
  drain(limit = Infinity): boolean {
    return this.push(EMPTY, limit);
  }

  /** Drops buffered bytes (the connection is gone). */
  reset(): void {
    this.#head = undefined;
    this.#offset = 0;
    this.#headEnd = 0;
    this.#more = [];
    this.#buffered = 0;
  }

  #fail(message: string, id: number, isResponse: boolean): void {
    this.#failed = true;
    this.reset();
    this.#sink.onFrameError(new ProtocolError(message), true, id, isResponse);
  }

  /** Decodes one packet if all its bytes are here. Returns false when more bytes are needed. */
  #decodeOne(): boolean {
    if (this.#headEnd - this.#offset < HEADER_LENGTH) this.#gather(HEADER_LENGTH);
    let buf = this.#head!;
    let start = this.#offset;
    const header = readHeader(buf, start);
    const { id, isResponse, connLength, dataLength } = header;
    if (header.version !== PROTOCOL_VERSION) {
      this.#fail(`unsupported protocol version ${header.version} (expected ${PROTOCOL_VERSION})`, id, isResponse);
      return false;
    }
    const kind = buf[start + 1];
    if (kind !== PACKET_REQUEST && kind !== PACKET_RESPONSE) {
      this.#fail(`packet kind byte must be 0 (request) or 1 (response), got ${kind}`, id, isResponse);
      return false;
    }
    if (connLength < 0 || dataLength < 0) {
      this.#fail(`negative length in header (connection object ${connLength}, data ${dataLength})`, id, isResponse);
      return false;
    }
    if (connLength > this.#maxConnObjectSize) {
      this.#fail(`connection object of ${connLength} bytes exceeds the limit of ${this.#maxConnObjectSize}`, id, isResponse);
      return false;
    }
    const frameLength = HEADER_LENGTH + connLength + dataLength;
    if (frameLength > this.#maxFrameSize) {
      this.#fail(`packet of ${frameLength} bytes exceeds maxFrameSize ${this.#maxFrameSize}`, id, isResponse);
      return false;
    }
    if (this.#buffered < frameLength) return false;
    if (this.#headEnd - start < frameLength) {
      this.#gather(frameLength);
      buf = this.#head!;
      start = 0;
    }

    // Consume the frame before delivering it (the sink may push or reset).
    const connEnd = start + HEADER_LENGTH + connLength;
    const end = start + frameLength;
    this.#buffered -= frameLength;
    if (end === this.#headEnd) this.#next();
    else this.#offset = end;

    // The connection object as text: a peer sends the same few again and again (every value
    // pushed for a key, every answer of one kind), and the same text parses to the same object.
    // Comparing two strings is one builtin; a loop over the bytes here would be a hot loop in the
    // interpreter, which V8 compiles within the first few dozen packets (see #remember).
    const connText = buf.toString(undefined, start + HEADER_LENGTH, connEnd);
    let connObj: ConnObj;
    if (connText === this.#lastConnText) {
      connObj = this.#lastConn!;
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(connText);
      } catch (err) {
        this.#sink.onFrameError(new ProtocolError(`connection object of packet #${id} is not valid JSON`, { cause: err }), false, id, isResponse);
        return true;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || typeof (parsed as ConnObj).type !== 'string') {
        this.#sink.onFrameError(new ProtocolError(`connection object of packet #${id} has no string "type"`), false, id, isResponse);
        return true;
      }
      connObj = parsed as ConnObj;
      this.#remember(connObj, connText, connLength);
    }
    this.#sink.onPacket({ id, isResponse, timeout: header.timeout, connObj, bytes: buf, dataStart: connEnd, dataEnd: end });
    return true;
  }

  /**
   * Keeps a small connection object whose fields are all primitive values, frozen: every packet
   * whose connection object has the same JSON text gets this same object (its readers only read it).
   */
  #remember(connObj: ConnObj, text: string, byteLength: number): void {
    if (byteLength > MAX_REMEMBERED_CONN_OBJECT) return;
    for (const field in connObj) {
      const value = connObj[field];
      if (typeof value === 'object' && value !== null) return;
    }
    this.#lastConn = Object.freeze(connObj);
    this.#lastConnText = text;
  }

  /** `#head` is used up: the next waiting chunk takes its place. */
  #next(): void {
    this.#head = this.#more.length > 0 ? this.#more.shift() : undefined;
    this.#offset = 0;
    this.#headEnd = this.#head?.length ?? 0;
  }

  /**
   * Makes `#head` start with at least `n` bytes (it holds fewer, and at least `n` are buffered):
   * a packet that straddles chunk borders is copied once, whatever the number of chunks.
   */
  #gather(n: number): void {
    const merged = Buffer.allocUnsafe(n);
    let filled = this.#head!.copy(merged, 0, this.#offset, this.#headEnd);
    while (filled < n) {
      const chunk = this.#more[0]!;
      const want = n - filled;
      if (chunk.length <= want) {
        filled += chunk.copy(merged, filled);
        this.#more.shift();
      } else {
        chunk.copy(merged, filled, 0, want);
        this.#more[0] = chunk.subarray(want);
        filled = n;
      }
    }
    this.#head = merged;
    this.#offset = 0;
    this.#headEnd = n;
  }
}
