// A CommonJS consumer: require() is the callable cluster, and named types import from a .cts file.
import cluster = require('cluster-share');
import type { ClusterOptions, ClientState } from 'cluster-share';

class Data {
  async get(key: string): Promise<number> {
    return key.length;
  }
}

const options: ClusterOptions = { port: 2 };
const client = cluster(Data, options).delegate('get').create();
const state: ClientState = client.state;
const closing: Promise<void> = cluster.close(client);
const Base: typeof cluster.APIClientBase = cluster.APIClientBase;
export = { state, closing, Base };
