/**
 * Reading a connecting socket without the stream machinery: net's documented `onread` option
 * hands each read straight to a callback, where a 'data' listener waits for Readable.push,
 * addChunk, emit and a nextTick per read. A follower's process is woken for every value its
 * leader pushes, usually after sleeping; the less code between the socket and the packet, the
 * sooner the value reaches its listener (benchmark/fanout-latency.mjs).
 *
 * The reads go into slabs: each read fills the unused end of the current slab, so no read ever
 * overwrites the bytes of an earlier one, and a chunk (or a packet's data in it) stays valid as
 * long as anyone holds it, as with a 'data' chunk. The consumer gets the slab and where the read
 * went in it; the place to read into is a plain Uint8Array over the slab's memory, made by
 * V8's own constructor (Buffer#subarray would be three calls into Node's JavaScript per read).
 */
import net from 'node:net';

/** Bytes of one slab: a read takes at most this many. */
const SLAB_SIZE = 32 * 1024;
/** A read is offered at least this many bytes: a slab with less left is replaced. */
const MIN_READ = 4 * 1024;

/**
 * Receives the chunks of one socket, the bytes `chunk[start .. end)` (a slab: its other bytes
 * belong to other reads); returns false to pause reading (as a stream's push()).
 */
export type ChunkConsumer = (chunk: Buffer, start: number, end: number) => boolean;

/** The reader of each socket made by connect(). */
const readers = new WeakMap<net.Socket, SocketReader>();

class SocketReader {
  #slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
  #used = 0;
  #consumer: ChunkConsumer | undefined;
  /** Chunks read before anyone consumed them (kept in order for the consumer). */
  #early: Buffer[] = [];

  /** The next read's buffer: the unused end of the slab, or a new slab. */
  next(): Uint8Array {
    if (SLAB_SIZE - this.#used < MIN_READ) {
      this.#slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.#used = 0;
    }
    return new Uint8Array(this.#slab.buffer, this.#slab.byteOffset + this.#used, SLAB_SIZE - this.#used);
  }

  /** `length` bytes were read into `buffer` (what next() returned: the slab from `#used` on). */
  read(length: number, buffer: Uint8Array): boolean {
    const slab = this.#slab;
    const start = buffer.byteOffset - slab.byteOffset;
    this.#used = start + length;
    if (this.#consumer) return this.#consumer(slab, start, this.#used);
    this.#early.push(slab.subarray(start, this.#used));
    return true;
  }

  /** From now on the chunks go to `consumer`, first those that came before (a false return pauses `socket`). */
  consume(consumer: ChunkConsumer, socket: net.Socket): void {
    this.#consumer = consumer;
    const early = this.#early;
    this.#early = [];
    let more = true;
    for (const chunk of early) more = consumer(chunk, 0, chunk.length) && more;
    if (!more) socket.pause();
  }
}

/** Starts a connection whose reads go to the consumer that `readChunks` attaches. */
export function connect(options: net.TcpNetConnectOpts | net.IpcNetConnectOpts): net.Socket {
  const reader = new SocketReader();
  const socket = net.connect({ ...options, onread: { buffer: () => reader.next(), callback: (length, buffer) => reader.read(length, buffer) } });
  readers.set(socket, reader);
  return socket;
}

/**
 * Sends the socket's received bytes to `consumer`: through its reader if connect() made it, else
 * through 'data' events (a server's sockets). A false return pauses the socket (resume() reads on).
 */
export function readChunks(socket: net.Socket, consumer: ChunkConsumer): void {
  const reader = readers.get(socket);
  if (reader) {
    reader.consume(consumer, socket);
    return;
  }
  socket.on('data', chunk => {
    if (!consumer(chunk as Buffer, 0, (chunk as Buffer).length)) socket.pause();
  });
}
