import assert from "node:assert/strict";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { RegistryService } from "../gen/roster/v1/registry_pb.js";
import { Registrar, ServiceCache, createBalancedTransport, parseRosterTarget, registerRosterResolver } from "../src/sdk/index.js";
import { startTestServer, sleep, until, type TestServer } from "./helpers/server.js";
import { Echo, startEcho } from "./helpers/echo-server.js";

interface EchoClient extends grpc.Client {
  say(req: { message: string }, cb: (err: grpc.ServiceError | null, res?: { message: string; instance: string }) => void): void;
}

describe("gRPC resolver roster:///", () => {
  let registry: TestServer;
  const closers: (() => Promise<unknown> | void)[] = [];
  before(async () => {
    registry = await startTestServer();
    registerRosterResolver({ backoff: { initialMs: 20, maxMs: 200 } });
  });
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()!();
  });
  after(async () => {
    await registry.close();
  });

  it("parses the namespace and filters of a target", () => {
    assert.deepEqual(parseRosterTarget("", "echo?namespace=prod&tag=v2&tag=eu&zone=a&meta.track=canary"), {
      service: "echo",
      namespace: "prod",
      tags: ["v2", "eu"],
      metadata: { track: "canary" },
      zone: "a",
      registry: undefined,
    });
    assert.equal(parseRosterTarget("10.0.0.5:7420", "echo").registry, "10.0.0.5:7420");
    assert.throws(() => parseRosterTarget("", "echo?colour=red"), /unknown target parameter/);
  });

  it("spreads calls over two echo servers, and stops sending to one within a second of its deregistration", async () => {
    const a = await startEcho("a");
    const b = await startEcho("b");
    closers.push(a.close, b.close);
    const registrar = new Registrar({ registry: registry.url });
    closers.push(() => registrar.close());
    const [regA] = await Promise.all([
      registrar.register({ namespace: "sdk", service: "echo", id: "a", host: "127.0.0.1", port: a.port, tags: ["v2"] }),
      registrar.register({ namespace: "sdk", service: "echo", id: "b", host: "127.0.0.1", port: b.port, tags: ["v2"] }),
    ]);
    const client = new Echo(`roster://127.0.0.1:${registry.port}/echo?namespace=sdk&tag=v2`, grpc.credentials.createInsecure()) as unknown as EchoClient;
    closers.push(() => client.close());

    let stop = false;
    const failures: string[] = [];
    const callers = [0, 1].map(async () => {
      while (!stop) {
        await new Promise<void>((resolve) =>
          client.say({ message: "hi" }, (err) => {
            if (err) failures.push(err.message);
            resolve();
          }),
        );
        await sleep(3);
      }
    });
    try {
      await until("both servers get calls", () => a.hits.length >= 10 && b.hits.length >= 10, 5000);
      const deregisteredAt = performance.now();
      await regA.close();
      const bBefore = b.hits.length;
      await sleep(1200);
      const lastToA = a.hits.at(-1)! - deregisteredAt;
      console.log(`      deregistration -> last request to that instance: ${lastToA.toFixed(1)} ms (a got ${a.hits.filter((t) => t > deregisteredAt).length} requests after it)`);
      assert.ok(lastToA < 1000, `the caller kept sending for ${lastToA} ms`);
      assert.ok(b.hits.length - bBefore > 50, "the other instance takes the traffic");
    } finally {
      stop = true;
      await Promise.all(callers);
    }
    assert.deepEqual(failures, []);
  });

  it("fails calls with UNAVAILABLE while a service has no instance, and recovers when one registers", async () => {
    const client = new Echo(`roster:///lonely?namespace=sdk`, grpc.credentials.createInsecure(), { "roster.registry": registry.url }) as unknown as EchoClient;
    closers.push(() => client.close());
    const say = () => new Promise<grpc.ServiceError | null>((resolve) => client.say({ message: "x" }, (err) => resolve(err)));
    assert.equal((await say())?.code, grpc.status.UNAVAILABLE);
    const c = await startEcho("c");
    closers.push(c.close);
    const registrar = new Registrar({ registry: registry.url });
    closers.push(() => registrar.close());
    await registrar.register({ namespace: "sdk", service: "lonely", id: "c", host: "127.0.0.1", port: c.port });
    await until("a call gets through", async () => (await say()) === null, 3000);
  });
});

describe("Connect balanced transport", () => {
  let registry: TestServer;
  const nodes: TestServer[] = [];
  before(async () => {
    registry = await startTestServer();
    // Two more registry nodes serve as the instances: any Connect service would do, and these need no generated code.
    nodes.push(await startTestServer(), await startTestServer());
  });
  after(async () => {
    for (const n of nodes) await n.close();
    await registry.close();
  });

  it("balances a Connect client over a service's instances and follows deregistration", async () => {
    const registrar = new Registrar({ registry: registry.url });
    const cache = new ServiceCache({ registry: registry.url, services: ["nodes"] });
    try {
      const regs = await Promise.all(nodes.map((n, i) => registrar.register({ service: "nodes", id: `n${i}`, host: "127.0.0.1", port: n.port })));
      const calls = new Map<string, number>();
      const counting = (baseUrl: string): Transport => {
        const t = createGrpcTransport({ baseUrl });
        return {
          unary: (...args) => (calls.set(baseUrl, (calls.get(baseUrl) ?? 0) + 1), t.unary(...args)),
          stream: (...args) => t.stream(...args),
        };
      };
      const client = createClient(RegistryService, createBalancedTransport({ cache, service: "nodes", createTransport: counting }));
      for (let n = 0; n < 10; n++) await client.getStatus({});
      assert.deepEqual([...calls.values()], [5, 5]);
      await regs[0]!.close();
      await until("the cache sees the deregistration", () => cache.instances("nodes").length === 1, 2000);
      calls.clear();
      for (let n = 0; n < 4; n++) await client.getStatus({});
      assert.deepEqual([...calls.entries()], [[`http://127.0.0.1:${nodes[1]!.port}`, 4]]);
    } finally {
      await registrar.close();
      await cache.close();
    }
  });
});
