// The floor of bench/startup/start-footprint.ts: a bare node:http server that answers GET /v2/
// with 200 {} and does nothing else. Plain JS, no imports of ours: what starting Node itself costs.
//   node bench/startup/bare-server.mjs <port>
import { createServer } from 'node:http';

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
  res.end('{}');
});
server.listen(Number(process.argv[2]), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
