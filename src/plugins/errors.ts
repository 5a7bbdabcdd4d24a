/**
 * Errors of the plugin system. They describe user mistakes (a bad plugin path, a plugin missing `create`, a config
 * a plugin refused): the CLI prints `message` alone, without a stack.
 */
export type PluginErrorCode =
  /** a custom plugin module could not be imported */
  | 'KONG_PLUGIN_LOAD'
  /** a module was imported but does not export a valid StreamPlugin */
  | 'KONG_PLUGIN_SHAPE'
  /** two plugins share a name */
  | 'KONG_PLUGIN_DUPLICATE'
  /** the declarative file names a plugin that is not loaded */
  | 'KONG_PLUGIN_UNKNOWN'
  /** a plugin entity's config is invalid (schema, or refused by the plugin's `create`) */
  | 'KONG_PLUGIN_CONFIG';

export class PluginError extends Error {
  readonly code: PluginErrorCode;
  constructor(code: PluginErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PluginError';
    this.code = code;
  }
}
