/**
 * A follower: a framed socket to the leader. Registers its channel, forwards invoke /
 * subscribe / unSubscribe / publish, answers pushed values, and sends heartbeats.
 */
import net from 'node:net';
import { debuglog } from 'node:util';
import {
  ChannelNotFoundError, ClientClosedError, DecodeError, LeaderLostError, LeaderStartError, type ProtocolError, ResponseTimeoutError,
  reviveError, type SerializedError,
} from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { type Codec, encodeInvokeArgs, encodePacket, nextRequestId, type Packet } from '../protocol/packet.js';
import { Connection, type ConnectionHandler, type RequestErrors } from '../transport/connection.js';
import { LOOPBACK_HOST } from '../transport/port-server.js';
import type { InvokeCallback } from './host.js';
import type { Role, RoleKind, RoleSink } from './role.js';

const debug = debuglog('cluster-share:follower');

/** Extra time a follower waits for the answer to register_channel beyond what it asked the leader to hold it. */
const REGISTER_ANSWER_MARGIN = 1000;

const followerErrors: RequestErrors = {
  timeout: (label, timeout) => new ResponseTimeoutError(label, timeout, 'the leader did not answer'),
  closed: (label, cause) => new LeaderLostError(label, { cause }),
};

/** Connects to the leader's port. Rejects with the socket error (ECONNREFUSED when no one listens). */
function connectSocket(port: number, timeout: number, signal: AbortSignal, name: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: LOOPBACK_HOST });
    const fail = (err: Error): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new ClientClosedError(name, 'closed while connecting to the leader'));
    const timer = setTimeout(() => {
      fail(Object.assign(new Error(`connect to ${LOOPBACK_HOST}:${port} timed out after ${timeout}ms`), { code: 'ETIMEDOUT' }));
    }, timeout);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', fail);
  });
}

export class FollowerRole implements Role, ConnectionHandler {
  readonly options: ResolvedOptions;
  readonly sink: RoleSink;
  readonly conn: Connection;
  readonly #publishMethod: string | undefined;
  /** Until the leader answers register_channel: the default codec; then the one it chose. */
  #codec: Codec;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: ResolvedOptions, sink: RoleSink, socket: net.Socket, publishMethod: string | undefined) {
    this.options = options;
    this.sink = sink;
    this.#publishMethod = publishMethod;
    this.#codec = options.transcode;
    this.conn = new Connection(socket, this);
    this.conn.errors = followerErrors;
  }

  /**
   * Connects to the leader and registers the channel; resolves once the leader answered that
   * its DataClient is ready. Socket errors (ECONNREFUSED: nobody leads) are rethrown as they
   * are so the caller can compete again; a leader's refusal is a coded error.
   */
  static async connect(
    options: ResolvedOptions, sink: RoleSink, publishMethod: string | undefined, connectTimeout: number, signal: AbortSignal,
  ): Promise<FollowerRole> {
    const socket = await connectSocket(options.port, connectTimeout, signal, options.name);
    const role = new FollowerRole(options, sink, socket, publishMethod);
    // Closed while waiting for the registration answer: give up the connection at once.
    const onAbort = (): void => role.conn.destroy(new ClientClosedError(options.name, 'closed while registering with the leader'));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal.aborted) onAbort();
      await role.#register();
    } catch (err) {
      role.conn.destroy();
      throw signal.aborted ? new ClientClosedError(options.name, 'closed while registering with the leader') : err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    role.#startHeartbeat();
    return role;
  }

  get kind(): RoleKind {
    return 'follower';
  }

  get isLeader(): boolean {
    return false;
  }

  get leaderPid(): number | undefined {
    return undefined;
  }

  /** The codec in use with the leader: `tagged-v1` with a cluster-share leader, else the default. */
  get codec(): Codec {
    return this.#codec;
  }

  /** Decodes a value from the leader; a failure is an ERR_CLUSTER_DECODE error. */
  #decode(data: Buffer | undefined, what: string): unknown {
    if (!data) return undefined;
    try {
      return this.#codec.decode(data);
    } catch (cause) {
      throw new DecodeError(`${what}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    }
  }

  #register(): Promise<void> {
    const { name, maxWaitTime, codecs } = this.options;
    const id = nextRequestId();
    // The leader answers only once its DataClient is ready: wait up to maxWaitTime for that.
    // Its server holds a registration for an unknown channel for the `timeout` we send, so we
    // wait a little longer than that to receive its ERR_CLUSTER_CHANNEL_NOT_FOUND answer.
    const wait = Math.max(maxWaitTime, this.options.responseTimeout);
    // Offering codecs is our extension: a 3.x leader ignores the field and answers without one.
    const connObj = codecs.length > 0
      ? { type: 'register_channel', channelName: name, codecs: codecs.map(c => c.name) }
      : { type: 'register_channel', channelName: name };
    const buf = encodePacket(id, false, wait, connObj);
    return new Promise((resolve, reject) => {
      this.conn.request(id, buf, wait + REGISTER_ANSWER_MARGIN, `register_channel "${name}"`, (err, packet) => {
        if (err) return reject(err);
        let body: { success?: boolean; error?: SerializedError } | undefined;
        try {
          body = this.#decode(packet!.data, 'register_channel answer') as typeof body;
        } catch (decodeErr) {
          return reject(decodeErr);
        }
        if (body?.success) {
          const chosen = packet!.connObj.codec;
          this.#codec = codecs.find(c => c.name === chosen) ?? this.options.transcode;
          debug('%s: registered, codec %s', name, chosen ?? 'default');
          return resolve();
        }
        const error = body?.error ?? { message: 'register_channel refused without a reason' };
        if (error.code === 'ERR_CLUSTER_CHANNEL_NOT_FOUND') return reject(new ChannelNotFoundError(name, wait));
        reject(new LeaderStartError(name, error));
      });
    });
  }

  #startHeartbeat(): void {
    const { heartbeatInterval } = this.options;
    this.#heartbeatTimer = setInterval(() => {
      const id = nextRequestId();
      // A leader that does not answer a heartbeat within one interval is considered gone.
      this.conn.request(id, encodePacket(id, false, heartbeatInterval, { type: 'heartbeat' }), heartbeatInterval, 'heartbeat', err => {
        if (err instanceof ResponseTimeoutError) {
          this.options.logger.warn(`[cluster-share] follower "${this.options.name}": leader missed a heartbeat; reconnecting`);
          this.conn.destroy(err);
        }
      });
    }, heartbeatInterval);
    this.#heartbeatTimer.unref();
  }

  invoke(method: string, args: unknown[], callback: InvokeCallback): void {
    const { responseTimeout } = this.options;
    const id = nextRequestId();
    let buf: Buffer;
    try {
      buf = encodePacket(id, false, responseTimeout, { type: 'invoke', method, argLength: args.length, oneway: false }, encodeInvokeArgs(args, this.#codec));
    } catch (err) {
      process.nextTick(callback, err);
      return;
    }
    this.conn.request(id, buf, responseTimeout, method, (err, packet) => {
      if (err) return callback(err);
      let value: unknown;
      try {
        value = this.#decode(packet!.data, `result of ${method}`);
      } catch (decodeErr) {
        return callback(decodeErr);
      }
      if (packet!.connObj.success === true) callback(null, value);
      else callback(reviveError(value as SerializedError));
    });
  }

  invokeOneway(method: string, args: unknown[]): void {
    this.conn.write(encodePacket(nextRequestId(), false, this.options.responseTimeout, { type: 'invoke', method, argLength: args.length, oneway: true }, encodeInvokeArgs(args, this.#codec)));
  }

  subscribe(key: string, reg: unknown): void {
    this.conn.write(encodePacket(nextRequestId(), false, this.options.responseTimeout, { type: 'subscribe', key, reg }));
  }

  unSubscribe(key: string, reg: unknown): void {
    this.conn.write(encodePacket(nextRequestId(), false, this.options.responseTimeout, { type: 'unSubscribe', key, reg }));
  }

  publish(reg: unknown): void {
    if (!this.#publishMethod) {
      this.options.logger.warn(`[cluster-share] "${this.options.name}": publish called but no method is delegated to publish`);
      return;
    }
    this.invokeOneway(this.#publishMethod, [reg]);
  }

  // ConnectionHandler
  onRequest(packet: Packet, conn: Connection): void {
    const { connObj } = packet;
    if (connObj.type !== 'subscribe_result') {
      this.options.logger.warn(`[cluster-share] follower "${this.options.name}": unknown packet type ${JSON.stringify(connObj.type)} from the leader; ignored`);
      return;
    }
    // Acknowledge as 3.x followers do (a 3.x leader waits for it).
    conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'subscribe_result_res' }));
    let value: unknown;
    try {
      value = this.#decode(packet.data, `subscription value for ${String(connObj.key)}`);
    } catch (err) {
      this.options.logger.warn(`[cluster-share] follower "${this.options.name}": ${(err as Error).message}; not delivered`);
      return;
    }
    this.sink.deliver(String(connObj.key), value);
  }

  onClose(_conn: Connection, err: Error | undefined): void {
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    if (this.#closing) return;
    debug('%s: lost the leader%s', this.options.name, err ? `: ${err.message}` : '');
    this.sink.lost(this, err);
  }

  onProtocolError(err: ProtocolError): void {
    this.options.logger.warn(`[cluster-share] follower "${this.options.name}": ${err.message}`);
  }

  /** Waits for the answers of calls already sent (bounded by responseTimeout), then closes. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
      await this.conn.whenIdle();
      this.conn.end();
    })();
    return this.#closing;
  }
}
