/**
 * The port race and the leader's listening server. One server per port per process, shared by
 * every channel (client name) that leads on that port. A follower's first packet must be
 * `register_channel`; the server hands the connection to that channel's handler, or holds it
 * until the channel is created (bounded by the timeout the follower sent), then answers an error.
 */
import type net from 'node:net';
import { debuglog } from 'node:util';
import { AuthError, ChannelNotFoundError, UserRefusedError, type ProtocolError, type SerializedError, serializeError, type WriteBufferFullError } from '../errors.js';
import { AUTH_CHALLENGE, newNonce, observerProof, proof, proofMatches, readNonce } from '../protocol/auth.js';
import type { Logger } from '../options.js';
import { type Codec, type ConnObj, encodePacket, type Packet, readPid, STATUS, STATUS_RES, TAKEN_OVER } from '../protocol/packet.js';
import type { ChannelStatus, LeaderStatus } from '../stats.js';
import { Connection, type ConnectionHandler, type ConnectionLimits } from './connection.js';
import { describeEndpoint, type Endpoint, endpointKey, listenOn } from './endpoint.js';
import { type AllowedUids, isAllowedUid, peerUser, type PeerUser } from './peer-user.js';
import { forgetPort, type LegacyServerEntry, rememberPort } from '../compat.js';

/** What the port's server needs from the options of the client that won the port. */
export interface ServerSettings extends ConnectionLimits {
  logger: Logger;
  /** Codec of the answers the server itself sends (channel not found). */
  transcode: Codec;
  /** The shared secret followers must prove, if any. */
  secret: string | undefined;
  /** Local users besides this one (and root) that may connect (TCP on Linux). */
  allowedUsers: AllowedUids;
  /**
   * Set on the takeover rendezvous: the endpoint whose holder hangs. Such a server holds no
   * registration for a channel it does not lead: it answers "not found" at once, so the follower
   * competes on the endpoint instead.
   */
  interimFor?: Endpoint;
}

const debug = debuglog('cluster-share:server');

/** Longest time an unknown channel's registration is held waiting for the channel. */
export const MAX_CHANNEL_WAIT = 60_000;

/** A channel (one client name) that leads on this server. */
export interface ChannelHandler {
  /** A follower registered: `packet` is its register_channel request. */
  onRegister(conn: Connection, packet: Packet): void;
  /** What an observer is told about this channel. */
  status(): ChannelStatus;
  /**
   * An interim leader (pid `byPid`) took over because this process answered nothing for its
   * followers' leaderTimeout: the channel steps down, releasing the endpoint synchronously.
   */
  takenOver(byPid: number | undefined): void;
}

interface HeldRegistration {
  conn: Connection;
  packet: Packet;
  timer: NodeJS.Timeout;
}

const servers = new Map<string, PortServer>();
/** How long a refused connection stays open after its answer (a 3.x follower reconnects when it closes). */
const REFUSED_CLOSE_DELAY = 1_000;
/** Users already reported as refused, and whether "cannot check users" was said (once per process). */
const reportedUids = new Set<number | undefined>();
let reportedUnchecked = false;
/** Attempts to listen under way in this process, one per endpoint, shared by every claimant. */
const claims = new Map<string, Promise<PortServer | null>>();

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::ffff:127.0.0.1' || address === '::1';
}

export class PortServer implements ConnectionHandler {
  readonly endpoint: Endpoint;
  readonly #key: string;
  readonly #server: net.Server;
  readonly #channels = new Map<string, ChannelHandler>();
  readonly #held = new Map<string, Set<HeldRegistration>>();
  /** Connections that have not registered yet. */
  readonly #unregistered = new Set<Connection>();
  /** Unregistered connections whose registration is held for a channel not created yet. */
  readonly #heldConns = new Set<Connection>();
  /**
   * Unregistered connections that asked for the status (observers). Like every unregistered
   * connection they are closed frameTimeout after they connected, without a warning.
   */
  readonly #observers = new Set<Connection>();
  /** When this process won the endpoint. */
  readonly #since = Date.now();
  /** With a secret: the challenge sent to each connection still proving it. */
  readonly #challenges = new Map<Connection, { nonce: string; theirNonce: string }>();
  #closed = false;
  /** Connections of refused users: their first request is answered with the refusal, then closed. */
  readonly #refused = new Map<Connection, UserRefusedError>();
  readonly #answeredRefusal = new WeakSet<Connection>();
  /** Accepted connections whose user is being looked up (not served yet). */
  #identifying = 0;
  readonly #settings: ServerSettings;
  /** This port in `global.serverMap`, as 3.x code expects (TCP only). */
  readonly #legacyEntry: LegacyServerEntry | undefined;

  private constructor(endpoint: Endpoint, server: net.Server, settings: ServerSettings) {
    this.endpoint = endpoint;
    this.#key = endpointKey(endpoint);
    this.#server = server;
    this.#settings = settings;
    this.#legacyEntry = endpoint.port === undefined ? undefined : rememberPort(endpoint.port);
    server.on('connection', socket => this.#accept(socket));
    server.on('error', err => settings.logger.error(`[cluster-share] server on ${describeEndpoint(endpoint)}: ${err.message}`));
  }

  /**
   * Competes for the endpoint. Returns this process's server if it already holds it, a new
   * server if it won, or null if another process holds it. Other listen errors are thrown.
   *
   * Many clients of one process may claim the same endpoint in the same tick (egg's agent
   * creates several in one load pass): they share ONE attempt to listen, so a client never
   * loses the port to its own process.
   */
  static claim(endpoint: Endpoint, settings: ServerSettings): Promise<PortServer | null> {
    const key = endpointKey(endpoint);
    const existing = servers.get(key);
    if (existing && !existing.#closed) return Promise.resolve(existing);
    let claim = claims.get(key);
    if (!claim) {
      claim = PortServer.#listen(endpoint, key, settings).finally(() => claims.delete(key));
      claims.set(key, claim);
    }
    return claim;
  }

  static async #listen(endpoint: Endpoint, key: string, settings: ServerSettings): Promise<PortServer | null> {
    const server = await listenOn(endpoint);
    if (!server) return null;
    const instance = new PortServer(endpoint, server, settings);
    servers.set(key, instance);
    debug('listening on %s', describeEndpoint(endpoint));
    return instance;
  }

  get closed(): boolean {
    return this.#closed;
  }

  hasChannel(name: string): boolean {
    return this.#channels.has(name);
  }

  /** Adds a channel. Returns false if this process already leads that channel on this port. */
  addChannel(name: string, handler: ChannelHandler): boolean {
    if (this.#closed || this.#channels.has(name)) return false;
    this.#channels.set(name, handler);
    const held = this.#held.get(name);
    if (held) {
      this.#held.delete(name);
      for (const registration of held) {
        clearTimeout(registration.timer);
        this.#unregistered.delete(registration.conn);
        this.#heldConns.delete(registration.conn);
        if (!registration.conn.closed) handler.onRegister(registration.conn, registration.packet);
      }
    }
    return true;
  }

  /**
   * Removes a channel. When no channel is left the port is released at once (so followers can
   * elect a successor) and the unregistered connections are closed. Resolves when the
   * listening socket is closed.
   */
  async removeChannel(name: string): Promise<void> {
    this.#channels.delete(name);
    if (this.#channels.size > 0 || this.#closed) return;
    this.#closed = true;
    if (servers.get(this.#key) === this) servers.delete(this.#key);
    if (this.#legacyEntry) forgetPort(this.#legacyEntry);
    for (const conn of this.#unregistered) conn.destroy();
    this.#unregistered.clear();
    // Refused connections go too: another user's idle connection must not hold up the close.
    for (const conn of this.#refused.keys()) conn.destroy();
    this.#refused.clear();
    this.#observers.clear();
    for (const held of this.#held.values()) for (const registration of held) clearTimeout(registration.timer);
    this.#held.clear();
    await new Promise<void>(resolve => this.#server.close(() => resolve()));
    debug('released %s', describeEndpoint(this.endpoint));
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    // TCP only: a unix socket's peers are local by nature (and its file is mode 0600).
    if (this.endpoint.path === undefined && !isLoopback(socket.remoteAddress)) {
      // No address: the peer reset the connection before it was accepted; nothing to report.
      if (socket.remoteAddress === undefined) debug('a connection was reset before it was accepted');
      else this.#settings.logger.warn(`[cluster-share] refused connection from non-loopback address ${socket.remoteAddress}`);
      socket.destroy();
      return;
    }
    // A unix socket is protected by its file mode; `allowedUsers: ['*']` asks for no check (3.x).
    if (this.endpoint.path !== undefined || this.#settings.allowedUsers === 'any') {
      this.#admit(socket, undefined);
      return;
    }
    // Who owns the peer's socket (Linux). Its packets wait in the socket meanwhile (nothing
    // reads it yet); a socket error meanwhile only closes it.
    const ignore = (): void => {};
    socket.on('error', ignore);
    this.#identifying++;
    peerUser(socket).then(user => {
      this.#identifying--;
      socket.removeListener('error', ignore);
      if (socket.destroyed) return;
      this.#admit(socket, this.#refusal(user));
    }, err => {
      this.#identifying--;
      socket.removeListener('error', ignore);
      this.#settings.logger.warn(`[cluster-share] could not identify the user of a connection on ${describeEndpoint(this.endpoint)}: ${(err as Error).message}; closed`);
      socket.destroy();
    });
  }

  /** Why a connection's user may not use this leader, or undefined if it may. */
  #refusal(user: PeerUser): UserRefusedError | undefined {
    if ('unchecked' in user) {
      if (!reportedUnchecked && process.platform === 'linux') {
        reportedUnchecked = true;
        this.#settings.logger.warn(`[cluster-share] cannot tell which local user owns a connection (${user.unchecked}): every local user can connect to ${describeEndpoint(this.endpoint)}; set options.secret to keep others out`);
      }
      return undefined;
    }
    const uid = 'uid' in user ? user.uid : undefined;
    if (uid !== undefined && isAllowedUid(uid, this.#settings.allowedUsers)) return undefined;
    const who = uid === undefined ? 'a connection whose owner could not be found in /proc/net/tcp' : `a connection of uid ${uid}`;
    const err = new UserRefusedError(`the leader on ${describeEndpoint(this.endpoint)} (pid ${process.pid}, uid ${process.getuid?.()}) refused ${who}: only its own user may use its DataClient; allow others with options.allowedUsers or NODE_CLUSTER_CLIENT_ALLOWED_USERS`, uid);
    if (!reportedUids.has(uid)) {
      reportedUids.add(uid);
      this.#settings.logger.warn(`${err.message} (reported once per user)`);
    }
    return err;
  }

  /** Serves an accepted connection; a refused one gets its error as the answer to its first packet. */
  #admit(socket: net.Socket, refused: UserRefusedError | undefined): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this, this.#settings);
    if (refused) {
      this.#refused.set(conn, refused);
      setTimeout(() => conn.destroy(), this.#settings.frameTimeout).unref();
      return;
    }
    this.#unregistered.add(conn);
    debug('accepted #%d (peer port %s)', conn.id, socket.remotePort ?? 'unix');
    // A connection must register within frameTimeout (a held registration has its own timer).
    setTimeout(() => {
      if (!this.#unregistered.has(conn) || this.#heldConns.has(conn)) return;
      if (this.#observers.has(conn)) {
        debug('observer #%d: closed after frameTimeout', conn.id);
        conn.destroy();
        return;
      }
      this.#settings.logger.warn(`[cluster-share] connection #${conn.id} did not register within ${this.#settings.frameTimeout}ms (frameTimeout); closed`);
      conn.destroy();
    }, this.#settings.frameTimeout).unref();
  }

  onProtocolError(err: ProtocolError | WriteBufferFullError, conn: Connection): void {
    this.#settings.logger.warn(`[cluster-share] unregistered connection #${conn.id}: ${err.message}`);
  }

  // ConnectionHandler for connections that have not registered yet.
  onRequest(packet: Packet, conn: Connection): void {
    const { connObj } = packet;
    const refused = this.#refused.get(conn);
    if (refused) {
      // Every packet of a refused connection is refused (several may arrive in one read); the
      // first request that expects an answer gets it, then the connection ends.
      if (conn.closed || this.#answeredRefusal.has(conn)) return;
      this.#answeredRefusal.add(conn);
      const error = serializeError(refused);
      if (connObj.type === STATUS) conn.write(encodePacket(packet.id, true, packet.timeout, { type: STATUS_RES, success: false }, Buffer.from(JSON.stringify({ error }))));
      else if (connObj.type === 'register_channel') conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'register_channel_res' }, this.#settings.transcode.encode({ success: false, error })));
      // Closed a little later: a cluster-client 3.x follower reconnects the moment its connection
      // closes, and would otherwise make the leader look up its user in a tight loop.
      setTimeout(() => conn.end(), REFUSED_CLOSE_DELAY).unref();
      return;
    }
    // A heartbeat before registration is answered: it is how a follower tells a leader that is
    // still starting (or holding its registration) from a foreign program on the port.
    if (connObj.type === 'heartbeat') {
      conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'heartbeat_res' }));
      return;
    }
    if (connObj.type === STATUS) {
      this.#observers.add(conn);
      this.answerStatus(packet, conn);
      return;
    }
    if (connObj.type !== 'register_channel' || typeof connObj.channelName !== 'string') {
      this.#settings.logger.warn(`[cluster-share] connection #${conn.id} sent "${connObj.type}" before register_channel; closed`);
      conn.destroy();
      return;
    }
    const name = connObj.channelName;
    if (this.#settings.secret !== undefined && !this.#authenticate(conn, packet, name)) return;
    if (connObj.takeover === true && this.#settings.interimFor === undefined) {
      this.#takeover(conn, packet, name);
      return;
    }
    const channel = this.#channels.get(name);
    if (channel) {
      this.#unregistered.delete(conn);
      channel.onRegister(conn, packet);
      return;
    }
    if (this.#settings.interimFor !== undefined) {
      this.#answerNotFound(conn, packet, name, 0);
      return;
    }
    // The channel may be created later (lazy clients): hold the registration.
    const wait = Math.min(Math.max(packet.timeout, 0) || MAX_CHANNEL_WAIT, MAX_CHANNEL_WAIT);
    debug('holding registration of #%d for unknown channel %s up to %dms', conn.id, name, wait);
    let held = this.#held.get(name);
    if (!held) this.#held.set(name, (held = new Set()));
    this.#heldConns.add(conn);
    const registration: HeldRegistration = {
      conn,
      packet,
      timer: setTimeout(() => {
        held.delete(registration);
        this.#heldConns.delete(conn);
        if (held.size === 0 && this.#held.get(name) === held) this.#held.delete(name);
        this.#answerNotFound(conn, packet, name, wait);
      }, wait),
    };
    held.add(registration);
  }

  #answerNotFound(conn: Connection, packet: Packet, name: string, waited: number): void {
    const channels = [...this.#channels.keys()];
    const error = serializeError(new ChannelNotFoundError(name, waited, process.pid, channels));
    // Our pid and channels only for a cluster-share follower (it sent codecs): 3.x gets 3.x's bytes.
    const connObj = Array.isArray(packet.connObj.codecs) ? { type: 'register_channel_res', pid: process.pid, channels } : { type: 'register_channel_res' };
    conn.write(encodePacket(packet.id, true, packet.timeout, connObj, this.#settings.transcode.encode({ success: false, error })));
    conn.end();
  }

  /**
   * An interim leader asks this process to step down (our extension: register_channel with
   * `takeover: true`, sent by the process that led while this one answered nothing). Every
   * channel on the endpoint steps down, which releases it at once, and the answer tells the
   * interim leader to take the endpoint now. A channel this process does not lead is answered
   * "not found": this process is not the hung leader it was meant for.
   */
  #takeover(conn: Connection, packet: Packet, name: string): void {
    this.#unregistered.delete(conn);
    if (!this.#channels.has(name)) {
      this.#answerNotFound(conn, packet, name, 0);
      return;
    }
    const byPid = readPid(packet.connObj.pid);
    this.#settings.logger.warn(`[cluster-share] pid ${process.pid} answered nothing for its followers' leaderTimeout; pid ${byPid ?? '(unknown)'} led meanwhile and takes over ${describeEndpoint(this.endpoint)}: stepping down from ${[...this.#channels.keys()].map(c => `"${c}"`).join(', ')}`);
    for (const channel of [...this.#channels.values()]) channel.takenOver(byPid);
    const error = { name: 'TakenOver', message: `pid ${process.pid} stepped down; ${describeEndpoint(this.endpoint)} is free`, code: TAKEN_OVER };
    conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'register_channel_res', pid: process.pid }, this.#settings.transcode.encode({ success: false, error })));
    conn.end();
  }

  /** This leader's status: who leads, since when, and each channel's followers and calls. */
  status(): LeaderStatus {
    const now = Date.now();
    const { interimFor } = this.#settings;
    return {
      leader: {
        pid: process.pid, since: this.#since, uptimeMs: now - this.#since, node: process.version, endpoint: describeEndpoint(this.endpoint),
        ...(interimFor === undefined ? {} : { interimFor: describeEndpoint(interimFor) }),
      },
      channels: [...this.#channels.values()].map(channel => channel.status()),
      pendingConnections: this.#unregistered.size - this.#observers.size + this.#identifying,
    };
  }

  /**
   * Answers a status request (our extension; JSON data whatever the codecs). With a secret the
   * observer must prove it: `auth: { nonce, proof: HMAC(secret, "observer", "status", nonce, nonce) }`.
   */
  answerStatus(packet: Packet, conn: Connection): void {
    let body: unknown;
    const secret = this.#settings.secret;
    const auth = packet.connObj.auth as { nonce?: unknown; proof?: unknown } | undefined;
    const nonce = readNonce(auth?.nonce);
    if (secret !== undefined && (!nonce || !proofMatches(auth?.proof, observerProof(secret, nonce)))) {
      this.#settings.logger.warn(`[cluster-share] connection #${conn.id} asked for the status without proving the shared secret; refused`);
      body = { error: serializeError(new AuthError('this leader requires the shared secret for its status (--secret or NODE_CLUSTER_CLIENT_SECRET)')) };
    } else {
      body = this.status();
    }
    conn.write(encodePacket(packet.id, true, packet.timeout, { type: STATUS_RES, success: !('error' in (body as object)) }, Buffer.from(JSON.stringify(body))));
  }

  /**
   * The shared secret (protocol/auth.ts): challenges a registration without proof, checks one
   * with proof. Returns true once the follower proved it; otherwise it answered (challenge or
   * refusal) and the registration stops here.
   */
  #authenticate(conn: Connection, packet: Packet, channel: string): boolean {
    const secret = this.#settings.secret!;
    const auth = packet.connObj.auth as { nonce?: unknown; proof?: unknown } | undefined;
    const theirNonce = readNonce(auth?.nonce);
    const answer = (connObj: ConnObj, error: SerializedError): void => {
      conn.write(encodePacket(packet.id, true, packet.timeout, connObj, this.#settings.transcode.encode({ success: false, error })));
    };
    const refuse = (why: string): false => {
      const err = new AuthError(why);
      this.#settings.logger.warn(`[cluster-share] connection #${conn.id} registering "${channel}": ${err.message}; closed`);
      this.#challenges.delete(conn);
      answer({ type: 'register_channel_res' }, serializeError(err));
      conn.end();
      return false;
    };
    if (!theirNonce) return refuse('this leader requires the shared secret (options.secret or NODE_CLUSTER_CLIENT_SECRET); cluster-client 3.x processes cannot join while it is set');
    const challenge = this.#challenges.get(conn);
    if (auth?.proof === undefined || !challenge) {
      const nonce = newNonce();
      this.#challenges.set(conn, { nonce, theirNonce });
      answer(
        { type: 'register_channel_res', challenge: nonce, proof: proof(secret, 'leader', channel, theirNonce, nonce) },
        { name: 'AuthChallenge', message: 'prove the shared secret', code: AUTH_CHALLENGE },
      );
      return false;
    }
    this.#challenges.delete(conn);
    if (theirNonce !== challenge.theirNonce || !proofMatches(auth.proof, proof(secret, 'follower', channel, challenge.nonce, theirNonce))) {
      return refuse('the follower did not prove the shared secret');
    }
    return true;
  }

  onClose(conn: Connection): void {
    this.#refused.delete(conn);
    this.#challenges.delete(conn);
    this.#observers.delete(conn);
    this.#unregistered.delete(conn);
    if (!this.#heldConns.delete(conn)) return;
    // Its held registration goes too: nothing to answer, no timer to keep.
    for (const [name, held] of this.#held) {
      for (const registration of held) {
        if (registration.conn !== conn) continue;
        clearTimeout(registration.timer);
        held.delete(registration);
      }
      if (held.size === 0) this.#held.delete(name);
    }
  }
}
