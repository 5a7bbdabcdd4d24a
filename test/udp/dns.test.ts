/**
 * A real DNS exchange through the UDP proxy: dnsmasq answers, dig asks (packages dnsmasq-base and dnsutils).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { freeUdpPort, sleep, startProxy, udpSnapshot } from './helpers.js';

const run = promisify(execFile);

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const missing = ['dig', 'dnsmasq'].filter((c) => !has(c));
const skip = missing.length ? `needs ${missing.join(' and ')} (apt-get install dnsmasq-base dnsutils)` : false;

async function dig(port: number, name: string): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), name, '+short', '+tries=1', '+time=1']);
  return stdout.trim();
}

async function startDnsmasq(port: number): Promise<ChildProcess> {
  const child = spawn(
    'dnsmasq',
    [
      '--no-daemon',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--address=/example.test/10.1.2.3',
      '--conf-file=/dev/null',
      '--user=root',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // ready once it answers a direct query
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${stderr}`);
    try {
      if ((await dig(port, 'example.test')) === '10.1.2.3') return child;
    } catch {
      /* not up yet */
    }
    await sleep(50);
  }
  child.kill();
  throw new Error(`dnsmasq did not answer: ${stderr}`);
}

/** dnsmasq on a free port: it binds TCP as well as UDP, so a port free for UDP may be taken for TCP; try again then. */
async function dnsmasqOnFreePort(): Promise<{ child: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freeUdpPort();
    try {
      return { child: await startDnsmasq(port), port };
    } catch (err) {
      if (attempt >= 5 || !/in use/.test((err as Error).message)) throw err;
    }
  }
}

test("dig through the proxy gets dnsmasq's answer", { skip }, async (t) => {
  const { child: dnsmasq, port: dnsPort } = await dnsmasqOnFreePort();
  const proxy = await startProxy(udpSnapshot('127.0.0.1', dnsPort, { service: { read_timeout: 300 } }));
  t.after(async () => {
    await proxy.close();
    if (dnsmasq.exitCode === null) {
      dnsmasq.kill();
      await once(dnsmasq, 'exit');
    }
  });
  assert.equal(await dig(proxy.port, 'example.test'), '10.1.2.3');
  assert.equal(await dig(proxy.port, 'www.example.test'), '10.1.2.3', 'a second query (new source port)');
  const r = await proxy.nextRecord();
  assert.equal(r.session.status, 200);
  assert.equal(r.session.datagrams_received, 1);
  assert.equal(r.session.datagrams_sent, 1);
  assert.ok(r.session.sent > 12, 'a DNS answer came back');
});
