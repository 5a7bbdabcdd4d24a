/**
 * The reload session policy end to end: open sessions on routes a reload removed or changed are kept (default),
 * closed at once, or drained (closed after reload_drain_timeout); the route tag `kong-ts.reload=` overrides the
 * setting; the log line counts them; sessions of untouched routes are never touched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { delay, echoBackend, startLogged, type Backend } from './ops-helpers.js';

interface Client {
  s: Socket;
  closedAt?: number;
}

async function open(port: number, localAddress: string): Promise<Client> {
  const s = connect({ port, host: '127.0.0.1', localAddress });
  const c: Client = { s };
  s.on('error', () => {});
  s.on('close', () => (c.closedAt = Date.now()));
  await once(s, 'connect');
  assert.equal(await echo1(c, 'hello'), 'hello');
  return c;
}

/** Writes and reads the echo back; undefined when the connection is (or gets) closed instead. */
function echo1(c: Client, text: string): Promise<string | undefined> {
  if (c.closedAt !== undefined || c.s.destroyed) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += String(d);
      if (got.length >= text.length) done(got);
    };
    const onClose = () => done(undefined);
    const done = (v: string | undefined) => {
      c.s.off('data', onData);
      c.s.off('close', onClose);
      resolve(v);
    };
    c.s.on('data', onData);
    c.s.on('close', onClose);
    c.s.write(text);
  });
}

const route = (name: string, ip: string, tags: string[] = [], port?: number) =>
  `      - { name: ${name}, protocols: [tcp], sources: [{ ip: ${ip}${port ? `, port: ${port}` : ''} }], tags: [${tags.join(', ')}] }`;

const file = (echoPort: number, routes: string[]) => `_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:${echoPort}
    routes:
${routes.join('\n')}
`;

describe('reload session policy', { timeout: 20_000 }, () => {
  let echo: Backend;
  before(async () => {
    echo = await echoBackend();
  });
  after(() => echo?.close());

  test('default keep; route tags close and drain; untouched routes untouched; the log line counts', async (t) => {
    const untouched = route('stay', '127.0.0.14');
    const ti = await startLogged(
      file(echo.port, [
        route('keep', '127.0.0.11'),
        route('close', '127.0.0.12', ['kong-ts.reload=close']),
        route('drain', '127.0.0.13', ['kong-ts.reload=drain']),
        untouched,
      ]),
      { settings: { reload_drain_timeout: '400' } },
    );
    t.after(() => ti.stop());
    const [keep, close, drain, stay] = await Promise.all(
      ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'].map((ip) => open(ti.ports[0]!, ip)),
    );
    const t0 = Date.now();
    assert.equal(await ti.reload(file(echo.port, [untouched])), 'loaded');
    const line = await ti.waitLog(/^reload touched/);
    assert.equal(
      line.msg,
      'reload touched 3 open session(s) of removed or changed routes: 1 kept, 1 draining, 1 closed',
    );
    assert.equal(await echo1(close!, 'x'), undefined, 'close: closed by the reload');
    assert.ok(close!.closedAt! - t0 < 300, 'at once');
    const rec = await ti.nextRecord();
    assert.equal(rec.route?.name, 'close');
    assert.equal(rec.session.closed_by, 'reload');
    assert.equal(await echo1(drain!, 'still draining'), 'still draining', 'drain: runs on during the drain timeout');
    await once(drain!.s, 'close');
    const drained = drain!.closedAt! - t0;
    assert.ok(drained >= 350 && drained < 1500, `drain: closed after reload_drain_timeout (${drained} ms)`);
    await delay(200);
    assert.equal(await echo1(keep!, 'kept'), 'kept', 'keep: a session of a removed route streams on');
    assert.equal(await echo1(stay!, 'untouched'), 'untouched');
    for (const c of [keep!, stay!]) c.s.destroy();
  });

  test("setting drain: a removed route's session runs until reload_drain_timeout, then closes", async (t) => {
    const stay = route('stay', '127.0.0.44');
    const ti = await startLogged(file(echo.port, [route('gone', '127.0.0.41'), stay]), {
      settings: { reload_session_policy: 'drain', reload_drain_timeout: '300' },
    });
    t.after(() => ti.stop());
    const [gone, same] = await Promise.all(['127.0.0.41', '127.0.0.44'].map((ip) => open(ti.ports[0]!, ip)));
    const t0 = Date.now();
    assert.equal(await ti.reload(file(echo.port, [stay])), 'loaded');
    assert.equal(
      (await ti.waitLog(/^reload touched/)).msg,
      'reload touched 1 open session(s) of removed or changed routes: 0 kept, 1 draining, 0 closed',
    );
    assert.equal(await echo1(gone!, 'draining'), 'draining');
    await once(gone!.s, 'close');
    assert.ok(gone!.closedAt! - t0 >= 250, `closed after ${gone!.closedAt! - t0} ms`);
    assert.equal(await echo1(same!, 'same'), 'same');
    same!.s.destroy();
  });

  test('setting close, a tag keep overriding it; a changed route is touched, an unchanged one is not', async (t) => {
    const stay = route('stay', '127.0.0.24');
    const ti = await startLogged(
      file(echo.port, [route('changed', '127.0.0.21'), route('tagged', '127.0.0.22', ['kong-ts.reload=keep']), stay]),
      { settings: { reload_session_policy: 'close' } },
    );
    t.after(() => ti.stop());
    const [changed, tagged, same] = await Promise.all(
      ['127.0.0.21', '127.0.0.22', '127.0.0.24'].map((ip) => open(ti.ports[0]!, ip)),
    );
    // 'changed' now also matches a port: its sessions were accepted under rules that no longer hold
    assert.equal(await ti.reload(file(echo.port, [route('changed', '127.0.0.21', [], 1), stay])), 'loaded');
    const line = await ti.waitLog(/^reload touched/);
    assert.equal(
      line.msg,
      'reload touched 2 open session(s) of removed or changed routes: 1 kept, 0 draining, 1 closed',
    );
    assert.equal(await echo1(changed!, 'x'), undefined, "the changed route's session was closed");
    assert.equal(
      await echo1(tagged!, 'tag wins'),
      'tag wins',
      'kong-ts.reload=keep overrides reload_session_policy=close',
    );
    assert.equal(await echo1(same!, 'same'), 'same');
    // a second reload that changes no route: only the kept session (accepted with the first file) is counted again
    assert.equal(
      await ti.reload(file(echo.port, [route('changed', '127.0.0.21', [], 1), stay]) + '# comment\n'),
      'loaded',
    );
    await delay(50);
    const lines = ti.logs.filter((l) => /^reload touched/.test(l.msg));
    assert.equal(
      lines.at(-1)!.msg,
      'reload touched 1 open session(s) of removed or changed routes: 1 kept, 0 draining, 0 closed',
    );
    assert.equal(await echo1(tagged!, 'again'), 'again');
    assert.equal(await echo1(same!, 'again'), 'again');
    for (const c of [tagged!, same!]) c.s.destroy();
  });

  test('a session several reloads old: the policy asks about every reload since its own file', async (t) => {
    const ti = await startLogged(
      file(echo.port, [route('a', '127.0.0.31'), route('b', '127.0.0.32'), route('c', '127.0.0.33')]),
      { settings: { reload_session_policy: 'close' } },
    );
    t.after(() => ti.stop());
    const [a, b, c] = await Promise.all(['127.0.0.31', '127.0.0.32', '127.0.0.33'].map((ip) => open(ti.ports[0]!, ip)));
    // reload 1 changes b only (its session closes); reload 2 changes a only, whose session was accepted two files ago
    const gen2 = [route('a', '127.0.0.31'), route('b', '127.0.0.32', [], 2), route('c', '127.0.0.33')];
    assert.equal(await ti.reload(file(echo.port, gen2)), 'loaded');
    assert.equal(await echo1(b!, 'x'), undefined, 'b changed by reload 1: closed');
    assert.equal(await echo1(a!, 'a still'), 'a still');
    const gen3 = [route('a', '127.0.0.31', [], 3), route('b', '127.0.0.32', [], 2), route('c', '127.0.0.33')];
    assert.equal(await ti.reload(file(echo.port, gen3)), 'loaded');
    assert.equal(await echo1(a!, 'x'), undefined, 'a changed by reload 2: its session (of the first file) closed');
    assert.equal(await echo1(c!, 'c untouched'), 'c untouched', 'c was changed by neither reload');
    const lines = ti.logs.filter((l) => /^reload touched/.test(l.msg));
    assert.equal(
      lines.at(-1)!.msg,
      'reload touched 1 open session(s) of removed or changed routes: 0 kept, 0 draining, 1 closed',
    );
    c!.s.destroy();
  });
});
