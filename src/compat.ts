/**
 * What code written for cluster-client 3.x reads of 3.x's internals, kept so that such code (3.x's
 * own test suite among it) runs unchanged. Nothing here is needed by cluster-share itself.
 *
 * - `global.serverMap`: 3.x keeps its listening servers there, by port, and tests check that a
 *   port is held while a leader lives and released after close. cluster-share puts an entry there
 *   for each TCP port this process listens on, and removes it on release. The map is shared with a
 *   3.x copy loaded in the same process, so our entries say `isClosed: true`: 3.x then never takes
 *   one for a server of its own, competes for the port, loses it and follows us, as it would
 *   follow another process.
 * - `client[Symbol.for('ClusterClient#innerClient')]`: 3.x's inner leader or follower. See
 *   ClusterClient: `isLeader`, `_realClient` (the DataClient, on a leader) and `_server.close()`.
 */

/** An entry of `global.serverMap` for a port this process's cluster-share leader holds. */
export interface LegacyServerEntry {
  readonly port: number;
  /** Always true for cluster-share's entries: see the module comment. */
  readonly isClosed: true;
  readonly implementation: 'cluster-share';
}

const holder = globalThis as { serverMap?: Map<number, unknown> };
// At load, as 3.x does: code reads `global.serverMap` right after requiring the package.
holder.serverMap ??= new Map();

function serverMap(): Map<number, unknown> {
  holder.serverMap ??= new Map();
  return holder.serverMap;
}

/** Records that this process listens on `port`. Returns the entry, for `forgetPort`. */
export function rememberPort(port: number): LegacyServerEntry {
  const entry: LegacyServerEntry = Object.freeze({ port, isClosed: true, implementation: 'cluster-share' });
  serverMap().set(port, entry);
  return entry;
}

/** Removes the entry of a released port (unless something else replaced it meanwhile). */
export function forgetPort(entry: LegacyServerEntry): void {
  const map = serverMap();
  if (map.get(entry.port) === entry) map.delete(entry.port);
}
