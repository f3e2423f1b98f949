/**
 * A framed socket: decodes packets with FrameDecoder, correlates responses with pending
 * requests by id, enforces per-request timeouts, and coalesces writes made in one tick
 * (cork/uncork) into one syscall. Used by both ends: the leader's side of each follower
 * and the follower's side of the leader.
 */
import type { Socket } from 'node:net';
import { debuglog } from 'node:util';
import { ProtocolError, WriteBufferFullError } from '../errors.js';
import { noTraffic, type Traffic } from '../stats.js';
import { FrameDecoder, type FrameSink } from '../protocol/frame-decoder.js';
import { readChunks } from './socket-reader.js';
import type { Packet } from '../protocol/packet.js';

const debug = debuglog('cluster-share:connection');

/** Settles a pending request: `(null, packet)` or `(error)`. */
export type ResponseCallback = (err: Error | null, packet?: Packet) => void;

/** What the owner of a connection is told. */
export interface ConnectionHandler {
  /** A request packet from the peer. */
  onRequest(packet: Packet, conn: Connection): void;
  /** The connection closed; `err` says why (undefined for a clean end). */
  onClose(conn: Connection, err: Error | undefined): void;
  /** A bad frame that was skipped or closed the connection, or a peer dropped for not reading. */
  onProtocolError?(err: ProtocolError | WriteBufferFullError, conn: Connection): void;
}

interface Pending {
  callback: ResponseCallback;
  /** When it times out (Date.now() ms). */
  deadline: number;
  /** What the request was, for error messages (e.g. the method name). */
  label: string;
  timeout: number;
}

/** How the owner names the errors of its pending requests. */
export interface RequestErrors {
  /** No response within `timeout` ms. */
  timeout(label: string, timeout: number): Error;
  /** The connection closed before the response arrived. */
  closed(label: string, cause: Error | undefined): Error;
}

const defaultErrors: RequestErrors = {
  timeout: (label, timeout) => new Error(`${label}: no response in ${timeout}ms`),
  closed: (label, cause) => new Error(`${label}: connection closed`, { cause }),
};

/** Limits of one connection (from the options of the client that owns it). */
export interface ConnectionLimits {
  /** Largest packet accepted. */
  maxFrameSize: number;
  /** Unsent bytes queued for the peer before it is dropped. */
  maxWriteBuffer: number;
  /** How long a half-received packet may wait for its next bytes. */
  frameTimeout: number;
}

let nextConnectionId = 1;

/** Packets one connection may have handled per turn of the event loop before the others get theirs. */
const PACKETS_PER_TURN = 64;

function continueDecoding(conn: Connection): void {
  conn.continueDecoding();
}

function checkFrameProgress(conn: Connection): void {
  conn.checkFrameProgress();
}

function uncork(conn: Connection): void {
  conn.flush();
}

function onSweep(conn: Connection): void {
  conn.sweep();
}

export class Connection implements FrameSink {
  /** Process-unique connection id (for logs and stats). */
  readonly id = nextConnectionId++;
  readonly socket: Socket;
  /** When the connection was made (Date.now() ms). */
  readonly connectedAt = Date.now();
  /** What crossed this connection so far. */
  readonly traffic: Traffic = noTraffic();
  /** Last time a packet arrived from the peer (for the leader's heartbeat check). */
  lastActiveTime = Date.now();
  /** Last time something was written to the peer (a follower silent too long was dropped). */
  lastWriteTime = Date.now();
  handler: ConnectionHandler;
  /** Builds the errors pending requests fail with. */
  errors: RequestErrors = defaultErrors;
  readonly #decoder: FrameDecoder;
  readonly #pending = new Map<number, Pending>();
  #corked = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #closeReason: Error | undefined;
  readonly #limits: ConnectionLimits;
  /** Packets received when the frame timer was armed (progress check). */
  #packetsAtArm = 0;
  #frameTimer: NodeJS.Timeout | undefined;
  /** The one timer for request timeouts, and the deadline it is armed for. */
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweepAt = 0;

  constructor(socket: Socket, handler: ConnectionHandler, limits: ConnectionLimits) {
    this.socket = socket;
    this.handler = handler;
    this.#limits = limits;
    this.#decoder = new FrameDecoder(this, { maxFrameSize: limits.maxFrameSize });
    socket.setNoDelay(true);
    readChunks(socket, (chunk, start, end) => {
      this.traffic.bytesIn += end - start;
      // A fair share per turn of the event loop: a peer that sends thousands of packets at once
      // does not keep the others waiting until all of them are handled (false: reading pauses).
      const more = !this.#decoder.push(chunk, PACKETS_PER_TURN, start, end);
      if (!more) setImmediate(continueDecoding, this);
      this.#watchPartialFrame();
      return more;
    });
    socket.on('error', err => {
      this.#closeReason ??= err;
    });
    socket.on('close', () => this.#onClose());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Number of requests waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Writes bytes to the peer; writes in the same tick go out together. `packets` is how many
   * packets `buf` completes (0 for the head of a packet whose data is written next).
   */
  write(buf: Buffer, packets = 1): boolean {
    if (!this.#corked && !this.#closed && !this.socket.destroyed) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
    return this.writeNow(buf, packets);
  }

  /**
   * Writes bytes to the peer at once, without waiting for the end of the tick (unless writes of
   * this tick are already waiting: they go first). For a packet that goes to many peers in one
   * loop (a pushed value): each socket gets it the moment it is its turn, in one write. It is
   * also the end of write(): one function per packet on the leader's fan-out path.
   */
  writeNow(buf: Buffer, packets = 1): boolean {
    if (this.#closed || this.socket.destroyed) return false;
    this.lastWriteTime = Date.now();
    this.traffic.bytesOut += buf.length;
    this.traffic.packetsOut += packets;
    const ok = this.socket.write(buf);
    // A peer that stops reading must not grow this process's memory without bound.
    if (!ok && this.socket.writableLength > this.#limits.maxWriteBuffer) {
      const err = new WriteBufferFullError(this.socket.writableLength, this.#limits.maxWriteBuffer);
      this.handler.onProtocolError?.(err, this);
      this.destroy(err);
      return false;
    }
    return ok;
  }

  /** @internal Handles the next share of buffered packets; reads again once all are handled. */
  continueDecoding(): void {
    if (this.#closed) return;
    if (this.#decoder.drain(PACKETS_PER_TURN)) {
      setImmediate(continueDecoding, this);
      return;
    }
    this.#watchPartialFrame();
    this.socket.resume();
  }

  /** Part of a packet is waiting for its remaining bytes: they must keep coming (frameTimeout). */
  #watchPartialFrame(): void {
    if (this.#decoder.bufferedBytes > 0 && !this.#frameTimer && !this.#closed) {
      this.#packetsAtArm = this.traffic.packetsIn;
      this.#frameTimer = setTimeout(checkFrameProgress, this.#limits.frameTimeout, this);
    }
  }

  /**
   * The frame timer fired: if no packet completed since it was armed and bytes of one are still
   * waiting, the sender is stuck; close. Otherwise look again later if a packet is still partial.
   */
  checkFrameProgress(): void {
    this.#frameTimer = undefined;
    if (this.#closed || this.#decoder.bufferedBytes === 0) return;
    if (this.traffic.packetsIn === this.#packetsAtArm) {
      const err = new ProtocolError(`${this.#decoder.bufferedBytes} bytes of a packet waited ${this.#limits.frameTimeout}ms for the rest (frameTimeout); connection closed`);
      this.handler.onProtocolError?.(err, this);
      this.destroy(err);
      return;
    }
    this.#packetsAtArm = this.traffic.packetsIn;
    this.#frameTimer = setTimeout(checkFrameProgress, this.#limits.frameTimeout, this);
  }

  /** Sends the corked writes now. */
  flush(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.socket.uncork();
  }

  /**
   * Sends a request and waits for the response with the same id, at most `timeout` ms.
   * Calls `callback` exactly once; errors come from `this.errors`, named by `label`.
   */
  request(id: number, buf: Buffer, timeout: number, label: string, callback: ResponseCallback): void {
    if (this.#closed) {
      process.nextTick(callback, this.errors.closed(label, this.#closeReason));
      return;
    }
    const deadline = Date.now() + timeout;
    this.#pending.set(id, { callback, deadline, label, timeout });
    // One timer per connection, armed for the earliest deadline, instead of one per request.
    if (this.#sweepTimer === undefined || deadline < this.#sweepAt) this.#armSweep(deadline);
    this.write(buf);
  }

  #armSweep(at: number): void {
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    this.#sweepAt = at;
    this.#sweepTimer = setTimeout(onSweep, Math.max(0, at - Date.now()), this);
    // Left armed when the requests are answered (re-arming per call is what it saves); the
    // socket, not this timer, keeps the process alive.
    this.#sweepTimer.unref();
  }

  /**
   * Stops waiting for the answer to request `id` (the caller gave up on it): its callback is
   * never called, and an answer that arrives later is dropped. Returns whether it was pending.
   */
  forget(id: number): boolean {
    return this.#take(id) !== undefined;
  }

  /** Resolves once no request is waiting for an answer (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise(resolve => this.#idleWaiters.push(resolve));
  }

  /** @internal The sweep timer fired: fails the requests past their deadline, re-arms for the next one. */
  sweep(): void {
    this.#sweepTimer = undefined;
    const now = Date.now();
    let next = Infinity;
    const expired: number[] = [];
    for (const [id, pending] of this.#pending) {
      if (pending.deadline <= now) expired.push(id);
      else if (pending.deadline < next) next = pending.deadline;
    }
    if (next !== Infinity) this.#armSweep(next);
    for (const id of expired) {
      const pending = this.#take(id);
      if (pending) pending.callback(this.errors.timeout(pending.label, pending.timeout));
    }
  }

  #take(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    if (this.#pending.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
    return pending;
  }

  /** Closes the socket now; pending requests fail with `errors.closed`. Idempotent. */
  destroy(err?: Error): void {
    if (err) this.#closeReason ??= err;
    this.flush();
    this.socket.destroy();
  }

  /** Ends the socket after the queued writes are sent. */
  end(): void {
    this.flush();
    this.socket.end();
  }

  onPacket(packet: Packet): void {
    this.traffic.packetsIn++;
    this.lastActiveTime = Date.now();
    if (packet.isResponse) {
      const pending = this.#take(packet.id);
      if (pending) pending.callback(null, packet);
      else debug('#%d response for unknown or expired request #%d (%s)', this.id, packet.id, packet.connObj.type);
      return;
    }
    this.handler.onRequest(packet, this);
  }

  onFrameError(err: ProtocolError, fatal: boolean, id: number, isResponse: boolean): void {
    this.handler.onProtocolError?.(err, this);
    if (fatal) {
      this.destroy(err);
      return;
    }
    // The stream is still in sync: fail only the call this packet answered.
    if (isResponse) this.#take(id)?.callback(err);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#frameTimer) clearTimeout(this.#frameTimer);
    if (this.#sweepTimer) clearTimeout(this.#sweepTimer);
    this.#decoder.reset();
    const reason = this.#closeReason;
    for (const id of [...this.#pending.keys()]) {
      const pending = this.#take(id)!;
      pending.callback(this.errors.closed(pending.label, reason));
    }
    debug('#%d closed%s', this.id, reason ? `: ${reason.message}` : '');
    this.handler.onClose(this, reason);
  }
}
