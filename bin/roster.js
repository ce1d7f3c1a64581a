#!/usr/bin/env node
// The `roster` command. tsx compiles the TypeScript sources on the fly, so
// `npx roster ...` works from a checkout with no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
await main();
