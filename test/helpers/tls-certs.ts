import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** A certificate and key written by `makeCa`/`issue`, as file paths and PEM. */
export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A throwaway CA in its own temp directory. */
export interface TestCa extends CertFiles {
  readonly dir: string;
  /** Issues a leaf certificate: `san` as openssl writes it (`IP:127.0.0.1,DNS:localhost` or `URI:spiffe://...`). */
  issue(name: string, cn: string, san: string): CertFiles;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

function files(dir: string, name: string): CertFiles {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return { certFile, keyFile, cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
}

/** Makes a CA with openssl (EC P-256, valid one day) in a new temp directory. */
export function makeCa(name = "ca"): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `roster-tls-${name}-`));
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "1", "-subj", `/CN=${name}`], dir);
  const ca = files(dir, name);
  let serial = 1;
  return {
    ...ca,
    dir,
    issue(leaf, cn, san) {
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${leaf}.key`, "-out", `${leaf}.csr`, "-subj", `/CN=${cn}`], dir);
      fs.writeFileSync(path.join(dir, `${leaf}.ext`), `subjectAltName=${san}\n`);
      openssl(["x509", "-req", "-in", `${leaf}.csr`, "-CA", `${name}.crt`, "-CAkey", `${name}.key`, "-set_serial", String(serial++), "-days", "1", "-extfile", `${leaf}.ext`, "-out", `${leaf}.crt`], dir);
      return files(dir, leaf);
    },
  };
}

/** Removes a CA's directory. */
export function removeCa(ca: TestCa): void {
  fs.rmSync(ca.dir, { recursive: true, force: true });
}
