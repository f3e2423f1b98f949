'use strict';
// What the egg test applications (egg3/, egg4/) do in their agent and in each app worker. Both
// versions' agent.js / app.js are three lines that call this with THEIR OWN packages:
//
//   require('cluster-client')  the package egg's app.cluster() uses too, resolved from the app
//   require('sdk-base').Base   for the DataClient
//
// In the agent and in every app worker it creates, egg's way:
//   - app.ecoData: app.cluster(EcoDataClient).create(...)                     (egg's wrapper of cluster())
//   - app.ecoApi:  new EcoApiClient({ ..., cluster: app.cluster.bind(app) })  (an APIClientBase client,
//                  its channel named from this.options, as zookeeper-cluster-client names its own)
// subscribes both to "eco-config", publishes "<type>:<pid>" on both, and keeps what it saw in a
// JSON state file ($ECO_STATE_DIR/<type>-<pid>.json) that the tests read. The app workers also
// answer GET /eco/invoke and GET /eco/state (app/router.js).
const fs = require('node:fs');
const path = require('node:path');
const { defineDataClient } = require('./data-client.cjs');
const { ownerPackage } = require('./owner-package.cjs');

const CONFIG_KEY = 'eco-config';
const PUB_KEY = 'eco-pub';

/**
 * Which package `cluster-client` is, seen from egg's own directory and from the application's
 * (`esmResolved`: what an ES module application's import.meta.resolve('cluster-client') gave).
 */
function resolution(app, esmResolved) {
  // (not 'egg/package.json': egg 4's exports do not list it)
  const eggDir = ownerPackage(require.resolve('egg', { paths: [app.baseDir] })).dir;
  const fromEgg = require.resolve('cluster-client', { paths: [eggDir] });
  const fromApp = require.resolve('cluster-client', { paths: [app.baseDir] });
  const loaded = Object.keys(require.cache)
    .filter(file => /[\\/]node_modules[\\/]cluster-(client|share)[\\/]/.test(file))
    .map(file => ownerPackage(file).name);
  return {
    eggDir,
    fromEgg: { file: fromEgg, ...ownerPackage(fromEgg) },
    fromApp: { file: fromApp, ...ownerPackage(fromApp) },
    fromAppEsm: esmResolved ? { file: esmResolved, ...ownerPackage(require('node:url').fileURLToPath(esmResolved)) } : undefined,
    loadedPackages: [...new Set(loaded)],
  };
}

function defineApiClient(APIClientBase, DataClient) {
  // The shape of zookeeper-cluster-client's API client: options go to super() with an initMethod,
  // and the channel name is built from this.options in the clusterOptions getter, which runs
  // inside APIClientBase's constructor.
  return class EcoApiClient extends APIClientBase {
    constructor(options) {
      super(Object.assign({}, options, { initMethod: '_init' }));
    }
    get DataClient() {
      return DataClient;
    }
    get delegates() {
      return { echo: 'invoke' };
    }
    get clusterOptions() {
      return { name: `EcoApiClient@${this.options.upstream}` };
    }
    async _init() {
      await this._client.ready();
    }
    echo(value) {
      return this._client.echo(value);
    }
    subscribe(reg, listener) {
      this._client.subscribe(reg, listener);
    }
    publish(reg) {
      this._client.publish(reg);
    }
  };
}

/**
 * Sets up `app` (an egg Agent or Application). `clusterClient` is the app's
 * require('cluster-client') (or its default import), `Base` sdk-base's Base.
 * Returns what the boot hook calls later: didLoad() (both clients ready) and didReady().
 */
exports.setup = function setup(app, { clusterClient, Base, esmResolved }) {
  const stateDir = process.env.ECO_STATE_DIR;
  const upstream = process.env.ECO_UPSTREAM;
  if (!upstream) throw new Error('ECO_UPSTREAM is not set');
  const type = app.type; // 'agent' or 'application'
  const EcoDataClient = defineDataClient(Base, 'EcoDataClient');
  const EcoApiClient = defineApiClient(clusterClient.APIClientBase, EcoDataClient);

  const state = {
    type,
    pid: process.pid,
    ppid: process.ppid,
    startedAt: Date.now(),
    ready: false,
    received: { data: [], api: [] },
    errors: [],
    resolution: null,
    clients: null,
  };
  let seq = 0;
  const save = () => {
    state.clients = describeClients();
    if (!stateDir) return;
    const file = path.join(stateDir, `${type}-${process.pid}.json`);
    const tmp = `${file}.${process.pid}.${seq++}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state));
    fs.renameSync(tmp, file);
  };
  const describeClients = () => {
    const describe = client => {
      if (!client) return null;
      let stats = null;
      try {
        // cluster-share's stats(); it throws for anything that is not one of its clients
        // (a client made by a cluster-client 3.x copy of the package, say).
        const s = clusterClient.stats(client);
        stats = { name: s.name, state: s.state, role: s.role, leaderPid: s.leaderPid, endpoint: s.endpoint };
      } catch (err) {
        stats = { error: `${err.code ?? ''} ${err.message}` };
      }
      return { isClusterClientLeader: client.isClusterClientLeader, stats };
    };
    return { data: describe(app.ecoData), api: describe(app.ecoApi && app.ecoApi._client) };
  };

  state.resolution = resolution(app, esmResolved);

  // egg's way: app.cluster() (egg's wrapper: port, isLeader for the agent, logger, ...).
  app.ecoData = app.cluster(EcoDataClient).delegate('echoCallback').create({ upstream, channel: 'data' });
  // An APIClientBase client, given egg's cluster function as egg's documentation does.
  app.ecoApi = new EcoApiClient({ upstream, channel: 'api', cluster: app.cluster.bind(app) });

  for (const [label, client] of [['data', app.ecoData], ['api', app.ecoApi]]) {
    client.on('error', err => {
      state.errors.push(`${label}: ${err.code ?? ''} ${err.message}`);
      save();
    });
  }
  app.ecoData.subscribe({ key: CONFIG_KEY }, value => {
    state.received.data.push(value);
    save();
  });
  app.ecoApi.subscribe({ key: CONFIG_KEY }, value => {
    state.received.api.push(value);
    save();
  });
  const me = `${type}:${process.pid}`;
  app.ecoData.publish({ key: PUB_KEY, value: me });
  app.ecoApi.publish({ key: PUB_KEY, value: me });

  app.ecoState = () => {
    state.clients = describeClients();
    return state;
  };
  app.ecoSave = save;

  return {
    async didLoad() {
      await app.ecoData.ready();
      await app.ecoApi.ready();
    },
    async didReady() {
      state.ready = true;
      save();
    },
  };
};

/** The app worker's routes: GET /eco/invoke (both clients, three call styles) and GET /eco/state. */
exports.routes = function routes(app) {
  app.router.get('/eco/invoke', async ctx => {
    const tag = `${process.pid}:${Date.now()}`;
    const data = await app.ecoData.echo(`data ${tag}`);
    const dataCallback = await new Promise((resolve, reject) =>
      app.ecoData.echoCallback(`callback ${tag}`, (err, result) => (err ? reject(err) : resolve(result))));
    const api = await app.ecoApi.echo(`api ${tag}`);
    const ok = data.value === `data ${tag}` && dataCallback.value === `callback ${tag}` && api.value === `api ${tag}`;
    ctx.body = { pid: process.pid, ok, data, dataCallback, api, state: app.ecoState() };
  });
  app.router.get('/eco/state', async ctx => {
    ctx.body = app.ecoState();
  });
};
