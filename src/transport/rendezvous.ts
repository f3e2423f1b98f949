/**
 * The takeover rendezvous: a second place to meet, derived from the endpoint, where the followers
 * of a hung leader elect an interim leader (README "A hung leader", docs/takeover.md). It is a
 * unix socket in a directory only this user can enter (mode 0700, owned by this uid, not a
 * symlink), so no other local user can connect to it or plant a socket there.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Endpoint } from './endpoint.js';

/** Where the rendezvous of `endpoint` is, or why there is none on this system. */
export type Rendezvous = { endpoint: Endpoint & { path: string } } | { unavailable: string };

/** The per-user directory: `$TMPDIR/cluster-share-<uid>`, created 0700 if missing, checked if present. */
function userDirectory(create: boolean): string {
  const uid = process.getuid!();
  const dir = path.join(os.tmpdir(), `cluster-share-${uid}`);
  try {
    if (create) fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (stat.uid !== uid) throw new Error(`${dir} belongs to uid ${stat.uid}, not to this user (uid ${uid})`);
  if ((stat.mode & 0o077) !== 0) throw new Error(`${dir} is open to other users (mode ${(stat.mode & 0o777).toString(8)}; it must be 700)`);
  return dir;
}

/**
 * The rendezvous of `endpoint` for this user: `takeover-<port>.sock`, or for a unix socket
 * endpoint `takeover-<hash of its path>.sock`. Unavailable on Windows and when the directory
 * cannot be made safe (the reason says why); takeover is then off. Checked at each use (a tmp
 * cleaner may have removed the directory). `create: false` only looks (for observers).
 */
export function rendezvousOf(endpoint: Endpoint, create = true): Rendezvous {
  let found: Rendezvous;
  if (process.platform === 'win32' || typeof process.getuid !== 'function') {
    found = { unavailable: 'no per-user unix socket directory on this system' };
  } else {
    try {
      const name = endpoint.path === undefined ? `takeover-${endpoint.port}.sock` : `takeover-${createHash('sha256').update(endpoint.path).digest('hex').slice(0, 16)}.sock`;
      found = { endpoint: { path: path.join(userDirectory(create), name) } };
    } catch (err) {
      found = { unavailable: (err as Error).message };
    }
  }
  return found;
}
