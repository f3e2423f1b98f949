// An app worker: egg makes its cluster clients followers (isLeader: false).
import { createRequire } from 'node:module';
import clusterClient from 'cluster-client';
import { Base } from 'sdk-base';

const { setup } = createRequire(import.meta.url)('../shared/egg-app.cjs');

export default class AppBootHook {
  constructor(app) {
    this.app = app;
  }
  configDidLoad() {
    this.hooks = setup(this.app, { clusterClient, Base, esmResolved: import.meta.resolve('cluster-client') });
  }
  async didLoad() {
    await this.hooks.didLoad();
  }
  async didReady() {
    await this.hooks.didReady();
  }
}
