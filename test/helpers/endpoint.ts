/**
 * Where a test group meets: a free loopback TCP port, or a fresh unix socket path in a
 * directory of this test process (removed when the process exits).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './group.js';

export type Transport = 'tcp' | 'unix';
export const TRANSPORTS: readonly Transport[] = ['tcp', 'unix'];
export type MeetingPoint = { port: number } | { path: string };

let dir: string | undefined;
let next = 0;

/** A directory for this process's socket files (short, to stay under the 103-byte path limit). */
export function socketDir(): string {
  if (!dir) {
    const created = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-'));
    dir = created;
    process.once('exit', () => fs.rmSync(created, { recursive: true, force: true }));
  }
  return dir;
}

/** A fresh socket path nobody uses yet. */
export function freeSocketPath(): string {
  return path.join(socketDir(), `${process.pid}-${next++}.sock`);
}

/** Options that put a group on a fresh port or socket path. */
export async function meetingPoint(transport: Transport): Promise<MeetingPoint> {
  return transport === 'tcp' ? { port: await freePort() } : { path: freeSocketPath() };
}
