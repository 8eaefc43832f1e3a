/**
 * P1 in a process of its own: `npm run bench` bundles this file with the Lambdas' esbuild
 * settings (so the code timed is the code Lambda runs, minified, with no tsx in between) and runs
 * it with a clean environment. Arguments: the examples' index.json and the options as JSON.
 * Prints one JSON line: the per-payload figures.
 */
import { allGithubPayloads } from "./fixtures";
import { type IngestCpuOptions, measureIngestCpu } from "./ingest-cpu";

const [indexFile = "", optionsJson = "{}"] = process.argv.slice(2);
const options = JSON.parse(optionsJson) as IngestCpuOptions;
const results = await measureIngestCpu(allGithubPayloads(indexFile), options, (round) => {
  process.stderr.write(`  round ${round} of ${options.batches}\n`);
});
process.stdout.write(`${JSON.stringify(results)}\n`);
