'use strict';
// A registry client library written against cluster-client 3.x, the way zookeeper-cluster-client
// is: createClient(connectionString, options) returns an APIClientBase client; every client with
// the same connectionString shares one DataClient (one upstream connection), per process in single
// mode (the default, as zookeeper-cluster-client's), or per host over the cluster port.
const RegistryClient = require('./api_client');
const DataClient = require('./data_client');

exports.createClient = (connectionString, options) => {
  options = options || {};
  options.connectionString = connectionString;
  return new RegistryClient(options);
};

/** How many DataClients this process has constructed. */
exports.constructedCount = () => DataClient.constructed;
exports.RegistryClient = RegistryClient;
