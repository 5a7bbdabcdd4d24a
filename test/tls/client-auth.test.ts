import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SecureContext } from 'node:tls';
import { compileCertStore } from '../../src/tls/cert-store.js';
import { ClientAuth } from '../../src/tls/client-auth.js';
import { generateSelfSigned } from '../../src/tls/default-cert.js';

test('client-auth contexts: built once per certificate and CA list, shared by routes, reused across snapshots by content', () => {
  const ca1 = generateSelfSigned({ commonName: 'CA one', isCA: true });
  const ca2 = generateSelfSigned({ commonName: 'CA two', isCA: true });
  const server = generateSelfSigned({ commonName: 'a.test', altNames: ['a.test', 'b.test'] });
  const dflt = generateSelfSigned({ commonName: 'default' });
  const certs = [{ id: 'c1', cert: server.cert, key: server.key, tags: [] }];
  const snis = [
    { id: 's1', name: 'a.test', certificate: 'c1', tags: [] },
    { id: 's2', name: '*.w.test', certificate: 'c1', tags: [] },
  ];
  const cas = new Map([
    ['ca1', { id: 'ca1', cert: ca1.cert, tags: [] }],
    ['ca2', { id: 'ca2', cert: ca2.cert, tags: [] }],
  ]);
  const store = compileCertStore(certs, snis, dflt);
  const cache = new Map<string, SecureContext>();
  const r1 = new ClientAuth({ caIds: ['ca1'], allowPartialChain: false }, store, cas, cache, ['a.test']);
  assert.equal(cache.size, 1, 'the route SNI built up front');
  const r2 = new ClientAuth({ caIds: ['ca1'], allowPartialChain: false }, store, cas, cache, ['a.test']);
  assert.equal(r1.contextFor('a.test'), r2.contextFor('a.test'));
  assert.equal(r1.contextFor('x.w.test'), r1.contextFor('a.test'), 'same certificate, same context');
  assert.notEqual(r1.contextFor('a.test'), store.lookup('a.test'), 'not the plain context');
  assert.notEqual(r1.contextFor('other.test'), r1.contextFor('a.test'), 'the default certificate gets its own');
  const r3 = new ClientAuth({ caIds: ['ca2'], allowPartialChain: false }, store, cas, cache, []);
  assert.notEqual(r3.contextFor('a.test'), r1.contextFor('a.test'), 'another CA list');
  const r4 = new ClientAuth({ caIds: ['ca1'], allowPartialChain: true }, store, cas, cache, []);
  assert.notEqual(r4.contextFor('a.test'), r1.contextFor('a.test'), 'partial chain differs');
  // a later snapshot with the same content reuses; a changed PEM under the same id does not
  const next = new ClientAuth(
    { caIds: ['ca1'], allowPartialChain: false },
    compileCertStore(certs, snis, dflt),
    cas,
    cache,
    [],
  );
  assert.equal(next.contextFor('a.test'), r1.contextFor('a.test'));
  const changed = new Map([['ca1', { id: 'ca1', cert: ca2.cert, tags: [] }]]);
  const stale = new ClientAuth({ caIds: ['ca1'], allowPartialChain: false }, store, changed, cache, []);
  assert.notEqual(stale.contextFor('a.test'), r1.contextFor('a.test'));
  assert.throws(
    () => new ClientAuth({ caIds: ['nope'], allowPartialChain: false }, store, cas, cache, []),
    /no ca_certificate with id nope/,
  );
});
