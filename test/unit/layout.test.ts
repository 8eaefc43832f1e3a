import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The house plan of docs/design.md ("Where things live"), checked on the source: which room may
 * import which, and no module importing one that imports it back (type-only imports count: a type
 * cycle is a knot a reader has to untie too).
 */

const ROOT = join(import.meta.dirname, "../..");
const ROOMS = ["bin", "lib", "cli", "devkit", "functions"];
const LAMBDA_ROOMS = ["functions/ingest", "functions/deliver", "functions/sweep"];
const readSource = (file: string): string => readFileSync(join(ROOT, file), "utf8");

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

const SPECIFIER =
  /(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** Every file's relative imports, resolved to repository paths. */
function importGraph(): Map<string, string[]> {
  const files = ROOMS.flatMap(sourceFiles);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readSource(file);
    const targets = [...text.matchAll(SPECIFIER)].flatMap((match) => {
      const base = normalize(join(dirname(file), match[1] ?? match[2] ?? ""));
      const found = [base, `${base}.ts`, join(base, "index.ts")].find((path) => known.has(path));
      return found ? [found] : [];
    });
    graph.set(file, targets);
  }
  return graph;
}

/** The room a file lives in: `functions/core`, `functions/local`, `cli`, … */
const roomOf = (file: string): string => {
  const [top, second] = file.split("/");
  return top === "functions" ? `functions/${second}` : (top ?? "");
};

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe("the house plan (docs/design.md)", () => {
  const graph = importGraph();

  it("reads the whole tree", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("functions/core/config.ts")).toContain("functions/core/routes.ts");
  });

  it("no module imports one that imports it back", () => {
    expect(cycles(graph).map((cycle) => cycle.join(" → "))).toEqual([]);
  });

  it.each<[string, string[]]>([
    // The domain imports no other layer.
    ["functions/core", ["functions/core"]],
    // Adapters implement the core's ports.
    ["functions/adapters", ["functions/core", "functions/adapters"]],
    // What both the CLI and the local run use imports neither.
    ["devkit", ["devkit", "functions/core", "functions/adapters"]],
    // The local run composes the same handler apps the Lambdas run.
    [
      "functions/local",
      [
        "functions/local",
        "functions/core",
        "functions/adapters",
        "devkit",
        "functions/ingest",
        "functions/deliver",
        "functions/sweep",
      ],
    ],
  ])("%s imports only from its own room and the rooms below it", (room, allowed) => {
    const outside = [...graph]
      .filter(([file]) => roomOf(file) === room)
      .flatMap(([file, targets]) =>
        targets.filter((target) => !allowed.includes(roomOf(target))).map((t) => `${file} → ${t}`),
      );
    expect(outside).toEqual([]);
  });

  it("the Lambda handlers never reach the local run, the CLI or the devkit", () => {
    const handlers = LAMBDA_ROOMS;
    const reached = new Set<string>();
    const walk = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const next of graph.get(file) ?? []) walk(next);
    };
    for (const [file] of graph) if (handlers.includes(roomOf(file))) walk(file);
    const wrong = [...reached].filter((file) =>
      ["functions/local", "cli", "devkit", "bin", "lib"].includes(roomOf(file)),
    );
    expect(wrong.map((file) => relative(".", file))).toEqual([]);
  });

  it("the production rooms hold no local tool: no embedded store, no table creation", () => {
    // The CDK stack owns the table in AWS; dynalite and `ensureTable` live in functions/local.
    const production = ["functions/core", "functions/adapters", ...LAMBDA_ROOMS];
    const tools = [...graph.keys()]
      .filter((file) => production.includes(roomOf(file)))
      .filter((file) => /from\s*["']dynalite["']|\bCreateTableCommand\b/.test(readSource(file)));
    expect(tools).toEqual([]);
  });
});
