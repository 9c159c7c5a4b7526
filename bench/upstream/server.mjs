#!/usr/bin/env node
// The origin of the gateway scenarios: the smallest Node HTTP server that answers a GET with a
// fixed JSON body (keep-alive, Content-Length). It does no verification on purpose, so the same
// request can be sent straight to it, through a bare pass-through Worker and through edge-auth's
// gateway, and the differences are the Workers' cost. Runs as its own process (not inside the
// bench, whose event loop also drives autocannon). Prints its URL on stdout.
import { createServer } from 'node:http';

const body = JSON.stringify({ id: 'item-1', name: 'a thing', price: 42, tags: ['bench', 'gateway'] });
const server = createServer((req, res) => {
  if (req.method !== 'GET') {
    res.writeHead(405).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
