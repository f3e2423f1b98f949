/**
 * The port race and the leader's listening server. One server per port per process, shared by
 * every channel (client name) that leads on that port. A follower's first packet must be
 * `register_channel`; the server hands the connection to that channel's handler, or holds it
 * until the channel is created (bounded by the timeout the follower sent), then answers an error.
 */
import net from 'node:net';
import { debuglog } from 'node:util';
import { ChannelNotFoundError, serializeError } from '../errors.js';
import type { Logger } from '../options.js';
import { type Codec, encodePacket, type Packet } from '../protocol/packet.js';
import { Connection, type ConnectionHandler } from './connection.js';

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
  #closed = false;
  readonly #logger: Logger;
  readonly #codec: Codec;

  private constructor(port: number, server: net.Server, logger: Logger, codec: Codec) {
    this.port = port;
    this.#server = server;
    this.#logger = logger;
    this.#codec = codec;
    server.on('connection', socket => this.#accept(socket));
    server.on('error', err => this.#logger.error(`[cluster-share] server on port ${port}: ${err.message}`));
  }

  /**
   * Competes for `port`. Returns this process's server if it already holds the port, a new
   * server if it won, or null if another process holds it. Other listen errors are thrown.
   */
  static async claim(port: number, logger: Logger, codec: Codec): Promise<PortServer | null> {
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
    const instance = new PortServer(port, server, logger, codec);
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
      this.#logger.warn(`[cluster-share] refused connection from non-loopback address ${socket.remoteAddress}`);
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this);
    this.#unregistered.add(conn);
    debug('accepted #%d from port %d', conn.id, socket.remotePort);
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
      this.#logger.warn(`[cluster-share] connection #${conn.id} sent "${connObj.type}" before register_channel; closed`);
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
    const registration: HeldRegistration = {
      conn,
      packet,
      timer: setTimeout(() => {
        held.delete(registration);
        if (held.size === 0 && this.#held.get(name) === held) this.#held.delete(name);
        const error = serializeError(new ChannelNotFoundError(name, wait));
        conn.write(encodePacket(packet.id, true, packet.timeout, { type: 'register_channel_res' }, this.#codec.encode({ success: false, error })));
        conn.end();
      }, wait),
    };
    held.add(registration);
  }

  onClose(conn: Connection): void {
    this.#unregistered.delete(conn);
  }
}
