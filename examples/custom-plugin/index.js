// deny-sni: a custom kong-ts stream plugin that closes TLS sessions whose SNI is on a list.
// Plain ES module JavaScript: kong-ts imports it as it is (`plugins = bundled,./examples/custom-plugin/index.js`).

/** @typedef {import('../../src/plugins/types.js').StreamPlugin<{ snis: string[], status: number }>} DenySniPlugin */

/** @type {DenySniPlugin} */
const plugin = {
  name: 'deny-sni',
  version: '1.0.0',
  // after ip-restriction (990): cheap address checks first
  priority: 950,
  configSchema: {
    type: 'object',
    properties: {
      // exact names, or `*.example.com` for any name below example.com
      snis: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
      status: { type: 'integer', minimum: 100, maximum: 599, default: 403 },
    },
    required: ['snis'],
    additionalProperties: false,
  },

  // Runs once per configuration snapshot: build the lookup structures here, not per connection.
  create(config, { logger }) {
    const exact = new Set();
    const suffixes = [];
    for (const name of config.snis) {
      const lower = name.toLowerCase();
      if (lower.startsWith('*.')) suffixes.push(lower.slice(1));
      else exact.add(lower);
    }
    logger.debug({ exact: exact.size, wildcards: suffixes.length }, 'deny-sni ready');

    return {
      // Synchronous on purpose: the chain then runs without a Promise per connection.
      preread(ctx) {
        const sni = ctx.sni;
        if (sni === undefined) return undefined;
        let denied = exact.has(sni);
        for (let i = 0; !denied && i < suffixes.length; i++) denied = sni.endsWith(suffixes[i]);
        if (!denied) return undefined;
        ctx.setLogValue('deny_sni', sni);
        return { close: true, status: config.status, reason: `SNI not allowed: ${sni}` };
      },
    };
  },
};

export default plugin;
