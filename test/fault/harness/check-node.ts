/**
 * A registry node reduced to its Redis store, driven line by line on stdin
 * (JSON) so a fault test can make it commit check results under the fence it
 * holds, as a health checker would, and SIGSTOP or SIGKILL it as a process.
 * argv[2]: `{ url, prefix, leaseMs, renewMs }`. Every answer is one JSON line
 * on stdout; `{"ready":...}` first.
 *
 * Commands:
 * - `{op:"register", id, checks}` registers default/web/<id> with HTTP checks of those names;
 * - `{op:"hold"}` takes the current membership view as the one it commits under (a checker's view);
 * - `{op:"commit", id, check, status}` reads the instance, then commits that state under the held view.
 */
import { createInterface } from "node:readline";
import { resolveConfig } from "../../../src/config.js";
import { CheckStatus } from "../../../src/core/types.js";
import { httpCheck, spec } from "../../../src/store/contract/index.js";
import { RedisStore } from "../../../src/store/redis-store.js";
import type { MemberView } from "../../../src/store/store.js";

const { url, prefix, leaseMs, renewMs } = JSON.parse(process.argv[2]!) as { url: string; prefix: string; leaseMs: number; renewMs: number };
const config = resolveConfig({ timing: { checkMemberLeaseMs: leaseMs, checkMemberRenewMs: renewMs } });
const store = await RedisStore.connect(url, { limits: config.limits, timing: config.timing, prefix });
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`);
let held: MemberView | undefined = store.members.view();
store.members.onChange((v) => say({ event: "view", at: Date.now(), epoch: v?.epoch, nodes: v?.nodes }));
say({ ready: store.members.self, epoch: held?.epoch });

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { op: string; id?: string; checks?: string[]; check?: string; status?: keyof typeof CheckStatus };
  try {
    if (cmd.op === "register") {
      await store.register(spec({ service: "web", id: cmd.id!, checks: cmd.checks!.map((n) => httpCheck(n)) }));
      say({ op: "register", ok: true });
    } else if (cmd.op === "hold") {
      held = store.members.view();
      say({ op: "hold", epoch: held?.epoch, nodes: held?.nodes });
    } else if (cmd.op === "commit") {
      const key = spec({ service: "web", id: cmd.id! });
      const record = await store.get(key);
      const now = Date.now();
      const next = { name: cmd.check!, status: CheckStatus[cmd.status!], output: `set by ${store.members.self}`, checkedAt: now, since: now };
      const outcome = held === undefined ? "no view" : await store.setCheckState(key, record?.health ?? [], next, { node: store.members.self, epoch: held.epoch });
      say({ op: "commit", outcome, epoch: held?.epoch });
    }
  } catch (e) {
    say({ op: cmd.op, error: e instanceof Error ? e.message : String(e) });
  }
}
await store.close();
