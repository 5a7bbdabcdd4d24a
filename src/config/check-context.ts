import type { PemCache } from './pem.js';
import type { ProblemList } from './problems.js';
import type { LoadOptions } from './types.js';

/** What every entity check reads and reports into; its own file so the check-*.ts parts and check.ts share it. */
export interface CheckContext {
  problems: ProblemList;
  opts: LoadOptions;
  /** epoch ms the expiry checks compare with */
  now: number;
  pem: PemCache;
}
