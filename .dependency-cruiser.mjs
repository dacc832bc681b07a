// The import rules of plugboard, checked by `npm run lint` (dependency-cruiser): the layers of
// ARCHITECTURE.md, no cycles, only declared packages, and no terminal code in the core. No
// exceptions: a change that needs one changes the layers (here and in ARCHITECTURE.md) instead.

/**
 * The layers, lowest first. A module may import its own layer and the layers below it, never one
 * above. A new folder under src/ or components/ must be put in a layer (see `unlayered` below).
 */
const LAYERS = [
  ['base', '^src/(errors\\.ts$|text/)', 'the error hierarchy; terminal-safe text'],
  ['runtime', '^src/runtime/', "Ganeti's runtime files: read, checked, edited, written; the root and the lock"],
  ['transport', '^src/(qmp|ganeti)/', 'talking to QEMU (QMP) and to Ganeti (RAPI, ssconf)'],
  ['qemu', '^src/qemu/', "QEMU's command line and options, finding and starting QEMU"],
  ['bus', '^src/bus/', 'the bus model: what is where on pci.0 and scsi.0, prediction, allocation'],
  ['live', '^src/live/', 'what a running QEMU has: probe, overlay, drift, pending unplugs'],
  ['actions', '^src/actions/', 'actions and plans: the pure planners and their context'],
  ['executor', '^src/executor/', 'running a plan: steps, undo, verify'],
  ['usecases', '^src/(usecases|demo)/', 'hot-add, unplug, preview, the read path, check, the demo sandbox'],
  ['tui', '^src/tui/', 'the core side of the view (no terminal code)'],
  ['view', '^components/', 'the ink view'],
  ['cli', '^src/cli/', 'the commands (and the entry to the view)'],
];

const layerRules = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `layer-${name}`,
  comment: `${name} (${LAYERS[i][2]}) imports only ${LAYERS.slice(0, i).map(([n]) => n).join(', ') || 'itself'}: see ARCHITECTURE.md`,
  severity: 'error',
  from: { path },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => p) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'unlayered',
      comment: 'every module of src/ and components/ belongs to a layer: put a new folder in LAYERS and in ARCHITECTURE.md',
      severity: 'error',
      from: { path: '^(src|components)/', pathNot: LAYERS.map(([, p]) => p) },
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'no module reaches itself through its imports (type-only imports included)',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-without-terminal',
      comment: 'src/ never imports ink or react: the core runs without a terminal (the view is loaded by src/cli/tui.ts with a dynamic import of components/app-entry)',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '(^|/)node_modules/(ink|ink-[^/]+|react|react-[^/]+)/' },
    },
    {
      name: 'program-not-to-tooling',
      comment:
        'the program (src/, components/) imports none of the tooling around it: bin/ (the entry and the builds), packaging/ ' +
        '(the executable, the .deb, the man page, which read the program from dist/), bench/, test/',
      severity: 'error',
      from: { path: '^(src|components)/' },
      to: { path: '^(bin|packaging|bench|test)/' },
    },
    {
      name: 'no-dead-modules',
      comment:
        'every module of src/ and components/ is part of the program: reachable from its entry (the CLI, which loads the view); ' +
        "components/ink-fast/ is put in place of ink's output path by the bundle's build (bin/esbuild-ink-fast.mjs)",
      severity: 'error',
      from: { path: '^src/cli/main\\.ts$' },
      to: { path: '^(src|components)/', pathNot: '^components/ink-fast/', reachable: false },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-non-package-json',
      comment: 'every package imported is declared in package.json (ink-fast imported three that were not)',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-dev-dep',
      comment: 'what runs on a node (src/, components/, bin/plugboard.js) imports no devDependency',
      severity: 'error',
      from: { path: ['^(src|components)/', '^bin/plugboard\\.js$'] },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-duplicate-dep-types',
      comment: 'a package is a dependency or a devDependency, not both',
      severity: 'error',
      from: {},
      to: { moreThanOneDependencyType: true, dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|\\.cache)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
