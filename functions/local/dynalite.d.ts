// dynalite ships no types; this covers the one call hookline makes.
declare module "dynalite" {
  import type { Server } from "node:http";

  interface DynaliteOptions {
    /** LevelDB directory; in memory when unset. */
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
  }

  /** Returns a plain HTTP server speaking the DynamoDB protocol; call `listen` on it. */
  export default function dynalite(options?: DynaliteOptions): Server;
}
