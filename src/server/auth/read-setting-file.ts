import * as fs from "node:fs";
import { ConfigError } from "../../config.js";

/** Reads the file a setting names, failing at start with a ConfigError that names the setting (exit 2 from `roster serve`). */
export function readSettingFile(setting: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new ConfigError(`--${setting}: cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Parses the file a setting names with `parse`, naming the setting when it fails. */
export function parseSettingFile<T>(setting: string, file: string, parse: (text: string) => T): T {
  const text = readSettingFile(setting, file).toString("utf8");
  try {
    return parse(text);
  } catch (e) {
    throw new ConfigError(`--${setting}: ${file}: ${(e as Error).message}`);
  }
}
