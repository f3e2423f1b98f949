// egg's defaults otherwise: every built-in plugin stays on (@eggjs/watcher, @eggjs/schedule, ...
// create their own cluster clients in the agent and in every worker).
export default () => ({
  keys: 'cluster-share-ecosystem',
});
