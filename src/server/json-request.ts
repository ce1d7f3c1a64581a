import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { invalidArgument } from "../errors.js";

// The proto3 JSON form of google.protobuf.Duration: seconds with up to nine decimals and an "s".
const durationJson = /^-?\d+(\.\d{1,9})?s$/;

/**
 * Checks a request decoded from JSON against its message type, and
 * normalises it in place, before protobuf-es reads it:
 * - an unknown key is refused, naming it (the proto3 JSON rule);
 * - an enum value may be given with or without its shared prefix, in any
 *   case (`"ROUND_ROBIN"`, `"round_robin"`, `"STRATEGY_ROUND_ROBIN"`): every
 *   value of Roster's enums carries the prefix, so the short form cannot be
 *   ambiguous; an unknown one is refused, naming the field and listing the
 *   accepted names;
 * - a Duration that is not a string such as "30s" is refused, naming the field.
 *
 * Throws a RosterError (INVALID_ARGUMENT) whose message starts with the
 * field's path, e.g. `filter.tgs: unknown field`. Returns the same value.
 */
export function checkJsonRequest(desc: DescMessage, json: unknown, path = ""): unknown {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return json;
  const obj = json as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    const at = path === "" ? key : `${path}.${key}`;
    if (field === undefined) throw invalidArgument(at, `unknown field of ${desc.typeName}`);
    if (obj[key] === null) continue;
    obj[key] = checkField(field, obj[key], at);
  }
  return json;
}

function checkField(field: DescField, value: unknown, at: string): unknown {
  switch (field.fieldKind) {
    case "enum":
      return enumName(field.enum, value, at);
    case "message":
      return checkMessage(field.message, value, at);
    case "list":
      if (!Array.isArray(value)) return value;
      if (field.listKind === "enum") return value.map((v, i) => enumName(field.enum, v, `${at}[${i}]`));
      if (field.listKind === "message") return value.map((v, i) => checkMessage(field.message, v, `${at}[${i}]`));
      return value;
    case "map":
      if (typeof value !== "object" || value === null) return value;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const inner = `${at}["${k}"]`;
        if (field.mapKind === "enum") (value as Record<string, unknown>)[k] = enumName(field.enum, v, inner);
        if (field.mapKind === "message") checkMessage(field.message, v, inner);
      }
      return value;
    default:
      return value;
  }
}

function checkMessage(desc: DescMessage, value: unknown, at: string): unknown {
  if (desc.typeName === "google.protobuf.Duration") {
    if (typeof value !== "string" || !durationJson.test(value)) throw invalidArgument(at, `expected a duration string such as "30s" or "1.5s", got ${JSON.stringify(value)}`);
    return value;
  }
  // Other well-known types have their own JSON forms; protobuf-es checks them (Roster's requests carry none).
  if (desc.typeName.startsWith("google.protobuf.")) return value;
  return checkJsonRequest(desc, value, at);
}

/** The full name of an enum value given with or without its prefix, in any case; numbers pass through. */
export function enumName(desc: DescEnum, value: unknown, at: string): unknown {
  if (typeof value !== "string") return value;
  const upper = value.toUpperCase();
  const prefix = (desc.sharedPrefix ?? "").toUpperCase();
  const found = desc.values.find((v) => v.name === upper || v.name === prefix + upper);
  if (found !== undefined) return found.name;
  const names = desc.values.map((v) => (prefix !== "" && v.name.startsWith(prefix) ? v.name.slice(prefix.length) : v.name));
  throw invalidArgument(at, `unknown value ${JSON.stringify(value)}; one of ${names.join(", ")}${prefix !== "" ? ` (also with the prefix ${prefix})` : ""}`);
}
