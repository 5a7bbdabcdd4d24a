/**
 * Certificate rules of `config lint`: route SNIs no certificate covers (`sni-no-certificate`), certificate SNIs
 * no route uses (`certificate-sni-unused`), expiry (`certificate-expired`, `certificate-expiring`).
 * Coverage is asked of the certificate store the proxy builds (tls/cert-store.ts); a route's SNIs are read
 * through the router's own SNI matcher.
 */
import { X509Certificate } from 'node:crypto';
import { matchSni } from '../router/match.js';
import type { StreamRoute } from '../router/compile.js';
import type { ConnInfo } from '../router/types.js';
import { compileCertStore, type CertStore } from '../tls/cert-store.js';
import { labelOf, type LintContext } from './lint-types.js';

const DAY = 86_400_000;
const PROBE = 'x-lint-probe';

/** A name that stands for an SNI pattern: itself, or a fresh label in the wildcard's place. */
function probeName(sni: string): string {
  const s = sni.toLowerCase();
  if (s.startsWith('*.')) return PROBE + s.slice(1);
  if (s.endsWith('.*')) return s.slice(0, -1) + PROBE;
  return s;
}

/** The certificate store the proxy would build, or undefined when a certificate cannot make a TLS context. */
function certStore(ctx: LintContext): CertStore | undefined {
  const c = ctx.config.certificates[0];
  if (!c) return undefined;
  try {
    // the default certificate is only compared by identity: any valid pair stands for it
    return compileCertStore(ctx.config.certificates, ctx.config.snis, { cert: c.cert, key: c.key });
  } catch {
    return undefined;
  }
}

/** Routes that terminate TLS (protocol `tls`, not passthrough), as the router compiled them. */
function terminating(ctx: LintContext): StreamRoute[] {
  return (ctx.router.routes as readonly StreamRoute[]).filter((r) => r.tls && r.entity.protocols.includes('tls'));
}

/** Whether a certificate SNI pattern (Kong's `*.rest`, `prefix.*`, `*` forms) covers a name. */
function certCovers(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return name.indexOf('.') > 0 && name.slice(name.indexOf('.') + 1) === p.slice(2);
  if (p.endsWith('.*')) return name.lastIndexOf('.') > 0 && name.slice(0, name.lastIndexOf('.')) === p.slice(0, -2);
  return p === name;
}

export function lintTls(ctx: LintContext): void {
  const routes = terminating(ctx);
  const store = certStore(ctx);
  if (store || ctx.config.certificates.length === 0) {
    for (const r of routes) {
      for (const sni of r.entity.snis ?? []) {
        if (store && store.lookup(probeName(sni)) !== store.defaultContext) continue;
        ctx.add(
          'sni-no-certificate',
          'routes',
          r.id,
          `SNI '${sni}' of tls route ${labelOf(r)} is covered by no certificate: kong-ts would serve its default certificate to these clients`,
        );
      }
    }
  }
  const conn: ConnInfo = { protocol: 'tls', srcIp: '0.0.0.0', srcPort: 1, dstIp: '0.0.0.0', dstPort: 1 };
  const routeNames = routes.flatMap((r) => (r.entity.snis ?? []).map((s) => probeName(s)));
  const catchAll = routes.some((r) => !r.snis);
  for (const s of ctx.config.snis) {
    if (catchAll) break;
    conn.sni = s.name === '*' ? `${PROBE}.invalid` : probeName(s.name);
    const used =
      s.name === '*'
        ? routes.length > 0
        : routes.some((r) => matchSni(r.snis, conn)) || routeNames.some((n) => certCovers(s.name, n));
    if (!used) {
      ctx.add(
        'certificate-sni-unused',
        'snis',
        s.id,
        `certificate SNI '${s.name}' is used by no tls route: no connection is terminated with it`,
      );
    }
  }
  expiry(ctx);
}

function expiry(ctx: LintContext): void {
  const check = (
    type: 'certificates' | 'ca_certificates',
    id: string,
    what: string,
    pem: string | null | undefined,
  ) => {
    if (!pem) return;
    let end: number, validTo: string;
    try {
      const x = new X509Certificate(pem);
      validTo = x.validTo;
      end = Date.parse(validTo);
    } catch {
      return; // the loader already refused unreadable certificates
    }
    const left = end - ctx.opts.now;
    if (left <= 0) {
      ctx.add('certificate-expired', type, id, `${what} expired on ${validTo}: clients refuse it`);
    } else if (left < ctx.opts.expiryDays * DAY) {
      const days = Math.floor(left / DAY);
      ctx.add(
        'certificate-expiring',
        type,
        id,
        `${what} expires in ${days} day${days === 1 ? '' : 's'} (${validTo}), within ${ctx.opts.expiryDays} days`,
      );
    }
  };
  const snisOf = new Map<string, string[]>();
  for (const s of ctx.config.snis) {
    const l = snisOf.get(s.certificate);
    if (l) l.push(s.name);
    else snisOf.set(s.certificate, [s.name]);
  }
  for (const c of ctx.config.certificates) {
    const names = snisOf.get(c.id);
    const who = `certificate ${c.id}${names ? ` (${names.join(', ')})` : ''}`;
    check('certificates', c.id, who, c.cert);
    check('certificates', c.id, `the alternative certificate of ${who}`, c.cert_alt);
  }
  for (const c of ctx.config.ca_certificates) check('ca_certificates', c.id, `CA certificate ${c.id}`, c.cert);
}
