import type { PrereadContext } from './types.js';

/**
 * A ready-made PrereadContext for the data path: one object per connection, no closure. After the session,
 * hand `logValues` to the log record as `plugin_values`. Subclass it to carry the connection's own state.
 */
export class SessionContext implements PrereadContext {
  /** the values plugins set with `setLogValue`, undefined while none did */
  logValues: Record<string, unknown> | undefined = undefined;

  constructor(
    readonly clientIp: string,
    readonly clientPort: number,
    readonly serverPort: number,
    readonly sni?: string,
    readonly route?: { readonly id: string; readonly name?: string },
    readonly service?: { readonly id: string; readonly name?: string },
  ) {}

  setLogValue(key: string, value: unknown): void {
    (this.logValues ??= {})[key] = value;
  }
}
