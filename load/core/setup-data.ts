/**
 * What k6 does to setup()'s result before VUs and teardown() see it, so the
 * Node driver (and the test stand-in) can do exactly the same. k6
 * (js/runner.go) runs `json.Marshal(value.Export())` on goja's export of the
 * value, then each VU gets `json.Unmarshal` of those bytes. Consequences,
 * and where that differs from JSON.parse(JSON.stringify(x)):
 * - a top-level `undefined` stays undefined (k6 keeps no setup data);
 * - `undefined` inside objects becomes `null` (JSON.stringify drops the key);
 * - `undefined` (and holes) inside arrays become `null` (same as JSON.stringify);
 * - functions, symbols, NaN and ±Infinity make k6 fail the run ("error
 *   marshaling setup() data to JSON"), where JSON.stringify writes null or drops them;
 * - a Date becomes its ISO string (Go writes time.Time as RFC 3339), a
 *   BigInt a plain number (Go writes *big.Int as digits, read back as float64);
 * - object keys come back sorted (Go sorts map keys; goja's VU-side order is
 *   not guaranteed at all, so nothing may depend on key order).
 * Pure code: it is bundled into the k6 test stand-in too.
 */

/** Thrown where k6 would stop the run because setup()'s result cannot be marshalled. */
export class SetupDataError extends Error {}

function convert(value: unknown, path: string): unknown {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new SetupDataError(`setup() data ${path} is ${value}: k6 fails with "error marshaling setup() data to JSON: json: unsupported value"`);
      return value;
    case 'bigint':
      return Number(value);
    case 'function':
    case 'symbol':
      throw new SetupDataError(`setup() data ${path} is a ${typeof value}: k6 fails with "error marshaling setup() data to JSON: json: unsupported type"`);
    default:
      break;
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return Array.from(value, (item, i) => convert(item, `${path}[${i}]`));
  const out: Record<string, unknown> = {};
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj).sort()) out[key] = convert(obj[key], `${path}.${key}`);
  return out;
}

/** setup()'s result as k6 hands it to VUs and teardown(); throws SetupDataError where k6 would fail. */
export function asK6SetupData(value: unknown): unknown {
  return value === undefined ? undefined : convert(value, '(root)');
}
