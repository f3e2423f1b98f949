'use strict';
// An app worker: egg makes its cluster clients followers (isLeader: false).
const { setup } = require('../shared/egg-app.cjs');

module.exports = class AppBootHook {
  constructor(app) {
    this.app = app;
  }
  configDidLoad() {
    this.hooks = setup(this.app, { clusterClient: require('cluster-client'), Base: require('sdk-base').Base });
  }
  async didLoad() {
    await this.hooks.didLoad();
  }
  async didReady() {
    await this.hooks.didReady();
  }
};
