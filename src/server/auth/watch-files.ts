import * as fs from "node:fs";

/**
 * Calls `onChange` when any of `paths` changes (mtime, size or inode), checked
 * every `intervalMs`. Polling rather than `fs.watch`: certificate tooling and
 * Kubernetes secret mounts replace files by rename or symlink swap, which
 * inode-based watches miss. Returns the function that stops watching.
 */
export function watchFiles(paths: readonly string[], intervalMs: number, onChange: () => void): () => void {
  const listener = (cur: fs.Stats, prev: fs.Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) onChange();
  };
  for (const p of paths) fs.watchFile(p, { interval: intervalMs, persistent: false }, listener);
  return () => {
    for (const p of paths) fs.unwatchFile(p, listener);
  };
}
