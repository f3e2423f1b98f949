/**
 * Who is on the other end of a loopback connection (Linux). The kernel lists every TCP socket of
 * this network namespace in /proc/net/tcp (IPv4) and /proc/net/tcp6, with the uid that owns it:
 * the follower's socket is the line whose local port is the accepted connection's remote port
 * and whose remote port is the leader's own port. No privilege is needed to read them.
 *
 * Elsewhere (macOS, Windows) there is no such list: see README "Security" for what protects the
 * DataClient there.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { InvalidOptionError } from '../errors.js';

/** The users allowed to connect besides the leader's own user and root, or every user. */
export type AllowedUids = ReadonlySet<number> | 'any';

/** What the leader learnt about a connection's owner. */
export type PeerUser =
  /** The uid owning the peer's socket. */
  | { uid: number }
  /** No check here: not Linux, or /proc/net is not readable (`why` says which). */
  | { unchecked: string }
  /** The peer's socket is not listed (it closed meanwhile, or a netns trick): refused. */
  | { unknown: true };

/**
 * Reads one /proc/net table, one read at a time. A read walks the kernel's whole TCP hash table
 * (about 2 ms here, however few sockets there are) on libuv's thread pool, so lookups share
 * reads: one that arrives while a read is under way waits for the next read, which starts after
 * its connection was accepted and so lists it. However many connections arrive at once, at most
 * one read per table runs and one more waits.
 */
class TableReader {
  readonly #file: string;
  #current: Promise<string> | undefined;
  #next: Promise<string> | undefined;
  constructor(file: string) {
    this.#file = file;
  }

  read(): Promise<string> {
    if (!this.#current) return this.#start();
    this.#next ??= this.#current.then(() => undefined, () => undefined).then(() => {
      this.#next = undefined;
      return this.#start();
    });
    return this.#next;
  }

  #start(): Promise<string> {
    // fs.readFile, not fs.promises.readFile: on Node 18 the latter stops after the first 4 KiB
    // of a /proc file (it reports size 0), so most sockets would not be found.
    const reading = new Promise<string>((resolve, reject) => fs.readFile(this.#file, 'latin1', (err, text) => (err ? reject(err) : resolve(text))));
    this.#current = reading;
    reading.then(done, done);
    const self = this;
    function done(): void {
      if (self.#current === reading) self.#current = undefined;
    }
    return reading;
  }
}

const PROC_TABLES = [new TableReader('/proc/net/tcp'), new TableReader('/proc/net/tcp6')];

/** Port as /proc/net/tcp writes it: 4 upper-case hex digits. */
function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** An IPv4 address as /proc/net/tcp writes it: the 4 bytes of the word in host (little-endian) order. */
function hexIpv4(address: string): string | undefined {
  const bytes = address.split('.').map(Number);
  if (bytes.length !== 4 || bytes.some(b => !Number.isInteger(b) || b < 0 || b > 255)) return undefined;
  return bytes.reverse().map(b => b.toString(16).toUpperCase().padStart(2, '0')).join('');
}

/** `address:port` of a socket end as /proc/net/tcp (IPv4) and /proc/net/tcp6 (IPv4-mapped) write it. */
function procEnds(address: string, port: number): [v4: string, v6: string] | undefined {
  const v4 = hexIpv4(address.startsWith('::ffff:') ? address.slice(7) : address);
  if (!v4) return undefined;
  return [`${v4}:${hexPort(port)}`, `0000000000000000FFFF0000${v4}:${hexPort(port)}`];
}

/** TCP_ESTABLISHED in the `st` column. A closing or time-wait socket is listed with uid 0: never trusted. */
const ESTABLISHED = '01';

/**
 * Finds the uid of the established socket whose local end is `local` and remote end `remote`
 * (`HEXADDR:HEXPORT`, as the table writes them) in one /proc/net/tcp* text.
 * Columns: sl local_address rem_address st queues tr retrnsmt uid ...
 */
export function findSocketUid(table: string, local: string, remote: string): number | undefined {
  let at = table.indexOf(` ${local} ${remote} `);
  while (at >= 0) {
    const lineStart = table.lastIndexOf('\n', at) + 1;
    const lineEnd = table.indexOf('\n', at);
    const fields = table.slice(lineStart, lineEnd < 0 ? undefined : lineEnd).trim().split(/\s+/);
    if (fields[1] === local && fields[2] === remote && fields[3] === ESTABLISHED) {
      const uid = Number(fields[7]);
      if (/^\d+$/.test(fields[7] ?? '') && Number.isSafeInteger(uid)) return uid;
    }
    at = table.indexOf(` ${local} ${remote} `, at + 1);
  }
  return undefined;
}

/** Looks up the owner of the peer of an accepted loopback TCP connection. */
export async function peerUser(socket: net.Socket): Promise<PeerUser> {
  if (process.platform !== 'linux') return { unchecked: `not available on ${process.platform}` };
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return { unknown: true };
  // The peer's socket: its local end is our remote end, and the other way round.
  const theirs = procEnds(remoteAddress, remotePort);
  const ours = procEnds(localAddress, localPort);
  if (!theirs || !ours) return { unknown: true };
  let readable = 0;
  let lastError: unknown;
  for (const [index, reader] of PROC_TABLES.entries()) {
    let table: string;
    try {
      table = await reader.read();
    } catch (err) {
      lastError = err;
      continue;
    }
    readable++;
    const uid = findSocketUid(table, theirs[index]!, ours[index]!);
    if (uid !== undefined) return { uid };
  }
  if (readable === 0) return { unchecked: `cannot read /proc/net/tcp: ${(lastError as Error)?.message ?? lastError}` };
  return { unknown: true };
}

/** uid of a user name, from /etc/passwd (names only found elsewhere, e.g. LDAP, must be given as uids). */
function uidOfName(name: string, option: string): number {
  let passwd = '';
  try {
    passwd = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    // Reported below as not found.
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid] = line.split(':');
    if (user === name && uid !== undefined && /^\d+$/.test(uid)) return Number(uid);
  }
  throw new InvalidOptionError(option, `user ${JSON.stringify(name)} is not in /etc/passwd; give its numeric uid instead`);
}

/**
 * Resolves `allowedUsers` (uids, user names, or "*" for every user) into uids. `option` names
 * where the list came from, for the error.
 */
export function resolveAllowedUsers(list: readonly unknown[], option: string): AllowedUids {
  const uids = new Set<number>();
  for (const entry of list) {
    if (entry === '*') return 'any';
    if (typeof entry === 'number' && Number.isInteger(entry) && entry >= 0 && entry <= 0xffff_ffff) uids.add(entry);
    else if (typeof entry === 'string' && /^\d+$/.test(entry)) uids.add(Number(entry));
    else if (typeof entry === 'string' && entry !== '') uids.add(uidOfName(entry, option));
    else throw new InvalidOptionError(option, `each entry must be a uid (a non-negative integer), a user name or "*", got ${typeof entry === 'string' ? JSON.stringify(entry) : String(entry)}`);
  }
  return uids;
}

/**
 * Whether `uid` may use this process's DataClient: its own user, root (which can read any
 * process's memory anyway), and the allowed ones.
 */
export function isAllowedUid(uid: number, allowed: AllowedUids): boolean {
  if (allowed === 'any' || uid === 0) return true;
  const own = process.getuid?.();
  return uid === own || allowed.has(uid);
}
