/**
 * LiquidJS for the Lambdas, loaded when a template first needs it rather than at every cold
 * start (docs/scale.md, bench/README.md). `bundleFunction` points the bundles' `liquidjs` imports
 * here when it carries a checked config; this module loads the real library as a chunk of its own
 * on `loadLiquid()`. The wiring awaits `loadLiquid()` before the first webhook whose routes need
 * LiquidJS (a condition, a template beyond plain interpolation) and before deliver's first digest;
 * a first webhook or message that needs none never loads it (79 KiB of code). Outside a bundle
 * (tests, the local run, the CLI) `liquidjs` is the library itself and this module only loads it.
 */
import type * as LiquidJs from "liquidjs";

type LiquidModule = typeof LiquidJs;

let library: LiquidModule | undefined;
let loading: Promise<LiquidModule> | undefined;

/** Loads LiquidJS once; every later call resolves at once. */
export async function loadLiquid(): Promise<void> {
  // A path, not the package name: the bundles' alias maps `liquidjs` to this very module.
  // @ts-expect-error the library's own types describe it (LiquidModule); the file has none.
  loading ??= import("../../node_modules/liquidjs/dist/liquid.node.mjs") as Promise<LiquidModule>;
  library = await loading;
}

function loaded(): LiquidModule {
  if (!library) {
    throw new Error("LiquidJS is loaded on demand: await loadLiquid() before a template needs it");
  }
  return library;
}

/** `new Liquid(options)` of the loaded library. */
export const Liquid = function Liquid(...args: ConstructorParameters<LiquidModule["Liquid"]>) {
  return new (loaded().Liquid)(...args);
} as unknown as LiquidModule["Liquid"];

/** `new Tokenizer(...)` of the loaded library. */
export const Tokenizer = function Tokenizer(
  ...args: ConstructorParameters<LiquidModule["Tokenizer"]>
) {
  return new (loaded().Tokenizer)(...args);
} as unknown as LiquidModule["Tokenizer"];

/** The loaded library's token kinds. */
export const TokenKind = new Proxy({} as LiquidModule["TokenKind"], {
  get: (_, name) => loaded().TokenKind[name as keyof LiquidModule["TokenKind"]],
});
