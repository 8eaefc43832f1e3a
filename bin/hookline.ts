#!/usr/bin/env -S node --import tsx
/**
 * `hookline`, the operator CLI (the package's bin): `npx hookline --help`. Never part of the
 * Lambda bundles; see cli/program.ts.
 */
import { runCli } from "../cli/program";

// The SDK's "Node 22 from 2027" warning would bury the command's own output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error("hookline: unexpected failure:", error);
    process.exitCode = 1;
  },
);
