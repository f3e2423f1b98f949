'use strict';
// The agent: egg makes its cluster clients leaders (isLeader: true).
const { setup } = require('../shared/egg-app.cjs');

module.exports = class AgentBootHook {
  constructor(agent) {
    this.agent = agent;
  }
  configDidLoad() {
    this.hooks = setup(this.agent, { clusterClient: require('cluster-client'), Base: require('sdk-base').Base });
  }
  async didLoad() {
    await this.hooks.didLoad();
  }
  async didReady() {
    await this.hooks.didReady();
  }
};
