#!/usr/bin/env node
// Closed-loop load generator for etcd (etcd3 over gRPC) and Redis-protocol
// servers (ioredis): N concurrent request loops, each waiting for its reply
// before the next request, for a warm-up and then a measured window. Prints
// one JSON line with throughput and latency percentiles of the window.
//
//   node load.js --target etcd|redis --endpoints A[,B...] [options]
//
// See usage() for the options.
'use strict';

const { performance } = require('node:perf_hooks');

function usage(code) {
  const text = `usage: node load.js --target etcd|redis --endpoints LIST [options]
  --endpoints LIST     comma separated; etcd: http://host:port or host:port,
                       redis: host:port, :port or port
  --op OP              etcd: put | get | get-serializable; redis: set | get
                       (default put for etcd, set for redis)
  --clients N          concurrent request loops (default 50)
  --seconds S          measured window (default 10)
  --warmup S           unmeasured run before the window (default 2)
  --value-size B       value bytes (default 100)
  --keys N             keyspace of 16-byte keys k000000000000000..
                       (default 100000)
  --conns N            etcd only: gRPC channels the loops share round robin,
                       each its own connection to one endpoint, channels
                       spread over the endpoints in order (default: one per
                       endpoint, at most one per client)
  --leader-first       etcd only: put the current leader first in the
                       endpoint list (so --conns 1 talks to the leader)
  --readonly           redis only: send READONLY on each connection first
  --prefill-endpoint E redis only: where get workloads prefill the keyspace
                       (default the first endpoint; give the leader when
                       the endpoints are followers)
  --no-prefill         do not write the keyspace before get workloads
  --timeout-ms MS      per-request deadline, counted as an error (default 5000)
Each loop of the redis target has its own connection; loops are spread over
the endpoints round robin. Output: one JSON line on stdout.`;
  (code ? process.stderr : process.stdout).write(text + '\n');
  process.exit(code);
}

function parseArgs(argv) {
  const o = {
    target: null,
    endpoints: null,
    op: null,
    clients: 50,
    seconds: 10,
    warmup: 2,
    valueSize: 100,
    keys: 100000,
    conns: 0,
    readonly: false,
    leaderFirst: false,
    prefillEndpoint: null,
    prefill: true,
    timeoutMs: 5000,
  };
  const numeric = {
    '--clients': 'clients',
    '--seconds': 'seconds',
    '--warmup': 'warmup',
    '--value-size': 'valueSize',
    '--keys': 'keys',
    '--conns': 'conns',
    '--timeout-ms': 'timeoutMs',
  };
  const strings = {
    '--target': 'target',
    '--endpoints': 'endpoints',
    '--op': 'op',
    '--prefill-endpoint': 'prefillEndpoint',
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let val = null;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      val = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (val !== null) return val;
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '-h' || arg === '--help') usage(0);
    else if (arg === '--readonly') o.readonly = true;
    else if (arg === '--no-prefill') o.prefill = false;
    else if (arg === '--leader-first') o.leaderFirst = true;
    else if (numeric[arg]) {
      const v = Number(next());
      if (!Number.isFinite(v) || v < 0) fail(`${arg}: not a number >= 0`);
      o[numeric[arg]] = v;
    } else if (strings[arg]) o[strings[arg]] = next();
    else fail(`unknown argument ${arg}`);
  }
  if (o.target !== 'etcd' && o.target !== 'redis')
    fail('--target must be etcd or redis');
  if (!o.endpoints) fail('--endpoints is required');
  o.endpoints = o.endpoints.split(',').filter((e) => e.length > 0);
  if (o.endpoints.length === 0) fail('--endpoints is empty');
  const ops =
    o.target === 'etcd' ? ['put', 'get', 'get-serializable'] : ['set', 'get'];
  if (o.op === null) o.op = ops[0];
  if (!ops.includes(o.op))
    fail(`--op for ${o.target} is one of ${ops.join(', ')}`);
  if (o.readonly && o.target !== 'redis') fail('--readonly is for redis');
  if (o.leaderFirst && o.target !== 'etcd') fail('--leader-first is for etcd');
  o.clients = Math.floor(o.clients);
  o.keys = Math.floor(o.keys);
  o.valueSize = Math.floor(o.valueSize);
  if (o.clients < 1) fail('--clients must be at least 1');
  if (o.keys < 1) fail('--keys must be at least 1');
  if (o.seconds <= 0) fail('--seconds must be more than 0');
  if (o.conns === 0) o.conns = o.endpoints.length;
  o.conns = Math.max(1, Math.min(Math.floor(o.conns), o.clients));
  return o;
}

function fail(msg) {
  process.stderr.write(`load.js: ${msg}\n`);
  process.exit(2);
}

function keyName(i) {
  return 'k' + String(i).padStart(15, '0');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Distinct error messages go to stderr, a few of them, once each.
const seenErrors = new Set();
function noteError(err) {
  const msg = (err && (err.message || String(err))) || 'unknown error';
  if (seenErrors.size < 5 && !seenErrors.has(msg)) {
    seenErrors.add(msg);
    process.stderr.write(`load.js: error: ${msg}\n`);
  }
}

// Setup (connecting, prefilling) gets a longer deadline than one measured
// request, and a few tries: a loaded machine must not fail the run there.
const SETUP_TIMEOUT_MS = 30000;

async function retried(fn, tries = 5) {
  for (let t = 1; ; t++) {
    try {
      return await fn();
    } catch (err) {
      if (t >= tries) throw err;
      noteError(err);
      await sleep(200 * t);
    }
  }
}

// Run fn(i) for i in [0, n) with at most `width` calls in flight.
async function inParallel(n, width, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

// ---- etcd ----------------------------------------------------------------

async function etcdTarget(o) {
  const { Etcd3 } = require('etcd3');
  const { noop } = require('cockatiel');
  let hosts = o.endpoints.map((e) =>
    /^https?:\/\//.test(e) ? e : `http://${e}`,
  );
  const options = (host) => ({
    hosts: [host],
    // A connection of its own per client instance, not grpc-js's shared one.
    grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
    // Failures are counted by the caller, not retried.
    faultHandling: { host: () => noop, global: noop },
    defaultCallOptions: () => ({ deadline: Date.now() + o.timeoutMs }),
  });
  const setup = () => ({ deadline: Date.now() + SETUP_TIMEOUT_MS });
  if (o.leaderFirst) {
    const isLeader = await Promise.all(
      hosts.map(async (h) => {
        const c = new Etcd3(options(h));
        try {
          const st = await retried(() => c.maintenance.status(setup()));
          return st.leader === st.header.member_id;
        } finally {
          c.close();
        }
      }),
    );
    hosts = hosts
      .filter((_, i) => isLeader[i])
      .concat(hosts.filter((_, i) => !isLeader[i]));
  }
  const conns = [];
  for (let i = 0; i < o.conns; i++) {
    conns.push(new Etcd3(options(hosts[i % hosts.length])));
  }
  const keys = Array.from({ length: o.keys }, (_, i) =>
    Buffer.from(keyName(i)),
  );
  const value = Buffer.alloc(o.valueSize, 'v');
  const serializable = o.op === 'get-serializable';

  // Reach every endpoint before measuring anything.
  await Promise.all(
    conns.map((c) => retried(() => c.kv.range({ key: keys[0] }, setup()))),
  );

  if (o.op !== 'put' && o.prefill) {
    const batch = 128; // etcd's default --max-txn-ops
    const batches = Math.ceil(o.keys / batch);
    await inParallel(batches, 8, async (b) => {
      const success = [];
      for (let k = b * batch; k < Math.min(o.keys, (b + 1) * batch); k++)
        success.push({ request_put: { key: keys[k], value } });
      await retried(() => conns[b % conns.length].kv.txn({ success }, setup()));
    });
  }

  const request =
    o.op === 'put'
      ? (kv, key) => kv.put({ key, value })
      : (kv, key) => kv.range({ key, serializable });
  return {
    loop: (i) => {
      const kv = conns[i % conns.length].kv;
      return () => request(kv, keys[(Math.random() * o.keys) | 0]);
    },
    close: () => conns.forEach((c) => c.close()),
  };
}

// ---- redis ---------------------------------------------------------------

function redisAddress(e) {
  const s = e.replace(/^redis:\/\//, '');
  const colon = s.lastIndexOf(':');
  if (colon < 0) return { host: '127.0.0.1', port: Number(s) };
  return {
    host: s.slice(0, colon) || '127.0.0.1',
    port: Number(s.slice(colon + 1)),
  };
}

async function redisConnect(Redis, endpoint, o) {
  const r = new Redis({
    ...redisAddress(endpoint),
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: o.timeoutMs,
    commandTimeout: o.timeoutMs,
    retryStrategy: () => 100,
  });
  r.on('error', noteError);
  await r.connect();
  if (o.readonly) await r.call('READONLY');
  return r;
}

async function redisTarget(o) {
  const Redis = require('ioredis');
  const keys = Array.from({ length: o.keys }, (_, i) => keyName(i));
  const value = 'v'.repeat(o.valueSize);

  if (o.op === 'get' && o.prefill) {
    const r = await redisConnect(Redis, o.prefillEndpoint || o.endpoints[0], {
      ...o,
      readonly: false,
      timeoutMs: Math.max(o.timeoutMs, SETUP_TIMEOUT_MS),
    });
    const batch = 100;
    await inParallel(Math.ceil(o.keys / batch), 8, async (b) => {
      const args = [];
      for (let k = b * batch; k < Math.min(o.keys, (b + 1) * batch); k++)
        args.push(keys[k], value);
      await retried(() => r.mset(...args));
    });
    r.disconnect();
  }

  const conns = await Promise.all(
    Array.from({ length: o.clients }, (_, i) =>
      redisConnect(Redis, o.endpoints[i % o.endpoints.length], o),
    ),
  );
  const request =
    o.op === 'set' ? (r, key) => r.set(key, value) : (r, key) => r.get(key);
  return {
    loop: (i) => {
      const r = conns[i];
      return () => request(r, keys[(Math.random() * o.keys) | 0]);
    },
    close: () => conns.forEach((r) => r.disconnect()),
  };
}

// ---- measurement -----------------------------------------------------------

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

async function measure(o, target) {
  const lat = [];
  let errors = 0;
  const t0 = performance.now();
  const measureFrom = t0 + o.warmup * 1000;
  const stopAt = measureFrom + o.seconds * 1000;

  const runLoop = async (i) => {
    const call = target.loop(i);
    for (;;) {
      const start = performance.now();
      if (start >= stopAt) return;
      const counted = start >= measureFrom;
      try {
        await call();
        if (counted) lat.push(performance.now() - start);
      } catch (err) {
        noteError(err);
        if (counted) errors++;
        await sleep(10); // a failing server must not turn the loop into a spin
      }
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, i) => runLoop(i)));
  const seconds = (performance.now() - measureFrom) / 1000;

  const sorted = Float64Array.from(lat).sort();
  const round = (x) => Math.round(x * 1000) / 1000;
  return {
    ops: lat.length,
    errors,
    seconds: round(seconds),
    rps: Math.round((lat.length / seconds) * 10) / 10,
    p50_ms: round(percentile(sorted, 0.5)),
    p90_ms: round(percentile(sorted, 0.9)),
    p99_ms: round(percentile(sorted, 0.99)),
    p999_ms: round(percentile(sorted, 0.999)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : 0),
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let target;
  try {
    target = o.target === 'etcd' ? await etcdTarget(o) : await redisTarget(o);
  } catch (err) {
    process.stderr.write(`load.js: setup failed: ${err && err.message}\n`);
    process.exit(1);
  }
  const result = await measure(o, target);
  target.close();
  const line = {
    tool: 'node',
    target: o.target,
    workload: o.op + (o.readonly ? '-readonly' : ''),
    clients: o.clients,
    ...result,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
  process.exit(0);
}

main();
