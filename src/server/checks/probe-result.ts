/** What one probe found. */
export interface ProbeResult {
  readonly passed: boolean;
  /** For people: what the probe saw ("HTTP 503: overloaded", "connect ECONNREFUSED"), already cut to size. */
  readonly output: string;
}

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8, never inside a character,
 * with control characters shown as spaces so one line of a log or a table
 * holds it.
 */
export function excerpt(text: string, maxBytes: number): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, " ");
  const bytes = Buffer.from(clean, "utf8");
  if (bytes.length <= maxBytes) return clean;
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so the cut falls between characters.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}

/** The message of a probe error, for output. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== undefined && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
