/**
 * Datagrams per second: direct to an echo server, through kong-ts, and through nginx stream (when installed).
 * Skipped unless UDP_BENCH=1 (it takes about 15 s and wants a quiet machine):
 *   UDP_BENCH=1 node --test .build/udp/test/udp/bench.test.js
 * Echo, load generator and each proxy run in their own processes, so no two share an event loop.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freeUdpPort, sleep } from './helpers.js';

const SECONDS = Number(process.env.UDP_BENCH_SECONDS ?? 3);
const NGINX_STREAM = '/usr/lib/nginx/modules/ngx_stream_module.so';

const ECHO = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(+process.argv[1], '127.0.0.1', () => { s.setRecvBufferSize(4 << 20); s.setSendBufferSize(4 << 20); console.log('ready'); });
`;

// C sockets keep W datagrams each in flight; every reply sends the next one. Prints replies per second.
const LOAD = `
const dgram = require('node:dgram');
const [port, seconds, C, W, size] = process.argv.slice(1).map(Number);
const payload = Buffer.alloc(size, 7);
let replies = 0, counting = false;
const socks = [];
for (let i = 0; i < C; i++) {
  const s = dgram.createSocket('udp4');
  s.on('message', () => { if (counting) replies++; s.send(payload, port, '127.0.0.1'); });
  s.bind(0, '127.0.0.1', () => { s.setRecvBufferSize(4 << 20); for (let j = 0; j < W; j++) s.send(payload, port, '127.0.0.1'); });
  socks.push(s);
}
setTimeout(() => { counting = true; const t0 = performance.now();
  setTimeout(() => { counting = false; console.log(JSON.stringify({ dps: Math.round(replies / ((performance.now() - t0) / 1000)) })); process.exit(0); }, seconds * 1000);
}, 300);
`;

function startNode(script: string, args: (string | number)[], ready = 'ready'): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes(ready)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

async function load(port: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', LOAD, String(port), String(SECONDS), '4', '32', '64'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out).dps as number;
}

function kongTs(echoPort: number, port: number): Promise<ChildProcess> {
  const server = new URL('../../src/udp/server.js', import.meta.url).href;
  const helpers = new URL('./helpers.js', import.meta.url).href;
  const log = new URL('../../src/log.js', import.meta.url).href;
  const script = `
    const { UdpServer } = await import(${JSON.stringify(server)});
    const { udpSnapshot } = await import(${JSON.stringify(helpers)});
    const { silentLogger } = await import(${JSON.stringify(log)});
    const srv = new UdpServer({ listeners: [{ host: '127.0.0.1', port: ${port}, udp: true, ssl: false, proxyProtocol: false,
      reuseport: false, bind: false, text: '127.0.0.1:${port} udp' }], logger: silentLogger });
    srv.swap(udpSnapshot('127.0.0.1', ${echoPort}));
    await srv.listen();
    console.log('ready');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`kong-ts exited with ${code}`)));
  });
}

async function nginx(dir: string, echoPort: number, port: number, responses: boolean): Promise<ChildProcess> {
  const conf = join(dir, `nginx-${port}.conf`);
  writeFileSync(
    conf,
    `load_module ${NGINX_STREAM};
daemon off; master_process off; worker_processes 1; pid ${dir}/nginx-${port}.pid; error_log ${dir}/error-${port}.log warn;
events { worker_connections 4096; }
stream { server { listen 127.0.0.1:${port} udp; proxy_pass 127.0.0.1:${echoPort};${responses ? ' proxy_responses 1;' : ''} } }
`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' });
  await sleep(300);
  assert.equal(child.exitCode, null, 'nginx started');
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill();
  await exited;
}

test(
  'udp throughput: direct, kong-ts, nginx',
  { skip: process.env.UDP_BENCH !== '1' && 'set UDP_BENCH=1 to run' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kong-ts-udp-bench-'));
    const children: ChildProcess[] = [];
    t.after(async () => {
      await Promise.all(children.map(stop));
      rmSync(dir, { recursive: true, force: true });
    });
    const echoPort = await freeUdpPort();
    children.push(await startNode(ECHO, [echoPort]));
    const results: Record<string, number> = {};
    results.direct = await load(echoPort);

    const kport = await freeUdpPort();
    const k = await kongTs(echoPort, kport);
    children.push(k);
    results['kong-ts'] = await load(kport);
    await stop(k);

    if (existsSync(NGINX_STREAM)) {
      for (const responses of [true, false]) {
        const nport = await freeUdpPort();
        const n = await nginx(dir, echoPort, nport, responses);
        children.push(n);
        results[responses ? 'nginx (proxy_responses 1)' : 'nginx (session kept)'] = await load(nport);
        await stop(n);
      }
    }
    const lines = Object.entries(results).map(
      ([k, v]) => `${k.padEnd(28)} ${String(v).padStart(8)} datagrams/s  ${(v / results.direct!).toFixed(2)}x direct`,
    );
    for (const l of lines) t.diagnostic(l);
    assert.ok(results['kong-ts'] > 0, 'kong-ts forwarded datagrams');
  },
);
