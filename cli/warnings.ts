import type { Config } from "../functions/core/config";

/** A note about the config that does not stop it from loading, naming its key. */
export interface ConfigWarning {
  key: string;
  message: string;
}

/** Config warnings beyond validation, e.g. event names a source never sends. */
export type ConfigWarner = (config: Config) => ConfigWarning[];
