'use strict';
// node:cluster on the native engine. In a worker this is Node's own worker side, as workers are
// plain Node programs (Node has set it up, and removed NODE_UNIQUE_ID, before user code runs);
// in the primary it is ours.
const nodeCluster = require('node:cluster');

module.exports = nodeCluster.isWorker ? nodeCluster : require('./cluster/primary');
