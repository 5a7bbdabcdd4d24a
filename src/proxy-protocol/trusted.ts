/**
 * `trusted_ips`: who may send a PROXY protocol header (Kong's setting of the same name). Compiled once, at
 * settings time; the per-connection check is a few mask compares. A header from anyone else is refused, because
 * honouring it would let any client pick the address that ip-restriction, logs and limits see.
 */
import { KongTsError } from '../errors.js';
import { netContains, parseAddr, parseNet, type Net } from '../router/ip.js';

export interface TrustedIps {
  /** True when a connection from `ip` may send a PROXY header; `undefined` or `unix:...` is a unix socket peer. */
  isTrusted(ip: string | undefined): boolean;
  /** no entry at all: nobody is trusted */
  readonly empty: boolean;
}

/**
 * Compiles `trusted_ips` entries: IPv4/IPv6 addresses and CIDRs, `0.0.0.0/0,::/0` for everyone, `unix:` for
 * unix-socket peers. Throws KTS_SETTINGS_INVALID naming the bad entries.
 */
export function compileTrustedIps(entries: string[]): TrustedIps {
  const nets: Net[] = [];
  const bad: string[] = [];
  let unix = false;
  for (const raw of entries) {
    const e = raw.trim();
    if (e === '') continue;
    if (e === 'unix:') {
      unix = true;
      continue;
    }
    const n = parseNet(e);
    if (n) nets.push(n);
    else bad.push(`'${e}'`);
  }
  if (bad.length) {
    throw new KongTsError('KTS_SETTINGS_INVALID', ['trusted_ips'], {
      detail: `${bad.join(', ')}: expected IP addresses or CIDRs (IPv4 or IPv6), or 'unix:'`,
    });
  }
  const v4All = nets.some((n) => !n.v6 && n.bits === 0);
  const v6All = nets.some((n) => n.v6 && n.bits === 0);
  return {
    empty: nets.length === 0 && !unix,
    isTrusted(ip: string | undefined): boolean {
      if (ip === undefined || ip.startsWith('unix:')) return unix;
      if (v4All && v6All) return true;
      const a = parseAddr(ip);
      if (!a) return false;
      if (a.v6 ? v6All : v4All) return true;
      for (let i = 0; i < nets.length; i++) if (netContains(nets[i]!, a)) return true;
      return false;
    },
  };
}
