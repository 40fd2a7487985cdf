// What both suites share: the real binary, serving on a free port.
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";

/// `molecule-tenant <args> --data-dir DIR`, its stdout.
export function cli(bin, dataDir, ...args) {
  return execFileSync(bin, [...args, "--data-dir", dataDir], { encoding: "utf8" }).trim();
}

/// Starts `serve` on port 0; resolves with the process and its base URL
/// once it logs the port it bound.
export function startServer(bin, dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--data-dir", dataDir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
    const lines = createInterface({ input: child.stderr });
    lines.on("line", (line) => {
      const m = line.match(/"port":(\d+)/);
      if (m) resolve({ child, base: `http://127.0.0.1:${m[1]}` });
    });
  });
}
