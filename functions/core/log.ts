/**
 * The logging seam: Powertools Logger on Lambda and locally (structured JSON), a silent or
 * recording logger in tests. Attributes must never carry secrets or whole payloads.
 */
export interface Log {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
