#!/usr/bin/env node
// The `roster` command: the compiled CLI under dist/ (`npm run build` makes it
// in a checkout; the published package ships it). Plain node, no loader.
import { main } from "../dist/src/cli/main.js";

await main();
