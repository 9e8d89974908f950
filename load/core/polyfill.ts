/**
 * k6's runtime (k6 1.3, measured) rejects `Uint8Array.from(string, map)`,
 * which @noble/curves uses to turn BIP-340 tag names into bytes. When the
 * runtime cannot do it, strings are split into characters first; Node and
 * other runtimes that can are left alone.
 */
type From = (source: ArrayLike<unknown> | Iterable<unknown>, map?: (v: unknown, i: number) => number, thisArg?: unknown) => Uint8Array;

function fromAcceptsStrings(): boolean {
  try {
    return Uint8Array.from('ab', (c: string) => c.charCodeAt(0)).length === 2;
  } catch {
    return false;
  }
}

export function installPolyfills(): void {
  // noble validates its options with Object.hasOwn (ES2022) while loading; cheap insurance for older runtimes.
  if (typeof (Object as { hasOwn?: unknown }).hasOwn !== 'function') {
    Object.defineProperty(Object, 'hasOwn', { value: (o: object, k: PropertyKey) => Object.prototype.hasOwnProperty.call(o, k), configurable: true, writable: true });
  }
  if (fromAcceptsStrings()) return;
  const original = Uint8Array.from as unknown as From;
  const patched: From = function (this: unknown, source, map, thisArg) {
    const items = typeof source === 'string' ? source.split('') : source;
    return original.call(this, items, map, thisArg);
  };
  Object.defineProperty(Uint8Array, 'from', { value: patched, configurable: true, writable: true });
}

installPolyfills();
