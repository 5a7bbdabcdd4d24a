/**
 * Replay against real traffic: 1,000 sessions through a running kong-ts (from ten loopback addresses) recorded in
 * the json access log and the recent-sessions ring; `config diff --replay` and `config plan --admin` predict a
 * change that moves a known share of them; then the change is applied and the same sessions run again, and the
 * prediction must equal what the proxy did.
 */
import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startYaml, type TestInstance } from '../helpers/instance.js';
import { startEcho } from '../helpers/sockets.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import type { ReplayReport } from '../../src/gitops/replay.js';

const PER_ADDRESS = 100;
const ADDRESSES = Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 1}`);

function files(echo: number): { old: string; new: string } {
  const svc = (name: string, routes: string) => `  - name: ${name}\n    url: tcp://127.0.0.1:${echo}\n${routes}`;
  return {
    old:
      `_format_version: "3.0"\nservices:\n` +
      svc('a', '    routes:\n      - { name: r-a, protocols: [tcp], sources: [{ ip: 127.0.0.0/28 }] }\n') +
      svc('b', '') +
      svc('c', '    routes:\n      - { name: r-c, protocols: [tcp], sources: [{ ip: 127.0.0.9 }] }\n'),
    // .2 and .3 move to b; .8, .9 (r-c removed) and .10 fall out of every route
    new:
      `_format_version: "3.0"\nservices:\n` +
      svc('a', '    routes:\n      - { name: r-a, protocols: [tcp], sources: [{ ip: 127.0.0.0/29 }] }\n') +
      svc(
        'b',
        '    routes:\n      - { name: r-b, protocols: [tcp], sources: [{ ip: 127.0.0.2 }, { ip: 127.0.0.3 }] }\n',
      ) +
      svc('c', ''),
  };
}

/** One session from `local`: send a byte, wait for the echo or the proxy's close. */
function session(port: number, local: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: local });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`session from ${local} hung`));
    }, 10_000);
    s.on('connect', () => s.write('x'));
    s.on('data', () => s.end());
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function runSessions(port: number): Promise<void> {
  const jobs = ADDRESSES.flatMap((a) => Array.from({ length: PER_ADDRESS }, () => a));
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await session(port, jobs[next++]!);
  };
  await Promise.all(Array.from({ length: 20 }, worker));
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function lines(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/** What the proxy did: old record → new record of the same client address, counted like a replay report. */
function actual(
  before: SessionRecord[],
  after: SessionRecord[],
): { kept: number; moved: number; unrouted: number; groups: Map<string, number> } {
  const oldBy = new Map<string, string>();
  for (const r of before) {
    const k = `${r.route?.name ?? '-'}/${r.service?.name ?? '-'}`;
    assert.equal(oldBy.get(r.client_ip) ?? k, k, 'one route per client address before the change');
    oldBy.set(r.client_ip, k);
  }
  const out = { kept: 0, moved: 0, unrouted: 0, groups: new Map<string, number>() };
  for (const r of after) {
    const from = oldBy.get(r.client_ip)!;
    const to = r.route && r.service ? `${r.route.name}/${r.service.name}` : '-/-';
    if (to === '-/-') assert.equal(r.session.status, 500);
    if (from === to) {
      out.kept++;
      continue;
    }
    if (to === '-/-') out.unrouted++;
    else out.moved++;
    out.groups.set(`${from} → ${to}`, (out.groups.get(`${from} → ${to}`) ?? 0) + 1);
  }
  return out;
}

function reported(rep: ReplayReport): Map<string, number> {
  const m = new Map<string, number>();
  for (const g of rep.groups)
    m.set(`${g.from.route ?? '-'}/${g.from.service ?? '-'} → ${g.to.route ?? '-'}/${g.to.service ?? '-'}`, g.count);
  return m;
}

test(
  'replay: 1,000 recorded sessions; diff --replay and plan predict exactly what the proxy does after the change',
  { timeout: 180_000 },
  async () => {
    const echo = await startEcho();
    const f = files(echo.port);
    let ti: TestInstance | undefined;
    try {
      ti = await startYaml(f.old, {
        settings: { proxy_stream_access_log: 'logs/access.json json', admin_listen: '127.0.0.1:0' },
        tag: 'replay',
      });
      const log = join(ti.dir, 'prefix', 'logs', 'access.json');
      const total = ADDRESSES.length * PER_ADDRESS;
      await runSessions(ti.ports[0]!);
      await until('the records', () => ti!.records.length >= total);
      await until('the access log', () => lines(log) >= total);
      const before = ti.records.splice(0, total);
      assert.equal(before.filter((r) => r.route).length, total);
      const oldFile = join(ti.dir, 'old.yml'),
        newFile = join(ti.dir, 'new.yml');
      writeFileSync(oldFile, f.old);
      writeFileSync(newFile, f.new);

      const d = await runCli(['config', 'diff', oldFile, newFile, '--replay', log, '--format', 'json'], {
        timeoutMs: 60_000,
      });
      assert.equal(d.code, 1, d.stderr);
      const rep = (JSON.parse(d.stdout) as { replay: ReplayReport }).replay;
      assert.deepEqual(
        [rep.sessions, rep.kept, rep.moved, rep.unrouted, rep.still_unrouted, rep.skipped],
        [total, 500, 200, 300, 0, 0],
      );

      const fail = await runCli(['config', 'diff', oldFile, newFile, '--replay', log, '--fail-on-unrouted'], {
        timeoutMs: 60_000,
      });
      assert.equal(fail.code, 1);
      assert.match(fail.stdout, /^ {2}300 would find no route \(30\.0%\)$/m);
      assert.match(fail.stdout, /^ +200 {2}route 'r-a' \(service 'a'\) → route 'r-b' \(service 'b'\)$/m);
      assert.match(fail.stdout, /e\.g\. tcp 127\.0\.0\.[23]:\d+ → 127\.0\.0\.1:\d+/);
      const gh = await runCli(['config', 'diff', oldFile, newFile, '--replay', log, '--format', 'github'], {
        timeoutMs: 60_000,
      });
      assert.match(
        gh.stdout,
        /^::error title=kong-ts replay::100 sessions would find no route: route 'r-c' \(service 'c'\) → no route, e\.g\. /m,
      );

      const p = await runCli(
        ['config', 'plan', newFile, '--admin', ti.admin!, '--format', 'json', '--fail-on-unrouted'],
        { timeoutMs: 60_000 },
      );
      assert.equal(p.code, 1, p.stderr);
      const prep = (JSON.parse(p.stdout) as { replay: ReplayReport }).replay;
      assert.deepEqual([prep.sessions, prep.kept, prep.moved, prep.unrouted], [total, 500, 200, 300]);

      // apply the change, run the same sessions, and compare with what the proxy did
      assert.equal(await ti.reload(f.new), 'loaded');
      await runSessions(ti.ports[0]!);
      await until('the records after the change', () => ti!.records.length >= total);
      const real = actual(before, ti.records.splice(0, total));
      assert.deepEqual([real.kept, real.moved, real.unrouted], [rep.kept, rep.moved, rep.unrouted]);
      assert.deepEqual(new Map([...real.groups].sort()), new Map([...reported(rep)].sort()));
    } finally {
      await ti?.stop();
      await echo.close();
    }
  },
);
