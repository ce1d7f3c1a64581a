import { readFileSync } from "node:fs";

/**
 * The package version, read once from the nearest package.json above this
 * module: `src/` in a checkout, `dist/src/` in the installed package.
 */
export const version: string = (() => {
  for (let dir = new URL("./", import.meta.url); ; dir = new URL("../", dir)) {
    try {
      return (JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { version: string }).version;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || dir.pathname === "/") throw e;
    }
  }
})();
