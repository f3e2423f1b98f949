// The agent: egg makes its cluster clients leaders (isLeader: true).
import { createRequire } from 'node:module';
import clusterClient from 'cluster-client';
import { Base } from 'sdk-base';

const { setup } = createRequire(import.meta.url)('../shared/egg-app.cjs');

export default class AgentBootHook {
  constructor(agent) {
    this.agent = agent;
  }
  configDidLoad() {
    this.hooks = setup(this.agent, { clusterClient, Base, esmResolved: import.meta.resolve('cluster-client') });
  }
  async didLoad() {
    await this.hooks.didLoad();
  }
  async didReady() {
    await this.hooks.didReady();
  }
}
