'use strict';
// native-cluster: node:child_process and node:cluster on a native engine.
const childProcess = require('./lib/child_process');

module.exports = {
  ...childProcess,
  get cluster() {
    return require('./lib/cluster');
  },
};
