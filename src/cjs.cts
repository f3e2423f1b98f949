// CommonJS entry: `require('cluster-share')` returns the callable `cluster` function with
// `.close`, `.APIClientBase` and every other export on it, as `require('cluster-client')` does.
import clusterShare = require('./index.js');

export = clusterShare.default;
