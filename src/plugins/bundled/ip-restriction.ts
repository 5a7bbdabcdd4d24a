/**
 * Kong's ip-restriction on streams: closes the connection (status 403 unless `status` says otherwise) when the
 * client address is on `deny`, or when `allow` is set and the address is not on it. Deny is checked first, so an
 * address on both lists is refused. IPv4-mapped IPv6 clients (`::ffff:1.2.3.4`) match IPv4 entries and the other
 * way round. The lists are parsed once, in `create`.
 */
import { netContains, parseAddr, parseNet, type Net } from '../../router/ip.js';
import type { PluginInstance, PrereadContext, PrereadResult, StreamPlugin } from '../types.js';

export interface IpRestrictionConfig {
  allow?: string[] | null;
  deny?: string[] | null;
  status?: number | null;
  message?: string | null;
}

const ipOrCidr = { type: 'string', pattern: '^[0-9A-Fa-f:.]+(%[^/]+)?(/[0-9]{1,3})?$' };

const configSchema = {
  type: 'object',
  properties: {
    allow: { type: ['array', 'null'], items: ipOrCidr },
    deny: { type: ['array', 'null'], items: ipOrCidr },
    status: { type: ['integer', 'null'], minimum: 100, maximum: 599 },
    message: { type: ['string', 'null'] },
  },
  additionalProperties: false,
  anyOf: [
    { required: ['allow'], properties: { allow: { type: 'array', minItems: 1 } } },
    { required: ['deny'], properties: { deny: { type: 'array', minItems: 1 } } },
  ],
};

function compileList(list: string[] | null | undefined, field: string): Net[] {
  return (list ?? []).map((text) => {
    const net = parseNet(text);
    if (!net) throw new Error(`config.${field}: '${text}' is not an IP address or CIDR`);
    return net;
  });
}

function listContains(nets: readonly Net[], ip: string): boolean {
  const addr = parseAddr(ip);
  if (!addr) return false;
  for (let i = 0; i < nets.length; i++) if (netContains(nets[i]!, addr)) return true;
  return false;
}

class IpRestriction implements PluginInstance {
  readonly #allow: readonly Net[];
  readonly #deny: readonly Net[];
  readonly #status: number;
  readonly #message: string | undefined;

  constructor(config: IpRestrictionConfig) {
    this.#allow = compileList(config.allow, 'allow');
    this.#deny = compileList(config.deny, 'deny');
    this.#status = config.status ?? 403;
    this.#message = config.message ?? undefined;
  }

  preread(ctx: PrereadContext): PrereadResult {
    const ip = ctx.clientIp;
    if (
      (this.#deny.length > 0 && listContains(this.#deny, ip)) ||
      (this.#allow.length > 0 && !listContains(this.#allow, ip))
    ) {
      return { close: true, status: this.#status, reason: this.#message ?? `IP address not allowed: ${ip}` };
    }
    return undefined;
  }
}

export const ipRestriction: StreamPlugin<IpRestrictionConfig> = {
  name: 'ip-restriction',
  priority: 990,
  configSchema,
  create: (config) => new IpRestriction(config),
};
