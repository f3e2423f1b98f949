// The DataClient: a stand-in for a client that holds a connection (here, stock in memory). Only
// the leader constructs it; followers call it through cluster-share.
import { EventEmitter } from 'node:events';
import cluster from 'cluster-share';

export class Inventory extends EventEmitter {
  #stock = new Map([['apple', 10], ['pear', 1]]);

  async lookup(sku) {
    return { sku, inStock: this.#stock.get(sku) ?? 0 };
  }

  async reserve(sku, count) {
    const left = this.#stock.get(sku) ?? 0;
    if (left < count) throw Object.assign(new Error(`only ${left} ${sku} left`), { code: 'E_OUT_OF_STOCK' });
    this.#stock.set(sku, left - count);
    return { sku, reserved: count, left: left - count };
  }
}

/** Every process runs this: the one that wins the port leads (constructs Inventory), the others follow. */
export function createInventory(port, options = {}) {
  return cluster(Inventory, { name: 'Inventory', port, ...options }).create();
}
