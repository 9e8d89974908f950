/**
 * Builds the k6 bundles: for each scenario, load/dist/<scenario>.js on
 * `k6/websockets` (k6 ≥ 1.6) and load/dist/compat/<scenario>.js on
 * `k6/experimental/websockets` (k6 1.0–1.5; k6 2.x runs it with a
 * deprecation warning). npm code (noble) is bundled; every `k6*` import
 * stays external, since k6 resolves no node_modules. Each bundle carries a
 * fixture made at build time for the default settings (see core/fixture.ts):
 * runs' worth of genuine KeyPackages, pre-signed requests and notes.
 *
 * Run after tsc: `node dist/load/build.js`.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { SCENARIO_NAMES, type ScenarioName } from './core/scenario.js';
import { settingsFrom } from './core/settings.js';
import { fixtureNeeds, type FixtureCaps } from './scenarios/index.js';
import { makeFixture } from './node/fixture.js';
import { packageRoot } from '../package-info.js';
import { VARIANTS, type Variant } from './node/variants.js';
import { toFixtureFile, type Fixture, type FixtureNeeds } from './core/fixture.js';

export { packageRoot, VARIANTS, type Variant };

/** Serves the pools in place of k6/bundled-fixture.ts. */
function fixturePlugin(fixture: Fixture): Plugin {
  return {
    name: 'kpsuite-fixture',
    setup(b) {
      b.onLoad({ filter: /[\\/]k6[\\/]bundled-fixture\.ts$/ }, () => ({
        contents: `export function bundledFixture() {\n  return ${JSON.stringify(toFixtureFile(fixture))};\n}\n`,
        loader: 'js',
      }));
    },
  };
}

/** k6 modules stay imports; the compat variant takes WebSocket from the experimental module. */
function k6Plugin(variant: Variant): Plugin {
  return {
    name: 'kpsuite-k6-modules',
    setup(b) {
      b.onResolve({ filter: /^k6(\/.*)?$/ }, (args) => ({ path: args.path === 'k6/websockets' ? variant.websockets : args.path, external: true }));
    },
  };
}

/** The esbuild options every k6 bundle shares; callers add the k6-module plugin and output. */
export function bundleOptions(root: string, name: ScenarioName, fixture: Fixture, k6Modules: Plugin): BuildOptions {
  return {
    entryPoints: [join(root, 'load', 'k6', 'entries', `${name}.ts`)],
    bundle: true,
    format: 'esm',
    // k6's runtime is neither Node nor a browser. ES2019 plus BigInt (noble needs it; k6 has it since
    // 0.54) lowers ?., ?? and class fields, which older k6 parsed badly, at no cost to newer ones.
    platform: 'neutral',
    target: 'es2019',
    supported: { bigint: true },
    mainFields: ['module', 'main'],
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [k6Modules, fixturePlugin(fixture)],
  };
}

export async function buildBundle(root: string, name: ScenarioName, variant: Variant, fixture: Fixture, outRoot = root): Promise<string> {
  const outfile = join(outRoot, variant.outDir, `${name}.js`);
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    ...bundleOptions(root, name, fixture, k6Plugin(variant)),
    outfile,
    banner: {
      js: [
        `// kpsuite load scenario "${name}" for ${variant.requires}; built ${new Date(fixture.createdAt).toISOString()}.`,
        `// Run: k6 run -e RELAY_URL=ws://127.0.0.1:7777 ${variant.outDir}/${name}.js   (see load/README.md for the knobs)`,
      ].join('\n'),
    },
  });
  return outfile;
}

/** Every build makes the bundles' KeyPackages: enough for the default settings, capped to keep the build quick. */
const BUNDLE_CAPS: FixtureCaps = { keyPackages: 2000, notes: 1000 };
/** Runs' worth a bundle holds where that is cheap, so a plain `k6 run` works a few times against one relay. */
const BUNDLE_SETS = 3;

/** What the bundle of `name` holds: the default run's needs, as many times as BUNDLE_SETS and the caps allow (publish takes one pool). */
export function bundleNeeds(name: ScenarioName): FixtureNeeds {
  const needs = fixtureNeeds(name, settingsFrom({}), undefined, BUNDLE_CAPS);
  const perSet = Math.max(1, needs.owners * needs.keyPackagesPerOwner);
  const sets = name === 'publish' ? 1 : Math.max(1, Math.min(BUNDLE_SETS, Math.floor(BUNDLE_CAPS.keyPackages / perSet)));
  return { ...needs, sets };
}

export async function buildAll(root = packageRoot(), names: readonly ScenarioName[] = SCENARIO_NAMES): Promise<string[]> {
  const files: string[] = [];
  for (const name of names) {
    // One fixture per scenario, shared by both variants.
    const fixture = await makeFixture(bundleNeeds(name));
    for (const variant of VARIANTS) files.push(await buildBundle(root, name, variant, fixture));
  }
  return files;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await buildAll();
  process.stdout.write(`built ${files.length} k6 bundles:\n${files.map((f) => `  ${f}`).join('\n')}\n`);
}
