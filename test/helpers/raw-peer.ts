/**
 * A raw TCP peer of a leader, for hostile and backpressure tests: it sends whatever bytes it is
 * told to, decodes what the leader sends with the library's FrameDecoder, and records how and
 * when the connection ended. Nothing here closes the socket unless asked: a 'close' event means
 * the other side closed it.
 */
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { type ConnObj, encodePacket, nextRequestId, type Packet } from '../../src/protocol/packet.js';

/** How a raw connection ended. */
export interface Ending {
  /** ms from connect to 'close'. */
  afterMs: number;
  /** The socket error before the close, if any (ECONNRESET when the leader reset it). */
  error: NodeJS.ErrnoException | undefined;
  /** Bytes the leader sent on this connection, in all. */
  bytesReceived: number;
}

export class RawPeer {
  readonly socket: net.Socket;
  /** Packets decoded from the leader's bytes, in order (unless `keepPackets` is false). */
  readonly packets: Packet[] = [];
  /** Keep every packet in `packets` (set false for floods; `onPacket` still sees them). */
  keepPackets = true;
  /** Called with every packet decoded from the leader's bytes. */
  onPacket: ((packet: Packet) => void) | undefined;
  /** Resolves when the socket closes (whoever closed it). */
  readonly ended: Promise<Ending>;
  bytesReceived = 0;
  connectedAt = 0;
  #error: NodeJS.ErrnoException | undefined;
  #waiters: Array<{ match: (p: Packet) => boolean; resolve: (p: Packet) => void; reject: (err: Error) => void }> = [];
  #closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const decoder = new FrameDecoder({
      onPacket: packet => {
        this.onPacket?.(packet);
        if (this.keepPackets) this.packets.push(packet);
        this.#waiters = this.#waiters.filter(w => {
          if (!w.match(packet)) return true;
          w.resolve(packet);
          return false;
        });
      },
      // The leader never sends a bad frame; if it did, the tests waiting for packets time out.
      onFrameError: () => undefined,
    });
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      decoder.push(chunk);
    });
    socket.on('error', err => {
      this.#error ??= err;
    });
    // (Not events.once: it would reject on the 'error' that precedes a reset's 'close'.)
    this.ended = new Promise<void>(resolve => socket.once('close', () => resolve())).then(() => {
      this.#closed = true;
      for (const w of this.#waiters) w.reject(new Error('the connection closed before the awaited packet'));
      this.#waiters = [];
      return { afterMs: performance.now() - this.connectedAt, error: this.#error, bytesReceived: this.bytesReceived };
    });
  }

  /** Connects to 127.0.0.1:port. */
  static async connect(port: number): Promise<RawPeer> {
    const socket = net.connect(port, '127.0.0.1');
    const peer = new RawPeer(socket);
    await once(socket, 'connect');
    peer.connectedAt = performance.now();
    return peer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw bytes. */
  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** Sends a request packet; returns its id. */
  send(connObj: ConnObj, data?: Buffer | readonly Buffer[], timeout = 10_000): number {
    const id = nextRequestId();
    this.socket.write(encodePacket(id, false, timeout, connObj, data));
    return id;
  }

  /** The first packet (received or future) matching `match`; rejects if the connection closes first. */
  waitFor(match: (p: Packet) => boolean): Promise<Packet> {
    const found = this.packets.find(match);
    if (found) return Promise.resolve(found);
    if (this.#closed) return Promise.reject(new Error('the connection is closed'));
    return new Promise((resolve, reject) => this.#waiters.push({ match, resolve, reject }));
  }

  /** The response to request `id`. */
  response(id: number): Promise<Packet> {
    return this.waitFor(p => p.isResponse && p.id === id);
  }

  /** Registers on `channelName` and waits for the leader's answer (register_channel_res). */
  async register(channelName: string, codecs?: string[]): Promise<Packet> {
    const connObj: ConnObj = codecs ? { type: 'register_channel', channelName, codecs } : { type: 'register_channel', channelName };
    return this.response(this.send(connObj));
  }

  /** Sends a heartbeat and waits for its answer: every packet sent before it was read by the leader. */
  async roundTrip(): Promise<void> {
    await this.response(this.send({ type: 'heartbeat' }));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
