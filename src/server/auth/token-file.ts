/** One opaque token: who it speaks for, and until when. */
export interface TokenEntry {
  readonly principal: string;
  readonly expiresAt: number | undefined;
}

/**
 * Parses a token file: `{"tokens": [{"sha256": "<hex of the token>",
 * "principal": "cart", "expiresAt": "2027-01-01T00:00:00Z"}]}` (expiresAt
 * optional). Only hashes are stored, so the file does not leak tokens;
 * deleting a line revokes its token within one reload interval.
 */
export function parseTokenFile(text: string): ReadonlyMap<string, TokenEntry> {
  const doc = JSON.parse(text) as { tokens?: unknown };
  if (!Array.isArray(doc.tokens)) throw new Error('token file: wants {"tokens": [...]}');
  const out = new Map<string, TokenEntry>();
  doc.tokens.forEach((t: unknown, i) => {
    const e = (t ?? {}) as Record<string, unknown>;
    const hash = e["sha256"];
    const principal = e["principal"];
    if (typeof hash !== "string" || !/^[0-9a-f]{64}$/.test(hash)) throw new Error(`token file: tokens[${i}].sha256 must be 64 lowercase hex digits`);
    if (typeof principal !== "string" || principal === "") throw new Error(`token file: tokens[${i}].principal must be a non-empty string`);
    const exp = e["expiresAt"];
    const expiresAt = exp === undefined ? undefined : Date.parse(String(exp));
    if (expiresAt !== undefined && !Number.isFinite(expiresAt)) throw new Error(`token file: tokens[${i}].expiresAt is not a date`);
    out.set(hash, { principal, expiresAt });
  });
  return out;
}
