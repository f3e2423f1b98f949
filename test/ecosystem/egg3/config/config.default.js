'use strict';
// egg's defaults otherwise: every built-in plugin stays on (egg-watcher, egg-schedule, ... create
// their own cluster clients in the agent and in every worker).
module.exports = () => ({
  keys: 'cluster-share-ecosystem',
});
