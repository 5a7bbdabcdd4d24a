/**
 * One registry of the errors kong-ts reports to its users. Each has a stable code and a message template;
 * docs/errors.md documents every code (a test checks it). User mistakes are reported with the message only,
 * never a stack trace; `cause` keeps the original error for debug logs.
 */
export const ERRORS = {
  KTS_SETTINGS_INVALID: 'invalid setting %s',
  KTS_CONF_UNREADABLE: 'cannot read configuration file %s',
  KTS_CONFIG_INVALID: 'declarative configuration %s is invalid',
  KTS_LISTEN_FAILED: 'cannot listen on %s',
  KTS_ALREADY_RUNNING: 'kong-ts is already running in %s',
  KTS_NOT_RUNNING: 'kong-ts is not running in %s',
  KTS_PREFIX_UNUSABLE: 'cannot use prefix %s',
  KTS_NOT_SUPPORTED: '%s is not yet supported',
  KTS_ADMIN_UNREACHABLE: 'cannot reach the admin API at %s',
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class KongTsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, args: string[] = [], opts: { detail?: string; cause?: unknown } = {}) {
    let i = 0;
    const head = ERRORS[code].replace(/%s/g, () => args[i++] ?? '');
    super(opts.detail ? `${head}: ${opts.detail}` : head, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KongTsError';
    this.code = code;
  }
}

/** True for errors that are the user's mistake (no stack trace wanted). */
export function isUserError(err: unknown): err is KongTsError {
  return err instanceof KongTsError;
}
