// A CommonJS consumer: `require('cluster-share')` is the callable cluster function.
import cluster = require('cluster-share');

class Data {
  async get(key: string): Promise<number> {
    return key.length;
  }
}

const client = cluster(Data).delegate('get').create();
const closing: Promise<void> = cluster.close(client);
const Base: typeof cluster.APIClientBase = cluster.APIClientBase;
async function use(): Promise<number> {
  // @ts-expect-error get takes a string
  await client.get(1);
  return client.get('abc');
}
void [closing, Base, use];
