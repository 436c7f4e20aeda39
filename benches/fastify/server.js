// The `fastify` variant of scripts/bench.sh: bench-app's routes (crates/vitals-bench) on the
// seed's Node stack, fastify with fastify-metrics (prom-client) and @fastify/under-pressure.
//
// Usage: node server.js [PORT]   (else env PORT, else 0: a free port)
//
// Binds 127.0.0.1 and prints `listening on ADDR` once it accepts connections, as bench-app
// does. Routes: `GET /hello` answers `hello`; `GET /orgs/:orgId/items/:id` answers a small
// JSON object; `GET /metrics` is fastify-metrics' (route histogram and summary by method,
// route template and status, plus prom-client's default process metrics). Unknown paths get
// fastify's 404. No logger, as bench-app installs no tracing subscriber.
//
// scripts/bench.sh copies this file with package.json and package-lock.json into
// <target>/bench-node/, runs `npm ci` there and starts `node server.js` pinned with taskset.
'use strict';

const fastify = require('fastify');
const metrics = require('fastify-metrics');
const underPressure = require('@fastify/under-pressure');

async function main() {
  const arg = process.argv[2] ?? process.env.PORT ?? '0';
  const port = Number.parseInt(String(arg).trim() || '0', 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`server.js: bad port \`${arg}\``);
    process.exit(2);
  }

  const app = fastify({ logger: false });
  // Thresholds as vitals' PressureLayer defaults (which mirror under-pressure's options):
  // heap 1 GiB, RSS 1.25 GiB, event loop utilisation 0.98; event loop delay off.
  await app.register(underPressure, {
    maxHeapUsedBytes: 1024 * 1024 * 1024,
    maxRssBytes: 1280 * 1024 * 1024,
    maxEventLoopUtilization: 0.98,
  });
  await app.register(metrics, { endpoint: '/metrics' });

  app.get('/hello', async () => 'hello');
  app.get('/orgs/:orgId/items/:id', async (request) => ({
    orgId: request.params.orgId,
    id: request.params.id,
    name: 'widget',
    quantity: 3,
  }));

  const address = await app.listen({ host: '127.0.0.1', port });
  // `address` is a URL (http://127.0.0.1:PORT); print host:port like bench-app.
  process.stdout.write(`listening on ${new URL(address).host}\n`);

  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

main().catch((err) => {
  console.error(`server.js: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
