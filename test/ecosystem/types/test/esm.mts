// An ESM consumer: default and named imports, typed delegates, APIClientBase with CreatedClient's defaults.
import cluster, { APIClientBase, type ClusterOptions, type CreatedClient, type ClientStats, FrameTooLargeError } from 'cluster-share';

class DataClient {
  async getData(id: string): Promise<{ id: string }> {
    return { id };
  }
}

const client = cluster(DataClient).delegate('getData').create();
const value: { id: string } = await client.getData('x');
// @ts-expect-error getData takes a string
await client.getData(1);

class API extends APIClientBase<CreatedClient<typeof DataClient>> {
  get DataClient() {
    return DataClient;
  }

  async get(id: string): Promise<{ id: string }> {
    return this._client.getData(id);
  }
}

const options: ClusterOptions = { port: 7777, startWarningAfter: 0 };
const stats: ClientStats = cluster.stats(client);
const err = new FrameTooLargeError('x', 2, 1);
const code: string = err.code;
export { API, code, options, stats, value };
