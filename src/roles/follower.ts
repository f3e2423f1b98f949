/**
 * A follower: a framed socket to the leader. Registers its channel, forwards invoke /
 * subscribe / unSubscribe / publish, answers pushed values, and sends heartbeats.
 */
import fs from 'node:fs';
import net from 'node:net';
import { debuglog } from 'node:util';
import {
  AuthError, ChannelMismatchError, ClusterShareError, LeaderUnresponsiveError, ChannelNotFoundError, ClientClosedError, FrameTooLargeError, ConnectTimeoutError, DecodeError, LeaderLostError, LeaderStartError, PortConflictError, ProtocolError,
  ResponseTimeoutError, reviveError, UserRefusedError, type SerializedError, type WriteBufferFullError,
} from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { AUTH_CHALLENGE, newNonce, proof, proofMatches, readNonce } from '../protocol/auth.js';
import { decodeRange } from '../protocol/codec.js';
import { type Codec, encodeInvokeArgs, encodePacket, LEADER_CLOSING, nextRequestId, type Packet, readPid, TAKEN_OVER } from '../protocol/packet.js';
import type { FollowerStats } from '../stats.js';
import type { Traffic } from '../stats.js';
import { Connection, type ConnectionHandler, type RequestErrors } from '../transport/connection.js';
import { connectSocket, describeEndpoint } from '../transport/endpoint.js';
import { rendezvousOf } from '../transport/rendezvous.js';
import type { DataClientIdentity } from '../protocol/identity.js';
import type { InvokeCallback } from '../delegates.js';
import type { Role, RoleKind, RoleSink } from './role.js';

const debug = debuglog('cluster-share:follower');

/**
 * The connection object of an invoke. `carrier` (our extension, only when a tracing subscriber
 * filled it) carries the caller's trace context to the leader; 3.x leaders ignore it.
 */
function invokeHead(method: string, args: unknown[], oneway: boolean, carrier: Record<string, string> | undefined): { type: string; [field: string]: unknown } {
  return carrier ? { type: 'invoke', method, argLength: args.length, oneway, carrier } : { type: 'invoke', method, argLength: args.length, oneway };
}

/** How often a follower checks its leader: a sixth of leaderTimeout, between 20 and 500 ms. */
function watchdogPeriod(leaderTimeout: number): number {
  return Math.max(20, Math.min(500, Math.floor(leaderTimeout / 6)));
}

/** Registrations whose connection the peer closed without answering (and without announcing a close). */
const unanswered = new WeakSet<Error>();

/** Extra time a follower waits for the answer to register_channel beyond what it asked the leader to hold it. */
const REGISTER_ANSWER_MARGIN = 1000;
/** How long a registration may go unanswered before a heartbeat checks that a leader holds the port. */
const REGISTER_PROBE_DELAY = 300;

/** How a follower's unanswered calls fail; `address` is the leader's, as 3.x names it in its message. */
function followerErrors(address: string): RequestErrors {
  return {
    timeout: (label, timeout) => new ResponseTimeoutError(label, timeout, 'the leader did not answer', address),
    closed: (label, cause) => new LeaderLostError(label, { cause }),
  };
}


export class FollowerRole implements Role, ConnectionHandler {
  readonly options: ResolvedOptions;
  readonly sink: RoleSink;
  readonly conn: Connection;
  readonly #publishMethod: string | undefined;
  /** Until the leader answers register_channel: the default codec; then the one it chose. */
  #codec: Codec;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  /** Checks that the leader still answers (leaderTimeout), probing it when it is quiet. */
  #watchdog: NodeJS.Timeout | undefined;
  /** Registered: the leader accepted this follower. */
  #registered = false;
  /** The leader announced it is closing; no new calls are sent here. */
  #retiring = false;
  /** The last bad frame from the peer (during registration it means a foreign program). */
  #protocolError: ProtocolError | undefined;
  #closing: Promise<void> | undefined;
  /** The leader's pid, if it said (our extension of register_channel_res). */
  #leaderPid: number | undefined;
  /** Whether pushed values are acknowledged (subscribe_result_res): unless the leader said `acks: false`. */
  #ackPushes = true;
  /** Calls sent and not answered (heartbeats not counted). */
  #inFlight = 0;

  private constructor(options: ResolvedOptions, sink: RoleSink, socket: net.Socket, publishMethod: string | undefined) {
    this.options = options;
    this.sink = sink;
    this.#publishMethod = publishMethod;
    this.#codec = options.transcode;
    this.conn = new Connection(socket, this, options);
    const { endpoint } = options;
    this.conn.errors = followerErrors(endpoint.path ?? `127.0.0.1:${endpoint.port}`);
  }

  /**
   * Connects to the leader and registers the channel; resolves once the leader answered that
   * its DataClient is ready. Socket errors (ECONNREFUSED: nobody leads) are rethrown as they
   * are so the caller can compete again; a leader's refusal is a coded error.
   */
  static async connect(
    options: ResolvedOptions, sink: RoleSink, publishMethod: string | undefined, identity: DataClientIdentity, connectTimeout: number, signal: AbortSignal,
    takeover = false, mayTakeOver = false,
  ): Promise<FollowerRole> {
    const socket = await connectSocket(options.endpoint, connectTimeout, {
      signal,
      error: () => new ClientClosedError(options.name, 'closed while connecting to the leader'),
    });
    const role = new FollowerRole(options, sink, socket, publishMethod);
    // Closed while waiting for the registration answer: give up the connection at once.
    const closed = (): ClientClosedError => new ClientClosedError(options.name, 'closed while registering with the leader');
    const onAbort = (): void => role.conn.destroy(closed());
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal.aborted) onAbort();
      await role.#register(Date.now() + connectTimeout, identity, takeover, mayTakeOver);
    } catch (err) {
      role.conn.destroy();
      throw signal.aborted ? closed() : err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (role.#retiring) {
      // The leader announced its close right behind its answer: compete for its successor.
      role.conn.destroy();
      throw new LeaderLostError(`register_channel "${options.name}"`, { cause: new Error('the leader is closing') });
    }
    role.#startHeartbeat();
    role.#startWatchdog();
    return role;
  }

  /**
   * Whether `err` is a registration whose connection the peer closed without any answer: a
   * leader dying does that once (its port is then free), a program squatting the port does it
   * every time.
   */
  static unanswered(err: unknown): boolean {
    return err instanceof Error && unanswered.has(err);
  }

  get kind(): RoleKind {
    return 'follower';
  }

  get isLeader(): boolean {
    return false;
  }

  get leaderPid(): number | undefined {
    return this.#leaderPid;
  }

  get inFlightCalls(): number {
    return this.#inFlight;
  }

  get traffic(): Traffic {
    return { ...this.conn.traffic };
  }

  followers(): FollowerStats[] {
    return [];
  }

  /**
   * If the connection is stale, gives it up and reports the leader lost, so the client elects
   * and reconnects before anything else is written to the dead socket. Stale: this follower sent
   * nothing for more than 3 heartbeat intervals (its process was stalled), so the leader has
   * dropped it without this process having read the close yet. Calls in flight on it fail with
   * ERR_CLUSTER_LEADER_LOST. Returns whether it did.
   */
  dropIfStale(): boolean {
    const silentFor = Date.now() - this.conn.lastWriteTime;
    if (this.#retiring || this.conn.closed || silentFor <= 3 * this.options.heartbeatInterval) return false;
    const why = new Error(`this process sent nothing to the leader for more than 3 heartbeat intervals (a stalled event loop), so the leader has dropped it`);
    this.#retiring = true;
    this.#stopTimers();
    this.conn.destroy(why);
    this.sink.lost(this, why);
    return true;
  }

  /**
   * Decodes a value from the leader; a failure is a DecodeError (ERR_CLUSTER_DECODE) naming `what`
   * followed by `subject` (joined only then: a pushed value's path builds no string).
   */
  #decode(packet: Packet, what: string, subject = ''): unknown {
    if (packet.dataEnd === packet.dataStart) return undefined;
    try {
      return decodeRange(this.#codec, packet.bytes, packet.dataStart, packet.dataEnd);
    } catch (cause) {
      throw new DecodeError(`${what}${subject}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    }
  }

  /**
   * Sends register_channel and resolves when the leader answers it (once its DataClient is
   * ready). If the answer is slow, a heartbeat probes the peer: a leader answers heartbeats at
   * once. A peer that sends bytes that are not packets is a foreign program: that fails with
   * ERR_CLUSTER_PORT_CONFLICT. Silence proves nothing (a leader that is stopped, debugged or
   * busy in a long synchronous task is silent too): it is warned about once, and the
   * registration keeps waiting for its answer, up to its own wait; a leader that resumes
   * meanwhile answers it and this process follows at once. If it never answers, the
   * registration fails with ERR_CLUSTER_CONNECT_TIMEOUT, saying the peer was silent.
   */
  #register(probeDeadline: number, identity: DataClientIdentity, takeover: boolean, mayTakeOver: boolean): Promise<void> {
    const { name, maxWaitTime, codecs, port, path, secret } = this.options;
    // The leader answers only once its DataClient is ready: wait up to maxWaitTime for that.
    // Its server holds a registration for an unknown channel for the `timeout` we send, so we
    // wait a little longer than that to receive its ERR_CLUSTER_CHANNEL_NOT_FOUND answer.
    const wait = Math.max(maxWaitTime, this.options.responseTimeout);
    // With a secret: our nonce, and the leader's once it has proved itself (see protocol/auth.ts).
    const nonce = secret === undefined ? undefined : newNonce();
    let leaderProved = false;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(probeTimer);
        clearInterval(rendezvousCheck);
        if (err) reject(err);
        else resolve();
      };
      const refuse = (err: Error): void => {
        settle(err);
        this.conn.destroy(err);
      };
      const conflict = (why: string, cause?: Error): void => refuse(new PortConflictError(name, path ?? port, why, { cause }));
      // Set when the probe went unanswered: the peer is silent (hung, or not a leader at all).
      let silentFor: number | undefined;
      // A peer that answered nothing at all for leaderTimeout while an interim leader serves on
      // the takeover rendezvous is the hung leader: join the interim leader instead of waiting.
      const { leaderTimeout } = this.options;
      const registeredAt = this.conn.lastActiveTime;
      const rendezvousCheck = leaderTimeout > 0 && !takeover ? setInterval(() => {
        const silent = Date.now() - registeredAt;
        if (this.conn.lastActiveTime !== registeredAt || silent < leaderTimeout) return;
        // A client that knows its group is cluster-share (it led or followed a cluster-share
        // leader) may elect an interim leader itself; another only joins one that exists.
        if (!mayTakeOver) {
          const rendezvous = rendezvousOf(this.options.endpoint);
          if (!('endpoint' in rendezvous) || !fs.existsSync(rendezvous.endpoint.path)) return;
        }
        refuse(new LeaderUnresponsiveError(name, silent, undefined, mayTakeOver ? 'electing an interim leader' : 'an interim leader serves meanwhile: joining it'));
      }, watchdogPeriod(leaderTimeout)) : undefined;
      rendezvousCheck?.unref();
      // Not sent at once: a 3.x leader drops a packet that arrives together with register_channel.
      const probeTimer = takeover ? undefined : setTimeout(() => {
        const probeId = nextRequestId();
        // Within the election's budget, but never less than a call gets for its answer.
        const timeout = Math.max(this.options.responseTimeout, probeDeadline - Date.now());
        this.conn.request(probeId, encodePacket(probeId, false, timeout, { type: 'heartbeat' }), timeout, 'heartbeat', err => {
          if (!(err instanceof ResponseTimeoutError) || settled) return;
          silentFor = REGISTER_PROBE_DELAY + timeout;
          this.options.logger.warn(`[cluster-share] "${name}": the leader on ${describeEndpoint(this.options.endpoint)} has not answered for ${silentFor}ms (a stopped or blocked process, or a program that does not speak the cluster-client protocol); still waiting for it up to ${wait}ms`);
        });
      }, REGISTER_PROBE_DELAY);

      const send = (auth: { nonce: string; proof?: string } | undefined): void => {
        const id = nextRequestId();
        // `codecs` is our extension (a 3.x leader ignores it): the codecs we speak, best first. Sent
        // even when empty, so a cluster-share leader knows this follower understands leader_closing.
        // `pid` (also ours) lets the leader show who its followers are; `dataClient` (ours) lets it
        // refuse a follower that expects another DataClient class (protocol/identity.ts).
        // `takeover` (ours): an interim leader asks the hung leader to step down (README "A hung leader").
        const connObj = {
          type: 'register_channel', channelName: name, codecs: codecs.map(c => c.name), pid: process.pid, dataClient: identity,
          ...(auth ? { auth } : {}), ...(takeover ? { takeover: true } : {}),
        };
        this.conn.request(id, encodePacket(id, false, wait, connObj), wait + REGISTER_ANSWER_MARGIN, `register_channel "${name}"`, onAnswer);
      };

      const onAnswer = (err: Error | null, packet?: Packet): void => {
        if (err) {
          if (this.#protocolError) return conflict(`it sent bytes that are not packets: ${this.#protocolError.message}`, this.#protocolError);
          if (err instanceof LeaderLostError && !this.#retiring) unanswered.add(err);
          if (err instanceof ResponseTimeoutError) {
            const why = silentFor === undefined ? 'it answered heartbeats but not register_channel' : 'it answered neither register_channel nor a heartbeat';
            return settle(new ConnectTimeoutError(name, path ?? port, wait + REGISTER_ANSWER_MARGIN, { cause: new Error(`the leader on ${describeEndpoint(this.options.endpoint)} did not answer (${why}): a stopped or blocked leader, or a program that does not speak the protocol`, { cause: err }) }));
          }
          return settle(err);
        }
        let body: { success?: boolean; error?: SerializedError } | undefined;
        try {
          body = this.#decode(packet!, 'register_channel answer') as typeof body;
        } catch (decodeErr) {
          return settle(decodeErr as Error);
        }
        const { connObj } = packet!;
        if (body?.success) {
          if (secret !== undefined && !leaderProved) {
            return refuse(new AuthError(`the leader of "${name}" does not use the shared secret; set the same options.secret (or NODE_CLUSTER_CLIENT_SECRET) in every process`));
          }
          const chosen = connObj.codec;
          this.#codec = codecs.find(c => c.name === chosen) ?? this.options.transcode;
          this.#leaderPid = readPid(connObj.pid);
          this.#ackPushes = connObj.acks !== false;
          debug('%s: registered, codec %s', name, chosen ?? 'default');
          this.#registered = true;
          return settle(undefined);
        }
        const error = body?.error ?? { message: 'register_channel refused without a reason' };
        if (error.code === AUTH_CHALLENGE && secret !== undefined && nonce !== undefined && !leaderProved) {
          const challenge = readNonce(connObj.challenge);
          if (!challenge || !proofMatches(connObj.proof, proof(secret, 'leader', name, nonce, challenge))) {
            return refuse(new AuthError(`the leader of "${name}" did not prove the shared secret (a different secret, or not a cluster-share leader)`));
          }
          leaderProved = true;
          return send({ nonce, proof: proof(secret, 'follower', name, challenge, nonce) });
        }
        if (error.code === 'ERR_CLUSTER_AUTH_FAILED' || error.code === AUTH_CHALLENGE) {
          return refuse(new AuthError(`the leader of "${name}" refused this follower: ${error.message ?? 'no reason'}`));
        }
        if (error.code === TAKEN_OVER) {
          return refuse(new ClusterShareError(`[cluster-share] "${name}": ${error.message ?? 'the leader stepped down'}`, TAKEN_OVER));
        }
        if (error.code === 'ERR_CLUSTER_USER_REFUSED') {
          return refuse(new UserRefusedError(String(error.message ?? 'refused').replace(/^\[cluster-share\] /, ''), typeof (error as { uid?: unknown }).uid === 'number' ? (error as { uid: number }).uid : process.getuid?.()));
        }
        if (error.code === 'ERR_CLUSTER_CHANNEL_NOT_FOUND') {
          return settle(new ChannelNotFoundError(name, wait, readPid(connObj.pid), Array.isArray(connObj.channels) ? connObj.channels.map(String) : undefined));
        }
        if (error.code === 'ERR_CLUSTER_CHANNEL_MISMATCH') {
          return refuse(new ChannelMismatchError(name, String(connObj.leaderClass), identity.class, String(connObj.why), readPid(connObj.pid)));
        }
        settle(new LeaderStartError(name, error));
      };

      send(nonce === undefined ? undefined : { nonce });
    });
  }

  #startHeartbeat(): void {
    const { heartbeatInterval } = this.options;
    this.#heartbeatTimer = setInterval(() => {
      // After a stall this timer runs first: a heartbeat now would hide that we were dropped.
      if (this.dropIfStale()) return;
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

  /**
   * Takeover (leaderTimeout > 0, behind a cluster-share leader only: a 3.x leader would never step
   * down). Every `period` ms: a leader quiet for a period is probed with a heartbeat, which it
   * answers at once however busy its DataClient is; a leader that answered nothing at all for
   * leaderTimeout is hung. A tick that comes late means this process itself was stalled, and what
   * the leader sent meanwhile is not read yet: the silence is judged after the sockets were read
   * (setImmediate runs after the poll phase of this turn of the event loop).
   */
  #startWatchdog(): void {
    const { leaderTimeout } = this.options;
    if (leaderTimeout <= 0 || this.#leaderPid === undefined) return;
    const period = watchdogPeriod(leaderTimeout);
    let lastTick = Date.now();
    let probing = false;
    const check = (): void => {
      if (this.#retiring) return;
      const silentFor = Date.now() - this.conn.lastActiveTime;
      if (silentFor >= leaderTimeout) {
        this.#unresponsive(silentFor);
        return;
      }
      // Half a period: the leader is probed at least once a period, so a stall shorter than
      // leaderTimeout minus one period is never taken for a hang.
      if (silentFor < period / 2 || probing) return;
      probing = true;
      const id = nextRequestId();
      this.conn.request(id, encodePacket(id, false, leaderTimeout, { type: 'heartbeat' }), leaderTimeout, 'heartbeat', () => {
        probing = false;
      });
    };
    this.#watchdog = setInterval(() => {
      const now = Date.now();
      const late = now - lastTick > 2 * period + 50;
      lastTick = now;
      if (late) setImmediate(check);
      else check();
    }, period);
    this.#watchdog.unref();
  }

  /** The leader is hung: give it up (calls in flight fail, never re-sent) and elect an interim leader. */
  #unresponsive(silentFor: number): void {
    this.#retiring = true;
    this.#stopTimers();
    const err = new LeaderUnresponsiveError(this.options.name, silentFor, this.#leaderPid);
    this.options.logger.warn(err.message);
    this.conn.destroy(err);
    this.sink.leaderUnresponsive(this, err);
  }

  #stopTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearInterval(this.#watchdog);
  }

  invoke(method: string, args: unknown[], callback: InvokeCallback, timeout = this.options.responseTimeout, carrier?: Record<string, string>): number {
    const id = nextRequestId();
    let buf: Buffer;
    try {
      buf = this.#checkSize(encodePacket(id, false, timeout, invokeHead(method, args, false, carrier), encodeInvokeArgs(args, this.#codec)), method);
    } catch (err) {
      process.nextTick(callback, err);
      return 0;
    }
    this.#inFlight++;
    this.conn.request(id, buf, timeout, method, (err, packet) => {
      this.#inFlight--;
      if (err) return callback(err);
      let value: unknown;
      try {
        value = this.#decode(packet!, `result of ${method}`);
      } catch (decodeErr) {
        return callback(decodeErr);
      }
      if (packet!.connObj.success === true) callback(null, value);
      else callback(reviveError(value as SerializedError));
    });
    return id;
  }

  forget(id: number): void {
    if (this.conn.forget(id)) this.#inFlight--;
  }

  invokeOneway(method: string, args: unknown[], carrier?: Record<string, string>): void {
    this.conn.write(this.#checkSize(encodePacket(nextRequestId(), false, this.options.responseTimeout, invokeHead(method, args, true, carrier), encodeInvokeArgs(args, this.#codec)), method));
  }

  /** A packet the leader would refuse (and drop this connection for) is not sent: only this call fails. */
  #checkSize(packet: Buffer, method: string): Buffer {
    if (packet.length > this.options.maxFrameSize) throw new FrameTooLargeError(`the call ${method}()`, packet.length, this.options.maxFrameSize);
    return packet;
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
    if (connObj.type === LEADER_CLOSING) {
      this.#onLeaderClosing();
      return;
    }
    if (connObj.type !== 'subscribe_result') {
      this.options.logger.warn(`[cluster-share] follower "${this.options.name}": unknown packet type ${JSON.stringify(connObj.type)} from the leader; ignored`);
      return;
    }
    // Acknowledge as 3.x followers do (a 3.x leader waits for it); a cluster-share leader said it need not.
    if (this.#ackPushes) conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'subscribe_result_res' }));
    let value: unknown;
    try {
      value = this.#decode(packet, 'subscription value for ', String(connObj.key));
    } catch (err) {
      this.options.logger.warn(`[cluster-share] follower "${this.options.name}": ${(err as Error).message}; not delivered`);
      return;
    }
    this.sink.deliver(String(connObj.key), value);
  }

  /**
   * Graceful handover (our extension, sent only to followers that offered `codecs`): the leader
   * released the port. Before registration: give up this connection and compete again. After:
   * the client elects a successor while this connection waits for the answers of the calls it
   * already sent, then ends.
   */
  #onLeaderClosing(): void {
    if (this.#retiring || this.#closing) return;
    this.#retiring = true;
    this.#stopTimers();
    if (!this.#registered) {
      this.conn.destroy(new LeaderLostError(`register_channel "${this.options.name}"`, { cause: new Error('the leader is closing') }));
      return;
    }
    debug('%s: leader closing; %d calls to finish', this.options.name, this.conn.pendingCount);
    this.sink.leaderClosing(this);
    void this.conn.whenIdle().then(() => this.conn.end());
  }

  onClose(_conn: Connection, err: Error | undefined): void {
    this.#stopTimers();
    if (this.#closing || this.#retiring) return;
    debug('%s: lost the leader%s', this.options.name, err ? `: ${err.message}` : '');
    this.sink.lost(this, err);
  }

  onProtocolError(err: ProtocolError | WriteBufferFullError): void {
    if (err instanceof ProtocolError) this.#protocolError = err;
    this.options.logger.warn(`[cluster-share] follower "${this.options.name}": ${err.message}`);
  }

  /** Waits for the answers of calls already sent (bounded by responseTimeout), then closes. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopTimers();
      await this.conn.whenIdle();
      this.conn.end();
    })();
    return this.#closing;
  }
}
