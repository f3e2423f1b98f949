/**
 * APIClientBase: the base class for an API client that wraps a clustered DataClient and adds
 * business logic (caching, validation...) on top, as in cluster-client 3.x.
 *
 * ```ts
 * class RegistryAPI extends APIClientBase<CreatedClient<typeof Registry, {}, { getData: ... }>> {
 *   get DataClient() { return Registry; }
 *   get delegates() { return { getData: 'invoke' } as const; }
 *   get clusterOptions() { return { name: 'registry' }; }
 *   async getData(id: string) { return this._client.getData(id); }
 * }
 * ```
 */
import { Base, type BaseOptions } from './base.js';
import type { ClusterClient } from './client/cluster-client.js';
import { close as closeClient, cluster, type DataClientClass } from './cluster.js';
import type { DelegateTarget } from './delegates.js';
import { InvalidOptionError } from './errors.js';
import type { ClusterOptions } from './options.js';
import { relayEvents } from './roles/host.js';

/** Options of an APIClientBase: kept on `this.options`, and passed to the DataClient constructor. */
export interface APIClientOptions extends BaseOptions {
  /** Name of an async method of the subclass that finishes start-up; `ready()` waits for it. */
  initMethod?: string;
  /** The `cluster` function to use (a framework may pass a wrapped one). @default cluster */
  cluster?: typeof cluster;
  /** Anything else is passed through to the DataClient constructor. */
  [key: string]: unknown;
}

/**
 * Base class of an API client: a class of your own that wraps a cluster client and exposes the
 * API your application uses (as cluster-client 3.x's APIClientBase). See README "APIClientBase".
 */
export abstract class APIClientBase<TClient extends ClusterClient = ClusterClient> extends Base {
  /** The cluster client wrapping the DataClient: call the delegated methods on it. */
  readonly _client: TClient;

  constructor(options: APIClientOptions = {}) {
    // As 3.x: the options reach the base, so a subclass reads them on `this.options` (from its
    // clusterOptions getter too, which runs below: zookeeper-cluster-client names its channel so).
    super(options);
    const generator = (options.cluster ?? cluster)(this.DataClient, this.clusterOptions);
    for (const [from, to] of Object.entries(this.delegates)) {
      (generator.delegate as (from: string, to: DelegateTarget) => unknown)(from, to);
    }
    this._client = (generator.create as (...args: unknown[]) => TClient)(options);
    relayEvents(this._client, new Set([this]));
    if (!options.initMethod) this._client.ready(err => this.ready(err ?? true));
  }

  /** The DataClient class to cluster. Subclasses must override it. */
  get DataClient(): DataClientClass {
    throw new InvalidOptionError('DataClient', `${this.constructor.name} must define a "DataClient" getter returning the class to cluster`);
  }

  /** Delegates beyond autoGenerate, `{ methodName: target }`. @default {} */
  get delegates(): Readonly<Record<string, DelegateTarget>> {
    return {};
  }

  /** Options of `cluster(DataClient, clusterOptions)`. @default {} */
  get clusterOptions(): ClusterOptions {
    return {};
  }

  /** True while this process holds the DataClient. */
  get isClusterClientLeader(): boolean {
    return this._client.isClusterClientLeader;
  }

  /** Closes the cluster client (and, on the leader, the DataClient). Idempotent. */
  override async close(): Promise<void> {
    await closeClient(this._client);
    await super.close();
  }
}
