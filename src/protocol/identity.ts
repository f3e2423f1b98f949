/**
 * Channel identity (our extension of register_channel, ignored by 3.x): a cluster-share follower
 * says which DataClient class it expects and which methods it delegates, so that a channel name
 * shared by two different clients on one port is refused instead of one being served by the
 * other's DataClient. The same check runs within one process at create().
 */

/** What a follower says of its DataClient in register_channel (our extension), to be checked against the leader's. */
export interface DataClientIdentity {
  /** The DataClient class name. */
  class: string;
  /** The methods this client delegates as invoke or invokeOneway. */
  methods: string[];
}

/** A DataClientIdentity read from the wire, or undefined if `value` is not one. */
export function readIdentity(value: unknown): DataClientIdentity | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { class: cls, methods } = value as { class?: unknown; methods?: unknown };
  if (typeof cls !== 'string' || !Array.isArray(methods) || methods.length > 10_000 || !methods.every(m => typeof m === 'string')) return undefined;
  return { class: cls, methods: methods as string[] };
}

/** The names of the classes `prototype` belongs to, its own first (a subclass serves its bases' clients). */
export function classChain(prototype: object | null): string[] {
  const names: string[] = [];
  for (let proto = prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    const ctor = (proto as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && ctor.name) names.push(ctor.name);
  }
  return names;
}

/**
 * Why `client` may not be served by a DataClient whose classes are `leaderClasses` (its own
 * first, then its bases) and that has the methods `leaderHas` says; undefined if it may. The
 * client's class must be one of them, and the DataClient must have every method the client
 * delegates.
 */
export function identityMismatch(leaderClasses: readonly string[], leaderHas: (method: string) => boolean, client: DataClientIdentity): string | undefined {
  if (!leaderClasses.includes(client.class)) return 'another class';
  const missing = client.methods.filter(m => !leaderHas(m));
  return missing.length === 0 ? undefined : `the leader's DataClient has no ${missing.map(m => `"${m}"`).join(', ')}`;
}
