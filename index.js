'use strict';
// native-cluster: node:child_process and node:cluster on a native engine. The exports are
// written in the forms Node's CommonJS export detection reads (a spread of require(), a getter
// returning a member), so ESM can import them by name; cluster is loaded on first use.
const lazy = {
  get cluster() {
    return require('./lib/cluster');
  },
};

module.exports = { ...require('./lib/child_process') };
Object.defineProperty(module.exports, 'cluster', { enumerable: true, get() { return lazy.cluster; } });
// Ours: the engine's per-channel and per-round-robin-group counters, in one call.
module.exports.engineStats = require('./lib/native').engineStats;
