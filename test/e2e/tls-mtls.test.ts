/**
 * mtls-auth on a tls route, with openssl s_client as the client: no certificate, a certificate of the configured
 * CA, one of another CA, and allow_partial_chain with only the intermediate configured.
 */
import assert from 'node:assert/strict';
import { randomUUID, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../helpers/cli.js';
import {
  ca,
  certEntity,
  generateSelfSigned,
  kongFile,
  leaf,
  openssl,
  startLogged,
  type CertPair,
  type LoggedInstance,
} from './tls-helpers.js';
import { load } from '../config/helpers.js';

describe('mtls-auth: client certificates at the handshake', () => {
  let greeter: Server;
  let inst: LoggedInstance;
  let dir: string;
  let clientCA: CertPair;
  let good: CertPair;
  const files: Record<string, { cert: string; key: string }> = {};

  before(async () => {
    greeter = createServer((s) => {
      s.on('error', () => {});
      s.end('hello from the backend\n');
    });
    await new Promise<void>((r) => greeter.listen(0, '127.0.0.1', r));
    const port = (greeter.address() as AddressInfo).port;
    const serverRoot = ca('Server Root');
    clientCA = ca('Client CA');
    const intermediate = generateSelfSigned({ commonName: 'Client Intermediate', isCA: true, issuer: clientCA });
    const otherCA = ca('Other CA');
    good = leaf(clientCA, ['client-one']);
    const clients: Record<string, CertPair> = {
      good,
      other: leaf(otherCA, ['intruder']),
      viaIntermediate: leaf(intermediate, ['client-two']),
    };
    dir = tempDir('mtls');
    for (const [name, pair] of Object.entries(clients)) {
      files[name] = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
      writeFileSync(files[name].cert, pair.cert);
      writeFileSync(files[name].key, pair.key);
    }
    const caId = randomUUID();
    const interId = randomUUID();
    inst = await startLogged(
      kongFile({
        certificates: [
          certEntity(leaf(serverRoot, ['mtls.test', 'partial.test', 'open.test', 'nopartial.test']), [
            'mtls.test',
            'partial.test',
            'open.test',
            'nopartial.test',
          ]),
        ],
        ca_certificates: [
          { id: caId, cert: clientCA.cert },
          { id: interId, cert: intermediate.cert },
        ],
        services: [
          {
            name: 'greeter',
            url: `tcp://127.0.0.1:${port}`,
            routes: [
              { name: 'secure', protocols: ['tls'], snis: ['mtls.test'] },
              { name: 'partial', protocols: ['tls'], snis: ['partial.test'] },
              { name: 'open', protocols: ['tls'], snis: ['open.test'] },
              { name: 'nopartial', protocols: ['tls'], snis: ['nopartial.test'] },
            ],
          },
        ],
        plugins: [
          { name: 'mtls-auth', route: 'secure', protocols: ['tls'], config: { ca_certificates: [caId] } },
          { name: 'mtls-auth', route: 'nopartial', protocols: ['tls'], config: { ca_certificates: [interId] } },
          {
            name: 'mtls-auth',
            route: 'partial',
            protocols: ['tls'],
            config: { ca_certificates: [interId], allow_partial_chain: true, revocation_check_mode: 'SKIP' },
          },
        ],
      }),
    );
  });
  after(async () => {
    await inst?.stop();
    await new Promise((r) => greeter?.close(r));
  });

  async function sClient(sni: string, client?: string, extra: string[] = []): Promise<string> {
    const args = ['s_client', '-connect', `127.0.0.1:${inst.ports[0]}`, '-servername', sni, '-ign_eof', ...extra];
    if (client) args.push('-cert', files[client]!.cert, '-key', files[client]!.key);
    return (await openssl(args, '')).out;
  }

  test('a certificate signed by the configured CA passes; its subject and fingerprint are in the record', async () => {
    const out = await sClient('mtls.test', 'good');
    assert.match(out, /hello from the backend/);
    const r = await inst.nextRecord();
    assert.equal(r.session.status, 200);
    assert.equal(r.session.tls?.client_verify, 'SUCCESS');
    assert.match(r.session.tls?.client_subject ?? '', /CN=client-one/);
    assert.equal(
      r.session.tls?.client_fingerprint,
      new X509Certificate(good.cert).fingerprint256.replace(/:/g, '').toLowerCase(),
    );
  });

  test('no certificate: refused at the handshake, status 401, logged', async () => {
    for (const version of ['-tls1_3', '-tls1_2']) {
      const out = await sClient('mtls.test', undefined, [version]);
      assert.doesNotMatch(out, /hello from the backend/);
      const r = await inst.nextRecord();
      assert.equal(r.session.status, 401, version);
      assert.equal(r.session.tls?.client_verify, 'NONE');
      assert.equal(r.tries.length, 0, 'no upstream connection');
    }
    const line = await inst.waitLog(/client certificate refused/);
    assert.equal(line.route, 'secure');
  });

  test('a certificate of another CA: refused with status 401 and the verification error', async () => {
    for (const version of ['-tls1_3', '-tls1_2']) {
      const out = await sClient('mtls.test', 'other', [version]);
      assert.doesNotMatch(out, /hello from the backend/);
      const r = await inst.nextRecord();
      assert.equal(r.session.status, 401, version);
      assert.match(r.session.tls?.client_verify ?? '', /^FAILED:/);
      assert.equal(r.session.tls?.client_subject, undefined);
    }
  });

  test('allow_partial_chain: the intermediate alone is a trust anchor; the same CA list without it refuses', async () => {
    assert.match(await sClient('partial.test', 'viaIntermediate'), /hello from the backend/);
    assert.equal((await inst.nextRecord()).session.status, 200);
    assert.doesNotMatch(await sClient('nopartial.test', 'viaIntermediate'), /hello from the backend/);
    assert.equal((await inst.nextRecord()).session.status, 401);
    // the root alone trusts a leaf of the intermediate only when the client sends the intermediate: it does not
    assert.doesNotMatch(await sClient('mtls.test', 'viaIntermediate'), /hello from the backend/);
    assert.equal((await inst.nextRecord()).session.status, 401);
  });

  test('a route without the plugin asks for no certificate', async () => {
    const out = await sClient('open.test');
    assert.match(out, /hello from the backend/);
    assert.doesNotMatch(out, /Acceptable client certificate CA names/);
    const r = await inst.nextRecord();
    assert.equal(r.session.status, 200);
    assert.equal(r.session.tls?.client_verify, undefined);
  });

  test('config: unknown ca_certificates ids and STRICT are refused at load', () => {
    const text = kongFile({
      plugins: [{ name: 'mtls-auth', protocols: ['tls'], config: { ca_certificates: [randomUUID()] } }],
    });
    const r = load(text);
    assert.equal(r.ok, false);
    assert.match(
      r.problems.map((p) => p.message).join('\n'),
      /invalid reference 'ca_certificates: [0-9a-f-]+' \(no such entry in 'ca_certificates'\)/,
    );
    const strict = load(
      kongFile({
        ca_certificates: [{ id: '11111111-2222-4333-8444-555555555555', cert: clientCA.cert }],
        plugins: [
          {
            name: 'mtls-auth',
            protocols: ['tls'],
            config: { ca_certificates: ['11111111-2222-4333-8444-555555555555'], revocation_check_mode: 'STRICT' },
          },
        ],
      }),
    );
    assert.equal(strict.ok, false);
    const onTcp = load(
      kongFile({
        ca_certificates: [{ id: '11111111-2222-4333-8444-555555555555', cert: clientCA.cert }],
        services: [
          {
            name: 's',
            url: 'tcp://127.0.0.1:9',
            routes: [
              {
                name: 'plain',
                protocols: ['tcp'],
                destinations: [{ port: 9 }],
                plugins: [
                  {
                    name: 'mtls-auth',
                    protocols: ['tls'],
                    config: { ca_certificates: ['11111111-2222-4333-8444-555555555555'] },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    assert.ok(onTcp.ok);
    assert.match(
      onTcp.problems.map((p) => p.message).join('\n'),
      /mtls-auth on a route without protocol 'tls' has no effect/,
    );
    assert.match(strict.problems.map((p) => p.message).join('\n'), /STRICT is not supported/);
  });
});
