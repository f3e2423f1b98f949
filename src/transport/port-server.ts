/**
 * The port race and the leader's listening server. One server per port per process, shared by
 * every channel (client name) that leads on that port. A follower's first packet must be
 * `register_channel`; the server hands the connection to that channel's handler, or holds it
 * until the channel is created (bounded by the timeout the follower sent), then answers an error.
 */
import net from 'node:net';
import { debuglog } from 'node:util';
import { ChannelNotFoundError, type ProtocolError, serializeError, type WriteBufferFullError } from '../errors.js';
import type { Logger } from '../options.js';
import { type Codec, encodePacket, type Packet } from '../protocol/packet.js';
import { Connection, type ConnectionHandler, type ConnectionLimits } from './connection.js';

/** What the port's server needs from the options of the client that won the port. */
export interface ServerSettings extends ConnectionLimits {
  logger: Logger;
  /** Codec of the answers the server itself sends (channel not found). */
  transcode: Codec;
}

const debug = debuglog('cluster-share:server');

/** Loopback only: the port is bound to 127.0.0.1 and any other peer is refused. */
export const LOOPBACK_HOST = '127.0.0.1';
/** Longest time an unknown channel's registration is held waiting for the channel. */
export const MAX_CHANNEL_WAIT = 60_000;

/** A channel (one client name) that leads on this server. */
export interface ChannelHandler {
  /** A follower registered: `packet` is its register_channel request. */
  onRegister(conn: Connection, packet: Packet): void;
}

interface HeldRegistration {
  conn: Connection;
  packet: Packet;
  timer: NodeJS.Timeout;
}

const servers = new Map<number, PortServer>();

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::ffff:127.0.0.1' || address === '::1';
}

/** Tries to listen on 127.0.0.1:port exclusively. Resolves null if the port is taken. */
function listen(port: number): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      if (err.code === 'EADDRINUSE') resolve(null);
      else reject(err);
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host: LOOPBACK_HOST, exclusive: true });
  });
}

export class PortServer implements ConnectionHandler {
  readonly port: number;
  readonly #server: net.Server;
  readonly #channels = new Map<string, ChannelHandler>();
  readonly #held = new Map<string, Set<HeldRegistration>>();
  /** Connections that have not registered yet. */
  readonly #unregistered = new Set<Connection>();
  /** Unregistered connections whose registration is held for a channel not created yet. */
  readonly #heldConns = new Set<Connection>();
  #closed = false;
  readonly #settings: ServerSettings;

  private constructor(port: number, server: net.Server, settings: ServerSettings) {
    this.port = port;
    this.#server = server;
    this.#settings = settings;
    server.on('connection', socket => this.#accept(socket));
    server.on('error', err => settings.logger.error(`[cluster-share] server on port ${port}: ${err.message}`));
  }

  /**
   * Competes for `port`. Returns this process's server if it already holds the port, a new
   * server if it won, or null if another process holds it. Other listen errors are thrown.
   */
  static async claim(port: number, settings: ServerSettings): Promise<PortServer | null> {
    const existing = servers.get(port);
    if (existing && !existing.#closed) return existing;
    const server = await listen(port);
    if (!server) return null;
    // Another client of this process may have won the same port while we awaited.
    const raced = servers.get(port);
    if (raced && !raced.#closed) {
      server.close();
      return raced;
    }
    const instance = new PortServer(port, server, settings);
    servers.set(port, instance);
    debug('listening on %s:%d', LOOPBACK_HOST, port);
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
    if (servers.get(this.port) === this) servers.delete(this.port);
    for (const conn of this.#unregistered) conn.destroy();
    this.#unregistered.clear();
    for (const held of this.#held.values()) for (const registration of held) clearTimeout(registration.timer);
    this.#held.clear();
    await new Promise<void>(resolve => this.#server.close(() => resolve()));
    debug('released port %d', this.port);
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (!isLoopback(socket.remoteAddress)) {
      this.#settings.logger.warn(`[cluster-share] refused connection from non-loopback address ${socket.remoteAddress}`);
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this, this.#settings);
    this.#unregistered.add(conn);
    debug('accepted #%d from port %d', conn.id, socket.remotePort);
    // A connection must register within frameTimeout (a held registration has its own timer).
    setTimeout(() => {
      if (!this.#unregistered.has(conn) || this.#heldConns.has(conn)) return;
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
    // A heartbeat before registration is answered: it is how a follower tells a leader that is
    // still starting (or holding its registration) from a foreign program on the port.
    if (connObj.type === 'heartbeat') {
      conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'heartbeat_res' }));
      return;
    }
    if (connObj.type !== 'register_channel' || typeof connObj.channelName !== 'string') {
      this.#settings.logger.warn(`[cluster-share] connection #${conn.id} sent "${connObj.type}" before register_channel; closed`);
      conn.destroy();
      return;
    }
    const name = connObj.channelName;
    const channel = this.#channels.get(name);
    if (channel) {
      this.#unregistered.delete(conn);
      channel.onRegister(conn, packet);
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
        const error = serializeError(new ChannelNotFoundError(name, wait));
        conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'register_channel_res' }, this.#settings.transcode.encode({ success: false, error })));
        conn.end();
      }, wait),
    };
    held.add(registration);
  }

  onClose(conn: Connection): void {
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
