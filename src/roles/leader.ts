/**
 * The leader of one channel: owns the DataClient (through DataClientHost), serves the
 * followers registered on the channel, and checks their heartbeats.
 */
import type { EventEmitter } from 'node:events';
import { debuglog } from 'node:util';
import { ChannelMismatchError, FollowerCallError, FrameTooLargeError, HeartbeatTimeoutError, type ProtocolError, serializeError, type WriteBufferFullError } from '../errors.js';
import { classChain, identityMismatch, readIdentity } from '../protocol/identity.js';
import { chooseCodec, codecName } from '../protocol/codec.js';
import {
  type Codec, decodeInvokeArgs, EncodedConnObj, encodePacket, encodePacketHead, HEADER_LENGTH, LEADER_CLOSING, nextRequestId, type Packet, packetData, readPid, STATUS, writePacketHead,
} from '../protocol/packet.js';
import type { ChannelStatus, FollowerStats } from '../stats.js';
import { addTraffic, noTraffic, type Traffic } from '../stats.js';
import type { Connection, ConnectionHandler } from '../transport/connection.js';
import type { ChannelHandler, PortServer } from '../transport/port-server.js';
import type { DataClientHost, EncodedValue, Framer, Subscriber } from './host.js';
import { LocalRole } from './local.js';
import type { RoleKind, RoleSink } from './role.js';
import { checkCarrier, serveChannel, type ServeTraceMessage, serveTraced } from '../tracing.js';

const debug = debuglog('cluster-share:leader');

/** One registered follower connection, as a subscriber of the host. */
class FollowerLink implements Subscriber, Framer<PushPacket> {
  readonly conn: Connection;
  readonly timeout: number;
  /** The codec negotiated with this follower (serialize-json or the user's transcode if none). */
  readonly codec: Codec;
  /** A cluster-share follower (it sent `codecs`): it understands leader_closing and ends its side. */
  readonly knowsClosing: boolean;
  /** The follower's pid, if it said (our extension of register_channel). */
  readonly pid: number | undefined;
  /** Its calls running now. */
  inFlight = 0;
  /** The largest packet the follower accepts (this leader's own limit: every process shares it). */
  readonly maxFrameSize: number;
  constructor(conn: Connection, timeout: number, codec: Codec, knowsClosing: boolean, pid: number | undefined, maxFrameSize: number) {
    this.maxFrameSize = maxFrameSize;
    this.conn = conn;
    this.timeout = timeout;
    this.codec = codec;
    this.knowsClosing = knowsClosing;
    this.pid = pid;
  }

  /**
   * Sends the value's push packet, built once per codec for all followers (the same leader's
   * links frame alike: one timeout). A value the follower would refuse (maxFrameSize) is not
   * sent; the caller is told.
   */
  deliver(key: string, encoded: EncodedValue): void {
    const packet = encoded.framed(this.codec, this);
    if (packet.size > this.maxFrameSize) throw new FrameTooLargeError(`the subscription value for ${key}`, packet.size, this.maxFrameSize);
    if (packet.data === undefined) {
      this.conn.writeNow(packet.head);
    } else {
      this.conn.writeNow(packet.head, 0);
      this.conn.writeNow(packet.data);
    }
  }

  /** Room for the subscribe_result packet's header and connection object in front of a value. */
  frameRoom(key: string): number {
    return HEADER_LENGTH + pushConnObj(key).bytes.length;
  }

  /**
   * The subscribe_result packet of a value: its request id is never answered to anything that
   * waits (followers' acknowledgements are not tracked), so one id serves every follower. When
   * the value was encoded after the room this link asked for (frameRoom), the header goes there
   * and the packet is that buffer, whatever the value's size; otherwise it is built around the
   * bytes (copied, or, past SINGLE_WRITE_MAX, written after their own head).
   */
  frame(key: string, buf: Buffer, start: number): PushPacket {
    const id = nextRequestId();
    const connObj = pushConnObj(key);
    const dataLength = buf.length - start;
    const room = HEADER_LENGTH + connObj.bytes.length;
    if (start >= room) {
      const packet = start === room ? buf : buf.subarray(start - room);
      writePacketHead(packet, id, false, this.timeout, connObj, dataLength);
      return { size: packet.length, head: packet, data: undefined };
    }
    const data = start === 0 ? buf : buf.subarray(start);
    if (dataLength <= SINGLE_WRITE_MAX) {
      const head = encodePacket(id, false, this.timeout, connObj, data);
      return { size: head.length, head, data: undefined };
    }
    const head = encodePacketHead(id, false, this.timeout, connObj, dataLength);
    return { size: head.length + dataLength, head, data };
  }
}

/** The connection object of the last key pushed (a key's values follow one another). */
let lastPushConnObj: { key: string; encoded: EncodedConnObj } | undefined;

function pushConnObj(key: string): EncodedConnObj {
  if (lastPushConnObj?.key !== key) lastPushConnObj = { key, encoded: new EncodedConnObj({ type: 'subscribe_result', key }) };
  return lastPushConnObj.encoded;
}

/** A pushed value at most this large goes out as one buffer (copied once); a larger one as head + shared data. */
const SINGLE_WRITE_MAX = 64 * 1024;

/** The subscribe_result packet of one value, built once and written to every follower. */
interface PushPacket {
  size: number;
  /** The whole packet, or (a large value) its header and connection object. */
  head: Buffer;
  /** A large value's data, written after `head` (shared, not copied); undefined when `head` is all. */
  data: Buffer | undefined;
}

export class LeaderRole extends LocalRole implements ChannelHandler, ConnectionHandler {
  /** Where it serves: the endpoint, or the takeover rendezvous while it is an interim leader. */
  #server: PortServer;
  readonly #links = new Map<Connection, FollowerLink>();
  readonly #heartbeatTimer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  /** Traffic of the followers that already left. */
  readonly #pastTraffic = noTraffic();
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  /** The DataClient class name this channel was created with (what followers are checked against). */
  readonly #dataClientClass: string;

  constructor(host: DataClientHost, server: PortServer, sink: RoleSink, events: EventEmitter, dataClientClass: string) {
    super(host, sink, events);
    this.#server = server;
    this.#dataClientClass = dataClientClass;
    const { isCheckHeartbeat, heartbeatInterval } = host.options;
    if (isCheckHeartbeat) {
      this.#heartbeatTimer = setInterval(() => this.#checkHeartbeats(), heartbeatInterval);
      this.#heartbeatTimer.unref();
    }
  }

  override get kind(): RoleKind {
    return 'leader';
  }

  get server(): PortServer {
    return this.#server;
  }

  /**
   * An interim leader won the endpoint: it serves there from now on, and leaves the rendezvous
   * (its followers there keep their connections). Returns false if it is closing.
   */
  moveTo(server: PortServer): boolean {
    if (this.#closing || !server.addChannel(this.host.options.name, this)) return false;
    const old = this.#server;
    this.#server = server;
    void old.removeChannel(this.host.options.name);
    return true;
  }

  // ChannelHandler: this process hung and an interim leader took over; step down.
  takenOver(byPid: number | undefined): void {
    if (!this.#closing) this.sink.takenOver(this, byPid);
  }

  /** Registered follower connections. */
  get followerCount(): number {
    return this.#links.size;
  }

  // ChannelHandler: a follower registered on this channel. Answer once the DataClient is ready.
  onRegister(conn: Connection, packet: Packet): void {
    conn.handler = this;
    const { options } = this.host;
    // A cluster-share follower offers codecs; a 3.x follower offers none and keeps serialize-json.
    const chosen = options.codecs.length > 0 ? chooseCodec(packet.connObj.codecs) : undefined;
    const link = new FollowerLink(conn, options.responseTimeout, chosen ?? options.transcode, Array.isArray(packet.connObj.codecs), readPid(packet.connObj.pid), options.maxFrameSize);
    this.#links.set(conn, link);
    debug('%s: follower #%d registered (codec %s)', options.name, conn.id, chosen?.name ?? 'default');
    // The answer itself is in the default codec: the follower switches after reading it.
    const answer = (body: unknown, extra?: object): void => {
      // `pid` and `acks` are our extensions, for cluster-share followers only (they sent
      // `codecs`): a 3.x follower gets exactly the bytes a 3.x leader sends. `acks: false`: this
      // leader does not need pushed values acknowledged (3.x leaders wait for subscribe_result_res).
      const connObj = !link.knowsClosing ? { type: 'register_channel_res' }
        : chosen ? { type: 'register_channel_res', codec: chosen.name, pid: process.pid, acks: false, ...extra }
          : { type: 'register_channel_res', pid: process.pid, acks: false, ...extra };
      conn.write(encodePacket(packet.id, true, packet.timeout, connObj, options.transcode.encode(body)));
    };
    this.host.ready().then(
      () => {
        const refused = this.#refuseIdentity(packet);
        if (!refused) return answer({ success: true });
        this.#links.delete(conn);
        options.logger.warn(`[cluster-share] leader "${options.name}": refused follower #${conn.id}${link.pid === undefined ? '' : ` (pid ${link.pid})`}: ${refused.message}`);
        answer({ success: false, error: serializeError(refused) }, { leaderClass: refused.leaderClass, why: refused.why });
        conn.end();
      },
      err => answer({ success: false, error: serializeError(err) }),
    );
  }

  /**
   * A cluster-share follower says which DataClient class it expects (3.x followers say nothing
   * and are not checked): another class, or a delegated method this DataClient lacks, is refused.
   */
  #refuseIdentity(packet: Packet): (ChannelMismatchError & { why: string }) | undefined {
    const claimed = readIdentity(packet.connObj.dataClient);
    if (!claimed) return undefined;
    const real = this.host.realClient as Record<string, unknown>;
    const leaderClass = this.#dataClientClass;
    const why = identityMismatch([leaderClass, ...classChain(Object.getPrototypeOf(real) as object | null)], method => typeof real[method] === 'function', claimed);
    if (why === undefined) return undefined;
    return Object.assign(new ChannelMismatchError(this.host.options.name, leaderClass, claimed.class, why, process.pid), { why });
  }

  // ConnectionHandler for registered followers.
  onRequest(packet: Packet, conn: Connection): void {
    const { connObj } = packet;
    switch (connObj.type) {
      case 'invoke':
        this.#onInvoke(packet, conn);
        break;
      case 'subscribe': {
        const link = this.#links.get(conn);
        if (link) this.host.subscribe(this.host.keyOf(connObj.reg), connObj.reg, link);
        break;
      }
      case 'unSubscribe': {
        const link = this.#links.get(conn);
        if (link) this.host.unSubscribe(this.host.keyOf(connObj.reg), link);
        break;
      }
      case 'heartbeat':
        conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'heartbeat_res' }));
        break;
      case STATUS:
        this.#server.answerStatus(packet, conn);
        break;
      default:
        this.host.options.logger.warn(`[cluster-share] leader "${this.host.options.name}": unknown packet type ${JSON.stringify(connObj.type)} from follower #${conn.id}; ignored`);
    }
  }

  onClose(conn: Connection, err: Error | undefined): void {
    const link = this.#links.get(conn);
    if (!link) return;
    this.#links.delete(conn);
    addTraffic(this.#pastTraffic, conn.traffic);
    this.host.removeSubscriber(link);
    debug('%s: follower #%d gone%s', this.host.options.name, conn.id, err ? `: ${err.message}` : '');
    this.#checkDrained();
  }

  onProtocolError(err: ProtocolError | WriteBufferFullError, conn: Connection): void {
    this.host.options.logger.warn(`[cluster-share] leader "${this.host.options.name}": follower #${conn.id}: ${err.message}`);
  }

  #onInvoke(packet: Packet, conn: Connection): void {
    const { connObj } = packet;
    const method = String(connObj.method);
    const oneway = connObj.oneway === true;
    const { logger, name } = this.host.options;
    const { codec } = this.#links.get(conn)!;
    let args: unknown[];
    try {
      args = decodeInvokeArgs(packetData(packet), Number(connObj.argLength ?? 0), codec);
    } catch (err) {
      // ERR_CLUSTER_DECODE or ERR_CLUSTER_PROTOCOL; the stream is still in sync, so only this call fails.
      logger.warn(`[cluster-share] leader "${name}": invoke ${method} from follower #${conn.id}: ${(err as Error).message}`);
      if (!oneway) this.#answer(conn, packet, false, codec.encode(serializeError(err)));
      return;
    }
    const link = this.#links.get(conn)!;
    this.#inFlight++;
    link.inFlight++;
    const done = (err: unknown, result?: unknown): void => {
      link.inFlight--;
      this.#settle();
      if (err) this.#emitError(new FollowerCallError(name, method, link.pid, err));
      if (oneway) return;
      let data: Buffer;
      let success = !err;
      try {
        data = codec.encode(err ? serializeError(err) : result);
      } catch (encodeErr) {
        success = false;
        data = codec.encode(serializeError(encodeErr));
      }
      this.#answer(conn, packet, success, data);
    };
    // Tracing (src/tracing.ts): the caller's carrier, validated, continues its trace here.
    if (!serveTraced()) {
      this.host.invoke(method, args, done);
      return;
    }
    const trace: ServeTraceMessage = {
      name, method, oneway, role: 'leader', pid: process.pid, followerPid: link.pid, carrier: checkCarrier(connObj.carrier) ?? {}, args,
    };
    serveChannel.traceCallback(this.#invokeHost, 2, trace, this, method, args, done);
  }

  readonly #invokeHost = (method: string, args: unknown[], callback: (err: unknown, result?: unknown) => void): void => {
    this.host.invoke(method, args, callback);
  };

  /** Traffic with every follower this leader served, present and past. */
  override get traffic(): Traffic {
    const total = addTraffic(noTraffic(), this.#pastTraffic);
    for (const conn of this.#links.keys()) addTraffic(total, conn.traffic);
    return total;
  }

  override followers(): FollowerStats[] {
    const { name } = this.host.options;
    return [...this.#links.values()].map(link => ({
      connection: link.conn.id,
      pid: link.pid,
      channel: name,
      inFlightCalls: link.inFlight,
      subscriptions: this.host.subscriptionCount(link),
      codec: codecName(link.codec),
      connectedAt: link.conn.connectedAt,
      traffic: { ...link.conn.traffic },
    }));
  }

  // ChannelHandler: what an observer is told about this channel.
  status(): ChannelStatus {
    const followers = this.followers();
    return {
      name: this.host.options.name,
      leaderInFlightCalls: this.inFlightCalls,
      followerInFlightCalls: followers.reduce((sum, f) => sum + f.inFlightCalls, 0),
      subscriptions: this.host.subscriptionCount(),
      followers,
    };
  }

  /**
   * What goes wrong with the followers is emitted as 'error' on the leader's client, on a later
   * turn (as 3.x does), unless the leader is closing.
   */
  #emitError(err: Error): void {
    if (this.#closing) return;
    setImmediate(() => {
      if (!this.#closing) this.events.emit('error', err);
    });
  }

  /**
   * Answers one call. A result too large for the follower to accept (maxFrameSize) is answered
   * with ERR_CLUSTER_FRAME_TOO_LARGE instead: only that call fails, the connection stays.
   */
  #answer(conn: Connection, packet: Packet, success: boolean, data: Buffer): void {
    const { maxFrameSize } = this.host.options;
    let answer = encodePacket(packet.id, true, packet.timeout, { type: 'invoke_result', success }, data);
    if (answer.length > maxFrameSize) {
      const err = new FrameTooLargeError(`the ${success ? 'result' : 'error'} of ${String(packet.connObj.method)}()`, answer.length, maxFrameSize);
      this.host.options.logger.warn(`[cluster-share] leader "${this.host.options.name}": follower #${conn.id}: ${err.message}`);
      answer = encodePacket(packet.id, true, packet.timeout, { type: 'invoke_result', success: false }, this.#links.get(conn)!.codec.encode(serializeError(err)));
    }
    conn.write(answer);
  }

  #settle(): void {
    this.#inFlight--;
    this.#checkDrained();
  }

  /** While closing: done when every call is answered and every cluster-share follower has left. */
  #checkDrained(): void {
    if (!this.#drained || this.#inFlight > 0) return;
    for (const link of this.#links.values()) if (link.knowsClosing) return;
    this.#drained();
  }

  #checkHeartbeats(): void {
    const maxIdle = this.host.options.heartbeatInterval * 3;
    const now = Date.now();
    for (const conn of this.#links.keys()) {
      const idle = now - conn.lastActiveTime;
      if (idle > maxIdle) {
        const pid = this.#links.get(conn)?.pid;
        const err = new HeartbeatTimeoutError(idle, maxIdle, `follower #${conn.id}${pid === undefined ? '' : ` (pid ${pid})`}`);
        conn.destroy(err);
        this.#emitError(err);
      }
    }
  }

  /**
   * Graceful handover: releases the port first (followers can elect a successor at once), tells
   * the cluster-share followers it is closing (they send new calls to the successor and end
   * their connection once their calls here are answered), answers every call already received,
   * then closes the remaining connections and the DataClient. Bounded by responseTimeout.
   * Idempotent.
   */
  override close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    const { name, responseTimeout } = this.host.options;
    const released = this.#server.removeChannel(name);
    for (const link of this.#links.values()) {
      if (link.knowsClosing) link.conn.write(encodePacket(nextRequestId(), false, responseTimeout, { type: LEADER_CLOSING }));
    }
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => {
        debug('%s: close: %d calls and %d followers still busy after %dms', name, this.#inFlight, this.#links.size, responseTimeout);
        resolve();
      }, responseTimeout);
      this.#drained = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#checkDrained();
    });
    for (const conn of this.#links.keys()) {
      conn.end();
      // A follower that does not close its side in time is cut off.
      setTimeout(() => conn.destroy(), responseTimeout).unref();
    }
    this.detach();
    await released;
    await this.host.close();
  }
}
