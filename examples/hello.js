'use strict';
// An ordinary HTTP server: nothing in it knows about clusters or supervisors.
// Run it guarded, with two workers: npx native-cluster examples/hello.js -w 2
const http = require('node:http');

const port = Number(process.env.PORT) || 3000;
http.createServer((req, res) => {
  res.end(`hello from pid ${process.pid}\n`);
}).listen(port, () => console.log(`pid ${process.pid} listening on ${port}`));
