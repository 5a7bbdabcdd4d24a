#!/usr/bin/env node
// Reload stall bench: does a reload hold the data path? A spawned kong-ts serves a generated file of N tcp routes
// and M certificates; one client pings a TCP echo backend through it (8 bytes, one round trip at a time, ~2 ms
// apart) while the file is rewritten R times (two variants alternating: one route's port and one certificate
// differ, as in a GitOps change). Prints p50 / p99 / max round trip of the pings sent while a reload ran, the
// reload times and the process's peak RSS (VmHWM; primary + workers in worker mode), per size and mode.
// Usage: node scripts/reload-stall.mjs [sizes=5000:500,50000:5000] [workers=1,2] [reloads=5]
// (STALL_BASELINE_S=20 with reloads 0: the same pings for 20 s with no reload, the machine's own floor)
// (run `npm run build` first; the echo backend and the client run in this process, which does nothing else)
// (STALL_CLIENT_SLICE_US=100: this process runs with a 100 µs CPU time slice and kong-ts with the kernel's default,
// through scripts/with-slice.py, Linux 6.12+: the client then does not wait for a core behind the reload's threads)
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sliceUs = process.env.STALL_CLIENT_SLICE_US;
const withSlice = join(root, 'scripts/with-slice.py');
if (sliceUs && !process.env.STALL_SLICED) {
  const again = spawn(withSlice, [String(Number(sliceUs) * 1000), process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, STALL_SLICED: '1' },
  });
  again.on('exit', (code) => process.exit(code ?? 1));
  await new Promise(() => {});
}
const [sizesArg = '5000:500,50000:5000', modesArg = '1,2', reloadsArg = '5'] = process.argv.slice(2);
const sizes = sizesArg.split(',').map((s) => s.split(':').map(Number));
const modes = modesArg.split(',').map(Number);
const reloads = Number(reloadsArg);

// --- certificates: self-signed P-256, DER written here (openssl per certificate would take minutes) ---
const der = (tag, body) => {
  const n = body.length;
  const len = n < 128 ? [n] : n < 256 ? [0x81, n] : [0x82, n >> 8, n & 255];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
};
const seq = (...parts) => der(0x30, Buffer.concat(parts));
const ECDSA_SHA256 = seq(Buffer.from('06082a8648ce3d040302', 'hex'));
const name = (cn) => seq(der(0x31, seq(Buffer.from('0603550403', 'hex'), der(0x0c, Buffer.from(cn)))));
function selfSigned(cn, serial) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const validity = seq(der(0x17, Buffer.from('250101000000Z')), der(0x17, Buffer.from('450101000000Z')));
  const sn = Buffer.alloc(4); // DER integers are minimal: a non-zero first byte below 0x80
  sn.writeUInt32BE(0x01000000 + serial);
  const tbs = seq(
    der(0x02, sn),
    ECDSA_SHA256,
    name(cn),
    validity,
    name(cn),
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const sig = sign('sha256', tbs, privateKey);
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.concat([Buffer.from([0]), sig])));
  const pem = (label, b) =>
    `-----BEGIN ${label}-----\n${b
      .toString('base64')
      .match(/.{1,64}/g)
      .join('\n')}\n-----END ${label}-----\n`;
  return { cert: pem('CERTIFICATE', cert), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) };
}

function config(routes, certs, pairs, echoPort, listenPort, variant) {
  const out = [
    '_format_version: "3.0"',
    'services:',
    `- name: echo`,
    `  url: tcp://127.0.0.1:${echoPort}`,
    '  routes:',
    '  - name: ping',
    '    protocols: [tcp]',
    `    destinations: [{port: ${listenPort}}]`,
  ];
  const perService = 10;
  for (let s = 0; s < routes / perService; s++) {
    out.push(`- name: svc-${s}`, `  url: tcp://10.${(s >> 8) & 255}.${s & 255}.1:${1000 + (s % 50000)}`, '  routes:');
    for (let r = 0; r < perService; r++) {
      const n = s * perService + r;
      // the variant moves one route to another port: a route change, so the router is rebuilt
      const port = n === 7 && variant ? 9 : 10000 + (n % 50000);
      out.push(
        `  - name: r-${n}`,
        '    protocols: [tcp]',
        `    destinations: [{ip: 10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}, port: ${port}}]`,
      );
    }
  }
  out.push('certificates:');
  const ind = (t) =>
    '|\n' +
    t
      .trimEnd()
      .split('\n')
      .map((l) => '    ' + l)
      .join('\n');
  for (let i = 0; i < certs; i++) {
    // the variant replaces one certificate: one SecureContext is made, the others are reused
    const p = i === 3 && variant ? pairs[certs] : pairs[i];
    out.push(`- cert: ${ind(p.cert)}`, `  key: ${ind(p.key)}`, `  snis: [h${i}.example.net]`);
  }
  return out.join('\n') + '\n';
}

const pct = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))] : NaN);
const freePort = () =>
  new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });

function peakRss(pid) {
  const pids = [pid];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(pid)) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  let kb = 0;
  for (const p of pids) {
    try {
      kb += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))[1]);
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

// The echo backend and the pinging client run on a thread of their own with a small heap: this thread holds the
// generated files (tens of MB) and its collections would otherwise be counted as the proxy's stalls. Each ping is
// timed there; a ping counts as "during a reload" when it was sent between a rename and that reload's last log line.
const PINGER = `
const { parentPort } = require('node:worker_threads');
const net = require('node:net');
const now = () => performance.timeOrigin + performance.now();
const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
echo.listen(0, '127.0.0.1', () => parentPort.postMessage(echo.address().port));
let sock = null, stop = false;
const samples = [];
const ping = Buffer.alloc(8, 1);
function one() {
  if (stop) return parentPort.postMessage(samples);
  const t = now();
  sock.once('data', () => {
    samples.push([t, now() - t]);
    setTimeout(one, 2);
  });
  sock.write(ping);
}
parentPort.on('message', (m) => {
  if (m === 'stop') stop = true;
  else if (m === 'close') echo.close();
  else sock = net.connect(m, '127.0.0.1', () => { samples.length = 0; stop = false; one(); });
});
`;
const pinger = new Worker(PINGER, { eval: true });
const [echoPort] = await once(pinger, 'message');
const wallNow = () => performance.timeOrigin + performance.now();
const maxCerts = Math.max(...sizes.map(([, c]) => c));
process.stderr.write(`generating ${maxCerts + 1} certificates...\n`);
const pairs = Array.from({ length: maxCerts + 1 }, (_, i) => selfSigned(`h${i}.example.net`, i));
const rows = [];

for (const [routes, certs] of sizes) {
  for (const workers of modes) {
    const dir = mkdtempSync(join(tmpdir(), 'kts-stall-'));
    const listenPort = await freePort();
    const files = [0, 1].map((v) => config(routes, certs, pairs, echoPort, listenPort, v));
    const hashes = files.map((t) => createHash('md5').update(t).digest('hex'));
    const file = join(dir, 'kong.yml');
    writeFileSync(file, files[0]);
    const t0 = performance.now();
    // bin/kong-ts is run as a user runs it (its #! line sets node's flags); STALL_NODE_ARGS="--cpu-prof ..." runs
    // `node $STALL_NODE_ARGS bin/kong-ts` instead, with those flags only
    const nodeArgs = process.env.STALL_NODE_ARGS?.split(' ').filter(Boolean);
    const command = nodeArgs ? [process.execPath, ...nodeArgs, join(root, 'bin/kong-ts')] : [join(root, 'bin/kong-ts')];
    if (sliceUs) command.unshift(withSlice, '0'); // kong-ts with the kernel's default slice
    const child = spawn(
      command[0],
      [
        ...command.slice(1),
        'start',
        '-c',
        file,
        '-p',
        join(dir, 'prefix'),
        '--stream-listen',
        `127.0.0.1:${listenPort}`,
        '--admin-listen',
        'off',
        '--log-level',
        'info',
        '--set',
        `nginx_worker_processes=${workers}`,
        '--set',
        'proxy_stream_access_log=off',
        '--set',
        'reload_debounce=50',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let logs = '';
    const waiters = [];
    const onLine = (d) => {
      logs += d;
      if (process.env.BENCH_DEBUG) process.stderr.write(d);
      for (const w of [...waiters])
        if (w.test(logs)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    child.on('exit', (code) => {
      if (code !== null && code !== 0) {
        process.stderr.write(logs.slice(-3000));
        process.exit(1);
      }
    });
    const until = (test, ms) =>
      new Promise((resolve, reject) => {
        const w = { test, resolve };
        if (test(logs)) return resolve();
        waiters.push(w);
        setTimeout(() => reject(new Error(`timed out; log tail:\n${logs.slice(-2000)}`)), ms).unref();
      });
    const count = (s, what) => s.split('\n').filter((l) => l.includes(what)).length;
    await until((s) => s.includes('"kong-ts started"'), 600_000);
    const startMs = performance.now() - t0;

    pinger.postMessage(listenPort);
    const spans = []; // [from, to] of each reload, in wall time
    // STALL_BASELINE_S: ping that long before the first reload (the "between reloads" columns then show what this
    // machine adds with no reload at all: run with reloads = 0)
    await new Promise((r) => setTimeout(r, Number(process.env.STALL_BASELINE_S ?? 0.5) * 1000));
    const reloadMs = [];
    const serverBlocked = [];
    for (let i = 1; i <= reloads; i++) {
      const want = files[i % 2];
      const doneBefore = count(logs, '"declarative config reloaded"');
      const tmp = `${file}.tmp`;
      // written off this thread (libuv's pool): a synchronous write of 8.8 MB held this process's own ping loop for
      // 10-20 ms and was counted as the proxy's stall
      await writeFile(tmp, want);
      const r0 = performance.now();
      const from = wallNow();
      renameSync(tmp, file);
      // one "reloaded" line per process that builds a snapshot: the process alone, or the primary and each worker
      await until(
        (s) => count(s, '"declarative config reloaded"') >= doneBefore + (workers > 1 ? workers + 1 : 1),
        600_000,
      );
      reloadMs.push(performance.now() - r0);
      spans.push([from, wallNow()]);
      for (const l of logs
        .split('\n')
        .filter((x) => x.includes('"declarative config reloaded"'))
        .slice(doneBefore)) {
        try {
          const j = JSON.parse(l);
          serverBlocked.push({ loop: j.loop_blocked_ms, slice: j.longest_slice_ms, cpu: j.longest_slice_cpu_ms });
        } catch {
          /* not JSON */
        }
      }
      await new Promise((r) => setTimeout(r, 300));
      void hashes;
    }
    pinger.postMessage('stop');
    const [samples] = await once(pinger, 'message');
    const inReload = ([t]) => spans.some(([a, b]) => t >= a && t <= b);
    const during = samples
      .filter(inReload)
      .map(([, ms]) => ms)
      .sort((a, b) => a - b);
    const quiet = samples
      .filter((x) => !inReload(x))
      .map(([, ms]) => ms)
      .sort((a, b) => a - b);
    const rss = peakRss(child.pid);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    const row = {
      size: `${routes} routes + ${certs} certs (${(files[0].length / 1e6).toFixed(1)} MB)`,
      mode: workers > 1 ? `${workers} workers` : 'single',
      pings: during.length,
      p50: pct(during, 0.5),
      p99: pct(during, 0.99),
      max: during[during.length - 1],
      over10: during.filter((x) => x > 10).length,
      startS: startMs / 1000,
      reloadS:
        pct(
          [...reloadMs].sort((a, b) => a - b),
          0.5,
        ) / 1000,
      blocked: Math.max(...serverBlocked.map((b) => b.loop)),
      slice: Math.max(...serverBlocked.map((b) => b.slice)),
      sliceCpu: Math.max(...serverBlocked.map((b) => b.cpu)),
      rssMb: rss,
      quietP99: pct(quiet, 0.99),
      quietMax: quiet[quiet.length - 1],
    };
    rows.push(row);
    process.stderr.write(JSON.stringify(row) + '\n');
  }
}
pinger.postMessage('close');
await pinger.terminate();

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
// "between reloads": the same pings when no reload runs, i.e. what the machine itself adds (other load, scheduling).
// "longest slice": the longest the reload's own main-thread work ran without yielding (kong-ts's log, per process),
// in wall time and in CPU time (the wall time also counts the time the machine gave to other processes);
// "loop delay": monitorEventLoopDelay's max while reloading (that work plus GC plus the machine's scheduling)
console.log(
  '| size | mode | pings during reloads | p50 ms | p99 ms | max ms | over 10 ms | between reloads p99 / max ms | longest slice ms (wall / CPU) | loop delay max ms | start s | reload s (median) | peak RSS MB |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.size} | ${r.mode} | ${r.pings} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${r.over10} | ${f(r.quietP99)} / ${f(r.quietMax)} | ${f(r.slice, 1)} / ${f(r.sliceCpu, 1)} | ${f(r.blocked, 1)} | ${f(r.startS, 1)} | ${f(r.reloadS, 1)} | ${f(r.rssMb, 0)} |`,
  );
}
