import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startTestServer, type TestServer } from "./helpers/server.js";

// The README's REST section is the one description of the REST answers: this
// file runs every curl of that section against a real node, in order, and
// checks each answer against the JSON block that follows it in the README.

/** The host and port every documented request names: the --http1-port listener of the walk-through. */
const documentedBase = "http://127.0.0.1:7421";

/** Fields whose values differ from run to run, and the form their values must have (in the README too). */
const varying: Record<string, RegExp> = {
  revision: /^[1-9][0-9]*$/,
  createRevision: /^[1-9][0-9]*$/,
  modRevision: /^[1-9][0-9]*$/,
  registeredAt: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
  lastHeartbeatAt: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
};

interface DocumentedRequest {
  /** The curl command as written, for test names and messages. */
  readonly text: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  /** The HTTP status the README gives in a trailing `# NNN` comment; 200 when none. */
  readonly status: number;
  /** The JSON block right after the command's block, when there is one. */
  answer?: unknown;
}

/** Splits a shell line into words (single and double quotes, no escapes inside), dropping a trailing `# comment`. */
function shellWords(line: string): { words: string[]; comment: string | undefined } {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (/\s/.test(line[i]!)) {
      i++;
      continue;
    }
    if (line[i] === "#") return { words, comment: line.slice(i + 1).trim() };
    let word = "";
    while (i < line.length && !/\s/.test(line[i]!)) {
      const q = line[i]!;
      if (q === "'" || q === '"') {
        const close = line.indexOf(q, i + 1);
        assert.ok(close > i, `unclosed quote in: ${line}`);
        word += line.slice(i + 1, close);
        i = close + 1;
      } else word += line[i++];
    }
    words.push(word);
  }
  return { words, comment: undefined };
}

/** A curl command line as a request; only the options the README uses are understood, anything else fails the test. */
function parseCurl(text: string): DocumentedRequest {
  const { words, comment } = shellWords(text);
  assert.equal(words.shift(), "curl");
  const headers: Record<string, string> = {};
  let body: string | undefined;
  let url: string | undefined;
  while (words.length > 0) {
    const w = words.shift()!;
    if (w === "-H") {
      const h = words.shift() ?? "";
      const colon = h.indexOf(":");
      assert.ok(colon > 0, `bad header in: ${text}`);
      headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
    } else if (w === "-d") body = words.shift();
    else if (w.startsWith("-")) assert.fail(`the README uses a curl option this test does not know (${w}): ${text}`);
    else url = w;
  }
  if (url === undefined || !url.startsWith(`${documentedBase}/`)) assert.fail(`expected a URL under ${documentedBase}: ${text}`);
  const status = comment === undefined ? 200 : Number(/^(\d{3})\b/.exec(comment)?.[1]);
  assert.ok(Number.isInteger(status), `a trailing comment must start with the HTTP status: ${text}`);
  return { text, url, headers, body, status };
}

/** Every curl of the README's REST paragraph (up to "Strict JSON"), each with the JSON block that follows its block. */
function documentedRestRequests(readme: string): DocumentedRequest[] {
  const start = readme.indexOf("**REST.**");
  const end = readme.indexOf("**Strict JSON.**", start);
  assert.ok(start >= 0 && end > start, "the README has a REST paragraph followed by Strict JSON");
  const requests: DocumentedRequest[] = [];
  for (const [, lang, code] of readme.slice(start, end).matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
    if (lang === "sh") {
      for (const line of code!.replace(/\\\n/g, " ").split("\n")) if (line.trim().startsWith("curl ")) requests.push(parseCurl(line.trim()));
    } else if (lang === "json") {
      const last = requests.at(-1);
      assert.ok(last !== undefined && last.answer === undefined, "each JSON block follows the curl it answers");
      last.answer = JSON.parse(code!);
    }
  }
  return requests;
}

/** `value` with every varying field checked for its form and replaced by its name, so the rest compares exactly. */
function masked(value: unknown, where: string): unknown {
  if (Array.isArray(value)) return value.map((v, i) => masked(v, `${where}[${i}]`));
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const form = varying[k];
    if (form === undefined) out[k] = masked(v, `${where}.${k}`);
    else {
      assert.ok(typeof v === "string" && form.test(v), `${where}.${k} = ${JSON.stringify(v)} does not match ${form}`);
      out[k] = `<${k}>`;
    }
  }
  return out;
}

describe("README: the REST section's requests give exactly the JSON it shows", function () {
  this.timeout(20000);
  const requests = documentedRestRequests(readFileSync(new URL("../README.md", import.meta.url), "utf8"));
  let t: TestServer;
  let base: string;
  before(async () => {
    t = await startTestServer({ http1Port: -1 });
    base = `http://127.0.0.1:${t.server.http1Port}`;
  });
  after(() => t.close());

  it("documents each REST path and the Connect GET, each with its answer", () => {
    const answered = requests.filter((r) => r.answer !== undefined).map((r) => new URL(r.url).pathname);
    for (const path of ["/v1/services", "/v1/services/user", "/v1/services/user/pick", "/roster.v1.RegistryService/ListServices"]) {
      assert.ok(answered.includes(path), `no documented answer for ${path}`);
    }
  });

  for (const r of requests) {
    it(`${r.answer === undefined ? "runs" : "answers as documented"}: ${r.text.replace(/\s+/g, " ")}`, async () => {
      const res = await fetch(`${base}${r.url.slice(documentedBase.length)}`, { method: r.body === undefined ? "GET" : "POST", headers: r.headers, body: r.body });
      const text = await res.text();
      assert.equal(res.status, r.status, text);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      if (r.answer !== undefined) assert.deepEqual(masked(JSON.parse(text), "answer"), masked(r.answer, "README"));
    });
  }
});
