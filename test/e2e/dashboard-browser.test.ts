/**
 * The dashboard in a real headless chromium, on a running kong-ts carrying real traffic: the page shows the live
 * routes and their open sessions, follows a reload, shows a broken reload's error at file:line:column, its explain
 * box names the same winner as `kong-ts route explain`, and its charts draw the traffic. Then the same page on a
 * cluster (nginx_worker_processes=2): the primary combines its workers' sessions and the reload policy outcome.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openBrowser } from '../helpers/browser.js';
import { exclusive } from '../helpers/exclusive.js';
import { freePort, runCli, startCli, tempDir, exited } from '../helpers/cli.js';
import { startYaml } from '../helpers/instance.js';
import { startEcho } from '../helpers/sockets.js';

const TOKEN = 'dash-token-1';

const yaml = (echoPort: number, routes: string) => `_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:${echoPort}
    routes:
${routes}
`;
const R1 = `      - { name: loopback, protocols: [tcp], sources: [{ ip: 127.0.0.0/8 }], tags: [kong-ts.reload=close] }
      - { name: far, protocols: [tcp], sources: [{ ip: 10.0.0.0/8 }], destinations: [{ port: 5555 }] }`;
const R2 = `      - { name: loopback2, protocols: [tcp], sources: [{ ip: 127.0.0.0/8 }] }
      - { name: far, protocols: [tcp], sources: [{ ip: 10.0.0.0/8 }], destinations: [{ port: 5555 }] }`;
/** line 5, column 5: an unknown field, named like markup (the page must show it as text, never run it) */
const BROKEN =
  '_format_version: "3.0"\nservices:\n  - name: a\n    url: tcp://127.0.0.1:1\n    "<img src=x onerror=window.pwned=1>": 1\n';

async function openSession(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write('hi');
  await once(s, 'data');
  return s;
}

/** Short connections through the proxy, one every 50 ms, until stopped. */
function traffic(port: number): () => void {
  const t = setInterval(() => {
    const s = connect(port, '127.0.0.1', () => s.end('ping'));
    s.on('error', () => {});
    s.resume();
  }, 50);
  return () => clearInterval(t);
}

function text(page: Page, selector: string): Promise<string> {
  return page.locator(selector).first().innerText();
}

/** Waits until the page's `selector` text matches (the page polls once a second). */
async function waitText(page: Page, selector: string, re: RegExp, timeout = 45_000): Promise<void> {
  await page.waitForFunction(
    ([sel, src, flags]) => {
      const e = document.querySelector(sel!);
      return !!e && new RegExp(src!, flags).test((e as HTMLElement).innerText);
    },
    [selector, re.source, re.flags],
    { timeout, polling: 200 },
  );
}

// a browser, traffic and a cluster load both cores: no timing test runs beside them. The lock is taken in a hook,
// outside the tests' timeouts, so a long wait for it never leaves a test running on after its timeout
let release: (() => void) | undefined;
before(async () => {
  release = await exclusive();
});
after(() => release?.());

test(
  'a live page: routes and sessions, reloads, a broken reload at file:line:column, explain as the CLI, charts',
  { timeout: 120_000 },
  async (t) => {
    const echo = await startEcho();
    t.after(() => echo.close());
    const ti = await startYaml(yaml(echo.port, R1), {
      settings: { admin_listen: '127.0.0.1:0', admin_token: TOKEN },
      tag: 'dash-browser',
    });
    t.after(() => ti.stop());
    const port = ti.ports[0]!;
    const held = [await openSession(port), await openSession(port)];
    t.after(() => held.forEach((s) => s.destroy()));
    const stop = traffic(port);
    t.after(stop);

    const b = await openBrowser();
    t.after(() => b.close());
    const { page } = b;
    // the token once in the address: the answer redirects to /dashboard, and the cookie carries on
    await page.goto(`${ti.admin}/dashboard?token=${TOKEN}`);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
    await waitText(page, '#routes tr[data-route="loopback"] td.sessions', /^2$/);
    assert.equal(await text(page, '#cfg-generation'), '1');
    assert.equal(await text(page, '#cfg-hash'), ti.inst.manager.current!.hash);
    assert.match(await text(page, '#routes tr[data-route="far"]'), /echo\ttcp\t\d+\tsrc 10\.0\.0\.0\/8 · dst :5555\t0/);
    assert.match(await text(page, '#listeners'), new RegExp(`tcp\\t127\\.0\\.0\\.1:${port}`));

    // the charts draw the short connections once two samples are in
    await page.waitForFunction(
      () => {
        const line = document.querySelector('#chart-conns polyline');
        return !!line && (line.getAttribute('points') ?? '').split(' ').some((p) => Number(p.split(',')[1]) < 80);
      },
      undefined,
      { timeout: 45_000, polling: 250 },
    );
    await waitText(page, '#chart-status-legend', /200 /);
    // the short connections stop before the reload, so the two held sessions are the only ones it closes (one of
    // them still open at the swap was counted as a third on a loaded machine)
    stop();
    await delay(500);
    await waitText(page, '#routes tr[data-route="loopback"] td.sessions', /^2$/);

    // a reload replaces the route that held both sessions (tagged close): the page follows it
    assert.equal(await ti.reload(yaml(echo.port, R2)), 'loaded');
    await waitText(page, '#cfg-generation', /^2$/);
    await waitText(page, '#routes tr[data-route="loopback2"] td.sessions', /^\d+$/);
    assert.equal(await page.locator('#routes tr[data-route="loopback"]').count(), 0);
    await waitText(page, '#reloads tr:first-child', /signal\t\d+ ms\tloaded gen 2\t0 \/ 0 \/ 2/);

    // a broken reload: its error with file:line:column, the live config unchanged
    assert.equal(await ti.reload(BROKEN), 'invalid');
    await waitText(page, '#last-error', /the previous config keeps serving/);
    const problem = await text(page, '#last-error .problem');
    assert.match(problem, new RegExp(`^${ti.file.replace(/[/.]/g, '\\$&')}:5:5 `));
    assert.match(problem, /<img src=x onerror=window\.pwned=1>/);
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
    assert.equal(await page.locator('#last-error img').count(), 0);
    assert.match(await text(page, '#reloads tr:first-child'), /invalid/);
    assert.equal(await text(page, '#cfg-generation'), '2');

    // the explain box and the CLI on the same file and connection name the same winner
    writeFileSync(ti.file, yaml(echo.port, R2));
    for (const [source, destination, want] of [
      ['10.1.2.3:4000', '127.0.0.1:5555', 'far'],
      ['127.0.0.9:4000', '127.0.0.1:80', 'loopback2'],
      ['192.168.0.1:1', '127.0.0.1:80', ''],
    ] as const) {
      await page.fill('#x-source', source);
      await page.fill('#x-destination', destination);
      await page.click('#explain button');
      await page.waitForFunction(
        (s) => document.querySelector('#explain-text')?.textContent?.includes(`from ${s}`),
        source,
        { timeout: 30_000 },
      );
      const cli = await runCli([
        'route',
        'explain',
        '-c',
        ti.file,
        '--source',
        source,
        '--destination',
        destination,
        '--format',
        'json',
      ]);
      const cliWinner = cli.stdout ? (JSON.parse(cli.stdout).winner?.name ?? '') : '';
      assert.equal(cliWinner, want, cli.stderr);
      assert.equal(await page.locator('#winner').getAttribute('data-winner'), want);
    }
    assert.deepEqual(b.problems, []);
  },
);

test(
  'cluster: the primary serves the page with its workers combined, and the reload policy counted over workers',
  { timeout: 120_000 },
  async (t) => {
    const echo = await startEcho();
    t.after(() => echo.close());
    const dir = tempDir('dash-cluster');
    const file = join(dir, 'kong.yml');
    writeFileSync(file, yaml(echo.port, R1));
    const prefix = join(dir, 'prefix');
    const [listen, adminPort] = [await freePort(), await freePort()];
    const { child } = await startCli([
      '-c',
      file,
      '-p',
      prefix,
      '--stream-listen',
      `127.0.0.1:${listen}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
      '--set',
      'nginx_worker_processes=2',
    ]);
    t.after(() => {
      child.kill('SIGKILL');
    });
    const held: Socket[] = [];
    t.after(() => held.forEach((s) => s.destroy()));
    for (let i = 0; i < 4; i++) held.push(await openSession(listen));

    const b = await openBrowser();
    t.after(() => b.close());
    const { page } = b;
    await page.goto(`http://127.0.0.1:${adminPort}/dashboard`);
    await waitText(page, '#routes tr[data-route="loopback"] td.sessions', /^4$/);
    assert.equal(await page.locator('#workers tr').count(), 2);
    assert.match(await text(page, '#listeners'), new RegExp(`tcp\\t127\\.0\\.0\\.1:${listen}`));

    writeFileSync(file, yaml(echo.port, R2));
    const r = await runCli(['reload', '-p', prefix]);
    assert.equal(r.code, 0, r.stderr);
    await waitText(page, '#cfg-generation', /^2$/);
    // the four sessions were spread over the workers; each worker's closed ones add up in the primary's history
    await waitText(page, '#reloads tr:first-child', /loaded gen 2\t0 \/ 0 \/ 4/);
    assert.deepEqual(b.problems, []);
    const stop = await runCli(['stop', '-p', prefix]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await exited(child), 0);
  },
);
