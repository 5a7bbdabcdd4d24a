export { compileBalancer } from './balancer.js';
export { BalancerRegistry, type RegistryOptions } from './registry.js';
export { systemResolver, type Resolver, type ResolvedAddress } from './dns.js';
export type { Balancer, Excluded, HealthName, Outcome, Peer, TargetHealth } from './types.js';
