import type { ChildProcess } from "node:child_process";

/**
 * Everything a child process has written so far, to its stdout and its stderr, for assertions and
 * for the message of a start-up that failed.
 */
export function collectOutput(child: ChildProcess): () => { stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  return () => ({ stdout, stderr });
}
