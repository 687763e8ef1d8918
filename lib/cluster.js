'use strict';
// In a cluster worker (NODE_UNIQUE_ID set) this is Node's own worker side, as workers are
// plain Node programs. The native primary is not built yet.
if (Object.hasOwn(process.env, 'NODE_UNIQUE_ID')) {
  module.exports = require('node:cluster');
} else {
  const err = new Error('native-cluster/cluster: the native cluster primary is not available yet');
  err.code = 'ERR_FEATURE_UNAVAILABLE';
  throw err;
}
