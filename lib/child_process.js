'use strict';
// The shape of node:child_process, on the native engine.
const { ChildProcess, spawn, fork } = require('./subprocess');
const { exec, execFile } = require('./exec');
const { spawnSync, execSync, execFileSync } = require('./spawn_sync');

module.exports = { ChildProcess, spawn, fork, exec, execFile, spawnSync, execSync, execFileSync };
