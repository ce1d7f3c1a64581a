import { startRedis, type TestRedis } from "../helpers/redis.js";
import { identityAndRevisionsSuite } from "./identity-and-revisions.js";
import { leasesSuite } from "./leases.js";
import { resolveSuite } from "./resolve.js";
import { frontEnds, frontEndTitles, target } from "./target.js";
import { watchSuite } from "./watch.js";

// The SEMANTICS specification, once per front end a client can reach and once per store.
for (const store of ["memory", "redis"] as const) {
  describe(`SEMANTICS on the ${store} store`, function () {
    this.timeout(30_000);
    let redis: TestRedis | undefined;
    if (store === "redis") {
      before(async () => (redis = await startRedis()));
      after(() => redis?.close());
    }
    for (const frontEnd of frontEnds) {
      describe(`through ${frontEndTitles[frontEnd]}`, () => {
        const t = target(frontEnd, store, () => redis!.url);
        identityAndRevisionsSuite(t);
        leasesSuite(t);
        watchSuite(t);
        resolveSuite(t);
      });
    }
  });
}
