#!/usr/bin/env node
'use strict';
// The native-cluster command: see lib/supervisor/cli.js.
require('../lib/supervisor/cli').main().then((code) => {
  process.exitCode = code;
});
