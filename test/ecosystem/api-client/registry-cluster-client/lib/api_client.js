'use strict';
const { APIClientBase } = require('cluster-client');
const DataClient = require('./data_client');

let nextClientId = 0;

class RegistryClient extends APIClientBase {
  constructor(options) {
    // As zookeeper-cluster-client: the options (with our initMethod) go to APIClientBase, which
    // hands them to sdk-base (this.options) and to the DataClient's constructor on the leader.
    super(Object.assign(options, { initMethod: '_init' }));
    this.clientId = nextClientId++;
    this._connected = false;
    this._meta = {};
    // DataClient events reach every process through a subscription, not as events.
    this._client.subscribe({ event: 'registry-client:event' }, info => this._onEvent(info));
  }

  get DataClient() {
    return DataClient;
  }

  get delegates() {
    return {
      connect: 'invokeOneway',
      invokeWithoutWatcher: 'invoke',
    };
  }

  // Read inside APIClientBase's constructor: this.options must already be there.
  get clusterOptions() {
    return {
      singleMode: this.options.singleMode !== false,
      port: parseInt(process.env.NODE_CLUSTER_CLIENT_PORT || 21789, 10),
      name: `RegistryClient@${this.options.connectionString}`,
    };
  }

  _onEvent(info) {
    if (info.name === 'connected') {
      this._connected = true;
      this._meta = { sessionId: info.sessionId, leaderPid: info.pid };
    }
    this.emit(info.name, info);
  }

  async _init() {
    if (!this._connected) await this.await('connected');
  }

  getSessionId() {
    return this._meta.sessionId;
  }

  // async getData(path): the upstream's answer, and who asked it (the leader's DataClient)
  getData(path) {
    return this._invoke('getData', [path]);
  }

  _invoke(method, args) {
    return new Promise((resolve, reject) => {
      this._client.invokeWithoutWatcher(method, args, (err, result) => (err ? reject(err) : resolve(result)));
    });
  }

  // watch(path, listener): listener(value) for every value the registry pushes for path
  watch(path, listener) {
    this._client.subscribe({ path }, listener);
    return this;
  }

  unWatch(path, listener) {
    this._client.unSubscribe({ path }, listener);
    return this;
  }

  register(path, value) {
    this._client.publish({ path, value });
  }
}

module.exports = RegistryClient;
