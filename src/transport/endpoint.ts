/**
 * Where the processes meet: a loopback TCP port (the default, as 3.x) or a unix domain socket
 * path (no port to squat; only the owner may connect). Listening on it is the election.
 */
import fs from 'node:fs';
import net from 'node:net';
import { debuglog } from 'node:util';
import { connect } from './socket-reader.js';

const debug = debuglog('cluster-share:server');

/** Loopback only: the port is bound to 127.0.0.1 and any other peer is refused. */
export const LOOPBACK_HOST = '127.0.0.1';

/** A loopback TCP port or a unix domain socket path. */
export type Endpoint = { readonly port: number; readonly path?: undefined } | { readonly path: string; readonly port?: undefined };

/** A reclaim lock older than this was left by a process that died while reclaiming: it is broken. */
const STALE_LOCK_MS = 10_000;
/** How long a liveness probe of an existing socket file may take; no answer counts as alive. */
const PROBE_TIMEOUT = 1_000;

/** "port 7777" or "socket /run/app.sock", for messages. */
export function describeEndpoint(endpoint: Endpoint): string {
  return endpoint.path === undefined ? `port ${endpoint.port}` : `socket ${endpoint.path}`;
}

/** Key of this process's server registry. */
export function endpointKey(endpoint: Endpoint): string {
  return endpoint.path === undefined ? `tcp:${endpoint.port}` : `unix:${endpoint.path}`;
}

/** Starts a connection to the endpoint (the caller waits for 'connect' or 'error'). */
export function connectTo(endpoint: Endpoint): net.Socket {
  return connect(endpoint.path === undefined ? { port: endpoint.port, host: LOOPBACK_HOST } : { path: endpoint.path });
}

/**
 * Connects to the endpoint; resolves with the connected socket. Rejects with the socket error
 * (ECONNREFUSED, or ENOENT for a missing socket file, when nobody listens), with an ETIMEDOUT
 * error after `timeout` ms, or with `abort.error()` when `abort.signal` aborts first.
 */
export function connectSocket(endpoint: Endpoint, timeout: number, abort?: { signal: AbortSignal; error: () => Error }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(endpoint);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      abort?.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(abort!.error());
    const timer = setTimeout(() => {
      fail(Object.assign(new Error(`connect to ${describeEndpoint(endpoint)} timed out after ${timeout}ms`), { code: 'ETIMEDOUT' }));
    }, timeout);
    if (abort?.signal.aborted) return onAbort();
    abort?.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      clearTimeout(timer);
      abort?.signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', fail);
  });
}

/** Listens once. Resolves null if the address is taken (EADDRINUSE); other errors reject. */
function tryListen(options: net.ListenOptions): Promise<net.Server | null> {
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
    server.listen(options);
  });
}

/** Whether a process is listening on the socket file: connect and see. */
function isLive(path: string): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    const timer = setTimeout(done, PROBE_TIMEOUT, true);
    socket.once('connect', () => done(true));
    // Refused or gone: stale. Anything else (e.g. EACCES: another user's socket) is not ours to take.
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

/** Takes the reclaim lock (an atomic mkdir), breaking one left by a dead reclaimer. */
function acquireLock(lock: string): boolean {
  try {
    fs.mkdirSync(lock, { mode: 0o700 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - fs.statSync(lock).mtimeMs > STALE_LOCK_MS) fs.rmdirSync(lock);
    } catch {
      // Released or broken by someone else meanwhile.
    }
    return false;
  }
}

/**
 * A socket file this young may belong to a process that has bound it and not called listen()
 * yet (a moment, but a loaded machine can preempt it between the two): connecting to it is
 * refused as to a dead one, so it is never taken for stale.
 */
const FRESH_SOCKET_MS = 250;

/** Whether the socket file at `path` was made (or changed) less than FRESH_SOCKET_MS ago. */
function isFresh(path: string): boolean {
  try {
    return Date.now() - fs.lstatSync(path).ctimeMs < FRESH_SOCKET_MS;
  } catch {
    return false;
  }
}

async function listenUnix(path: string): Promise<net.Server | null> {
  const server = await tryListen({ path });
  if (server) return ownerOnly(server, path);
  // Never replace something that is not a socket (a mistyped path to a real file).
  let isSocket = true;
  try {
    isSocket = fs.lstatSync(path).isSocket();
  } catch {
    // Gone meanwhile: compete again.
  }
  if (!isSocket) throw Object.assign(new Error(`${path} exists and is not a socket; refusing to replace it`), { code: 'ENOTSOCK' });
  // A socket file is there: a live leader, one about to listen, or one left by a killed leader.
  if (isFresh(path) || await isLive(path)) return null;
  // Stale: reclaim it under a lock, so two processes never both unlink and bind (two leaders).
  // Without the lock this round is lost; the caller competes again shortly.
  const lock = `${path}.lock`;
  if (!acquireLock(lock)) return null;
  try {
    if (isFresh(path) || await isLive(path)) return null;
    debug('reclaiming stale socket %s', path);
    try {
      fs.unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const reclaimed = await tryListen({ path });
    return reclaimed ? ownerOnly(reclaimed, path) : null;
  } finally {
    fs.rmdirSync(lock);
  }
}

/** Mode 0600: only this user may connect (connecting needs write permission on the file). */
function ownerOnly(server: net.Server, path: string): net.Server {
  if (process.platform !== 'win32') fs.chmodSync(path, 0o600);
  return server;
}

/**
 * Competes for the endpoint: resolves this process's new listening server if it won, or null
 * if another process holds it. Other listen errors (EACCES, a missing directory) reject.
 */
export function listenOn(endpoint: Endpoint): Promise<net.Server | null> {
  if (endpoint.path !== undefined) return listenUnix(endpoint.path);
  return tryListen({ port: endpoint.port, host: LOOPBACK_HOST, exclusive: true });
}
