'use strict';
// native-cluster: node:child_process and node:cluster on a native engine.
const childProcess = require('./lib/child_process');

module.exports = {
  ...childProcess,
  // Ours: the engine's per-channel and per-round-robin-group counters, in one call.
  engineStats: require('./lib/native').engineStats,
  get cluster() {
    return require('./lib/cluster');
  },
};
