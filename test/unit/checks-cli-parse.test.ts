import { strict as assert } from "node:assert";
import { InvalidArgumentError } from "commander";
import { parseCheck } from "../../src/cli/parse.js";

describe("checks: the CLI's --check", () => {
  it("reads KIND[@PORT][:ARG] for every kind", () => {
    const all = ["http", "http:/healthz", "https:/h", "https-insecure@8443:/h", "tcp", "tcp@9000", "grpc", "grpc:echo.v1.Echo", "grpcs-insecure:x"].reduce<ReturnType<typeof parseCheck>>((acc, v) => parseCheck(v, acc), []);
    assert.deepEqual(all, [
      { kind: "http", tls: false, tlsSkipVerify: false },
      { kind: "http", path: "/healthz", tls: false, tlsSkipVerify: false },
      { kind: "http", path: "/h", tls: true, tlsSkipVerify: false },
      { kind: "http", path: "/h", tls: true, tlsSkipVerify: true, port: 8443 },
      { kind: "tcp" },
      { kind: "tcp", port: 9000 },
      { kind: "grpc", service: "", tls: false, tlsSkipVerify: false },
      { kind: "grpc", service: "echo.v1.Echo", tls: false, tlsSkipVerify: false },
      { kind: "grpc", service: "x", tls: true, tlsSkipVerify: true },
    ]);
  });

  it("refuses an unknown kind, a path without /, an argument to tcp, and a bad port", () => {
    for (const v of ["ftp:/x", "http:healthz", "tcp:x", "http@0:/x", "http@70000:/x", ""]) assert.throws(() => parseCheck(v), InvalidArgumentError, v);
  });
});
