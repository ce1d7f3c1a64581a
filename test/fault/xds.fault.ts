import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Registrar } from "../../src/sdk/index.js";
import { xdsBootstrap } from "../../src/server/xds/bootstrap.js";
import { startEcho, type EchoServer } from "../helpers/echo-server.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";
import { sleep, until } from "../helpers/server.js";
import { startTcpFailover, type TcpFailover } from "../helpers/tcp-failover.js";
import { spawnRoster, type RosterNode } from "./harness/processes.js";

const TTL = 3000;
/** How long after the kill the clients are watched. */
const WATCH_MS = 8000;
/**
 * Each call's deadline. A lost endpoint shows as UNAVAILABLE at once, whatever
 * the deadline; a short one only adds failures from the machine stalling the
 * caller (a CI run saw a 1 s deadline fire 0.5 s late on an open connection).
 */
const CALL_DEADLINE_MS = 5000;

/** One call as the caller process prints it (see test/helpers/xds-caller.ts). */
interface Call {
  readonly c: string;
  readonly at: number;
  readonly i?: string;
  readonly e?: string;
}

describe("Faults with xDS on the Redis store (SEMANTICS 8.4)", function () {
  let redis: TestRedis;
  let nodes: RosterNode[] = [];
  let front: TcpFailover | undefined;
  let caller: ChildProcess | undefined;
  let registrar: Registrar | undefined;
  const echoes: EchoServer[] = [];

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    caller?.kill("SIGKILL");
    await registrar?.close();
    for (const e of echoes.splice(0)) e.close();
    await Promise.all(nodes.splice(0).map((n) => n.kill()));
    await front?.close();
    await redis?.close();
  });

  it("8.4 the client's node is SIGKILLed: no grpc-js-xds client loses its endpoints; one whose one address fails over picks up changes again", async () => {
    nodes = await Promise.all([0, 1].map(() => spawnRoster({ store: redis.url, "redis-prefix": "xds-fault", "min-ttl-ms": 1000 })));
    const [a, b] = nodes as [RosterNode, RosterNode];
    front = await startTcpFailover([a.port, b.port]);
    registrar = new Registrar({ registry: [a.url, b.url], backoff: { initialMs: 50, maxMs: 500 } });
    for (const name of ["e1", "e2", "e3"]) echoes.push(await startEcho(name));
    const [e1, e2, e3] = echoes as [EchoServer, EchoServer, EchoServer];
    for (const e of [e1, e2]) await registrar.register({ service: "echo", id: e.name, host: "127.0.0.1", port: e.port, ttlMs: TTL });

    // "listed" names both nodes, A first; "fronted" has one address that reaches A while A lives, else B (one DNS name for every node).
    const clients = [
      { name: "listed", servers: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] },
      { name: "fronted", servers: [`127.0.0.1:${front.port}`] },
    ];
    const spec = { target: "xds:///echo", deadlineMs: CALL_DEADLINE_MS, clients: clients.map((c) => ({ name: c.name, bootstrap: xdsBootstrap({ servers: c.servers, zone: "", namespace: "default", nodeId: c.name }) })) };
    const proc = (caller = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../helpers/xds-caller.ts", import.meta.url)), JSON.stringify(spec)], { stdio: ["ignore", "pipe", "inherit"] }));
    const calls: Call[] = [];
    let partial = "";
    proc.stdout!.on("data", (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop()!;
      for (const l of lines) calls.push(JSON.parse(l) as Call);
    });
    const of = (name: string, since: number) => calls.filter((c) => c.c === name && c.at > since);
    const reached = (name: string, since: number, who: string) => of(name, since).some((c) => c.i === who);
    await until("both clients call both instances", () => clients.every((c) => reached(c.name, 0, "e1") && reached(c.name, 0, "e2")), 20_000);

    const killedAt = performance.timeOrigin + performance.now();
    await a.kill();
    // Through B now: A is gone. The beats of e1 and e2 move to B as well.
    await registrar.register({ service: "echo", id: e3.name, host: "127.0.0.1", port: e3.port, ttlMs: TTL });
    await sleep(WATCH_MS);

    const firstNew: Record<string, number | undefined> = {};
    for (const { name } of clients) {
      const after = of(name, killedAt);
      const failed = after.filter((c) => c.e !== undefined);
      const served = new Set(after.flatMap((c) => (c.i === undefined ? [] : [c.i])));
      const e3At = after.find((c) => c.i === "e3")?.at;
      firstNew[name] = e3At === undefined ? undefined : e3At - killedAt;
      // The longest stretch without a successful call, from the kill on.
      let gap = 0;
      let last = killedAt;
      for (const c of after) if (c.e === undefined) (gap = Math.max(gap, c.at - last)), (last = c.at);
      console.log(
        `      XDS-FAULT[${name}] calls=${after.length} failed=${failed.length} instances=${[...served].sort().join(",")} ` +
          `longestCallGapMs=${Math.round(gap)} newInstanceAfterKillMs=${e3At === undefined ? `none within ${WATCH_MS}` : Math.round(e3At - killedAt)}`,
      );
      assert.equal(failed.length, 0, `${name}: no call fails after the kill (${[...new Set(failed.map((c) => c.e))].join("; ")})`);
      assert.ok(served.has("e1") && served.has("e2"), `${name}: the client keeps calling the instances it had`);
      assert.ok(of(name, killedAt + WATCH_MS - 1000).length > 0, `${name}: still calling at the end`);
    }
    assert.ok(firstNew.fronted !== undefined, `the fronted client picks up the instance registered after the kill within ${WATCH_MS} ms`);
  });
});
