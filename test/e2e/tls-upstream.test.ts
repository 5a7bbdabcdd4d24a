/**
 * Upstream TLS (service protocol `tls`) through a running kong-ts, against real TLS servers: verification with
 * a `ca_certificates` entity passing, failing on a wrong CA and on a wrong name (502, a warn line, the process
 * still serving), a client certificate the upstream requires, and tls_verify_depth over a chain.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import type { SessionRecord } from '../../src/proxy/record.js';
import {
  ca,
  certEntity,
  echoBack,
  generateSelfSigned,
  kongFile,
  leaf,
  startLogged,
  tlsClient,
  tlsEchoServer,
  type CertPair,
  type LoggedInstance,
} from './tls-helpers.js';

type Up = Awaited<ReturnType<typeof tlsEchoServer>>;

describe('upstream TLS verification and client certificates', () => {
  const ups: Up[] = [];
  let ti: LoggedInstance;
  let ssl: number;
  let root: CertPair;
  let clientCa: CertPair;
  let viaName: Up;
  let mutual: Up;

  before(async () => {
    root = ca('Upstream Root');
    const other = ca('Other Root');
    const inter = generateSelfSigned({ commonName: 'Upstream Intermediate', isCA: true, issuer: root });
    clientCa = ca('Client CA');
    const clientPair = leaf(clientCa, ['kong-ts-client']);
    // the name 'localhost' resolves to one loopback address: the upstream listens on that one
    const localhost = (await lookup('localhost')).address;
    const start = async (o: Parameters<typeof tlsEchoServer>[0], host?: string) => {
      const u = await tlsEchoServer(o, host);
      ups.push(u);
      return u;
    };
    const byIp = await start(leaf(root, ['127.0.0.1']));
    viaName = await start(leaf(root, ['localhost']), localhost);
    const wrongName = await start(leaf(root, ['other.test']));
    const wrongCa = await start(leaf(other, ['127.0.0.1']));
    const deepLeaf = leaf(inter, ['127.0.0.1']);
    const chained = await start({ cert: deepLeaf.cert + inter.cert, key: deepLeaf.key });
    mutual = await start({
      ...leaf(root, ['127.0.0.1']),
      requestCert: true,
      rejectUnauthorized: true,
      ca: clientCa.cert,
    });

    const rootId = randomUUID();
    const client = certEntity(clientPair);
    const svc = (name: string, port: number, extra: Record<string, unknown> = {}, host = '127.0.0.1') => ({
      name,
      protocol: 'tls',
      host,
      port,
      retries: 1,
      tls_verify: true,
      ca_certificates: [rootId],
      ...extra,
      routes: [{ name, protocols: ['tls'], snis: [`${name}.up`] }],
    });
    ti = await startLogged(
      kongFile({
        ca_certificates: [{ id: rootId, cert: root.cert }],
        certificates: [client],
        services: [
          svc('by-ip', byIp.port),
          svc('by-name', viaName.port, {}, 'localhost'),
          svc('wrong-name', wrongName.port),
          svc('wrong-ca', wrongCa.port),
          svc('no-verify', wrongCa.port, { tls_verify: false }),
          svc('depth0', chained.port, { tls_verify_depth: 0 }),
          svc('depth1', chained.port, { tls_verify_depth: 1 }),
          svc('mtls', mutual.port, { client_certificate: client.id }),
          svc('mtls-missing', mutual.port),
        ],
      }),
    );
    ssl = ti.ports[0]!;
  });
  after(async () => {
    await ti?.stop();
    for (const u of ups) await u.close();
  });

  async function recordOf(route: string): Promise<SessionRecord> {
    for (;;) {
      const r = await ti.nextRecord();
      if (r.route?.name === route) return r;
    }
  }

  /** Connects with SNI `<name>.up` and echoes; resolves with the echo or the failure. */
  async function through(name: string): Promise<{ echoed?: string; closed?: boolean }> {
    const h = await tlsClient(ssl, { servername: `${name}.up` });
    try {
      return { echoed: await echoBack(h.socket, `via ${name}`, 3000) };
    } catch {
      return { closed: h.socket.destroyed || h.socket.readableEnded };
    } finally {
      h.socket.destroy();
    }
  }

  test('tls_verify with the ca_certificates entity passes, by IP and by name (SNI sent for the name)', async () => {
    assert.deepEqual(await through('by-ip'), { echoed: 'via by-ip' });
    assert.equal((await recordOf('by-ip')).session.status, 200);
    assert.deepEqual(await through('by-name'), { echoed: 'via by-name' });
    assert.equal(viaName.sni.at(-1), 'localhost');
    assert.equal((await recordOf('by-name')).session.status, 200);
  });

  for (const [name, why] of [
    ['wrong-ca', /self-signed|unable to (get|verify)|UNABLE_TO|SELF_SIGNED/i],
    ['wrong-name', /not in the cert|ERR_TLS_CERT_ALTNAME_INVALID/],
  ] as const) {
    test(`${name}: the client is closed, status 502, one warn line, the process goes on`, async () => {
      assert.deepEqual(await through(name), { closed: true });
      const r = await recordOf(name);
      assert.equal(r.session.status, 502);
      assert.equal(r.tries.length, 2); // retries: 1
      assert.ok(r.tries.every((t) => t.state === 'failed'));
      const warn = ti.logs.filter((l) => l.level === 40 && l.service === name);
      assert.equal(warn.length, 1);
      assert.match(warn[0]!.msg, /upstream connect failed after 2 tries/);
      assert.match(warn[0]!.msg, why);
      // still serving
      assert.deepEqual(await through('by-ip'), { echoed: 'via by-ip' });
    });
  }

  test('tls_verify off accepts any certificate', async () => {
    assert.deepEqual(await through('no-verify'), { echoed: 'via no-verify' });
  });

  test('tls_verify_depth counts intermediate CAs: 0 refuses a chain with one, 1 accepts it', async () => {
    assert.deepEqual(await through('depth1'), { echoed: 'via depth1' });
    assert.deepEqual(await through('depth0'), { closed: true });
    assert.equal((await recordOf('depth0')).session.status, 502);
    const warn = ti.logs.filter((l) => l.level === 40 && l.service === 'depth0');
    assert.match(warn[0]?.msg ?? '', /tls_verify_depth is 0/);
  });

  test('client_certificate: the upstream that requires one gets it', async () => {
    assert.deepEqual(await through('mtls'), { echoed: 'via mtls' });
    assert.equal(mutual.clientCN.at(-1), 'kong-ts-client');
    assert.equal((await recordOf('mtls')).session.status, 200);
  });

  test('without the client certificate the upstream refuses and the client is closed', async () => {
    assert.deepEqual(await through('mtls-missing'), { closed: true });
    const r = await recordOf('mtls-missing');
    // TLS 1.3: the upstream checks the client certificate after the proxy's handshake is done, so this is a
    // connection the upstream closed at once, not a failed connect
    assert.equal(r.session.closed_by, 'upstream');
    assert.equal(r.upstream.received, 0);
    assert.equal(r.session.sent, 0);
    assert.equal(mutual.clientCN.includes(undefined), false);
  });
});
