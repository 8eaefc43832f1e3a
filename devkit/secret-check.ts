import { ConfigError } from "../functions/core/errors";

/** Every secret reference (`env:…`, `secretsmanager:…`) under `portals` and `sources`, with its key. */
export function secretReferences(config: {
  portals: unknown;
  sources: unknown;
}): { key: string; ref: string }[] {
  return [...referencesIn(config.portals, "portals"), ...referencesIn(config.sources, "sources")];
}

/** The secret references in any JSON value, in order of appearance, each with its key path. */
export function referencesIn(node: unknown, key: string): { key: string; ref: string }[] {
  if (typeof node === "string")
    return /^(env|secretsmanager):./.test(node) ? [{ key, ref: node }] : [];
  if (Array.isArray(node))
    return node.flatMap((item, index) => referencesIn(item, `${key}[${index}]`));
  if (node && typeof node === "object")
    return Object.entries(node).flatMap(([name, value]) => referencesIn(value, `${key}.${name}`));
  return [];
}

/**
 * The local run reads each secret reference once at start, so one it cannot read stops the start
 * with its key and what to do, instead of answering every webhook that needs it with a 500.
 */
export async function checkSecretsReadable(
  config: { portals: unknown; sources: unknown },
  resolve: (ref: string) => Promise<string>,
): Promise<void> {
  for (const { key, ref } of secretReferences(config)) {
    try {
      await resolve(ref);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const fix = ref.startsWith("secretsmanager:")
        ? "the local run reads secretsmanager: references with your AWS credentials and region; sign in to AWS, or use an env: reference for the local run"
        : "set the variable";
      throw new ConfigError(`${key}: ${ref} cannot be read (${reason}): ${fix}`, {
        cause: error,
      });
    }
  }
}
