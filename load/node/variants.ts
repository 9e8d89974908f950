/** Where the k6 bundles are and which k6 runs which (no esbuild here: the CLI imports this). */

export interface Variant {
  /** Output folder, relative to the repository root. */
  outDir: string;
  /** The module the WebSocket comes from. */
  websockets: 'k6/websockets' | 'k6/experimental/websockets';
  requires: string;
}

export const VARIANTS: readonly Variant[] = [
  { outDir: 'load/dist', websockets: 'k6/websockets', requires: 'k6 1.6 or newer' },
  { outDir: 'load/dist/compat', websockets: 'k6/experimental/websockets', requires: 'k6 1.0 to 1.5 (2.x too, with a deprecation warning)' },
];
