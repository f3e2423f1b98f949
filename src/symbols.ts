/**
 * The internal methods of a created client, behind the same global symbols cluster-client 3.x
 * uses (`Symbol.for('ClusterClient#...')`), so `require('cluster-client').close(client)` also
 * closes a cluster-share client.
 */
const subscribe: unique symbol = Symbol.for('ClusterClient#subscribe') as never;
const unSubscribe: unique symbol = Symbol.for('ClusterClient#unSubscribe') as never;
const publish: unique symbol = Symbol.for('ClusterClient#publish') as never;
const invoke: unique symbol = Symbol.for('ClusterClient#invoke') as never;
const close: unique symbol = Symbol.for('ClusterClient#close') as never;
/** 3.x's inner leader or follower; ours is a view for code that inspects it (src/compat.ts). */
const innerClient: unique symbol = Symbol.for('ClusterClient#innerClient') as never;

/** Ours (3.x has no stats): `cluster.stats(client)` works even when a delegate replaced `client.stats`. */
const stats: unique symbol = Symbol.for('cluster-share#stats') as never;

export const symbols = { subscribe, unSubscribe, publish, invoke, close, stats, innerClient } as const;
