import { delay } from "../../core/delay.js";

/** Waits until `ok()` holds, polling every 10 ms; throws after `ms`. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

export { delay as sleep };
