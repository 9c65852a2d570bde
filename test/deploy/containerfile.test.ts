/**
 * The Containerfile has the properties issue 12 asks of the image, read from its parsed instructions: several
 * stages from an official Node 20 slim image pinned by tag, production dependencies only (`npm ci --omit=dev`, the
 * ONNX Runtime download skipped), uid 1000, ports 8500 and 8501, `flowserve serve` as the entrypoint and
 * /usr/bin/tensorflow_model_server for KServe. Each check is also shown failing on a broken copy.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import {
  CONTAINERFILE_PATH,
  envOf,
  execForm,
  lastOf,
  logicalLines,
  parseContainerfile,
  runCommands,
  symlinksOf,
  type Containerfile,
  type Stage,
} from './containerfile.js';
import { REPOSITORY_ROOT } from './paths.js';

interface PackageJson {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const PACKAGE = JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'package.json'), 'utf8')) as PackageJson;
const CONTAINERFILE_TEXT = readFileSync(CONTAINERFILE_PATH, 'utf8');

/** An official Node 20 slim image, pinned by tag: `node:20-slim`, `node:20-bookworm-slim`, `node:20.18.1-…-slim`. */
const NODE_20_SLIM = /^(?:docker\.io\/(?:library\/)?)?node:20(?:\.\d+){0,2}(?:-[a-z]+)?-slim(?:@sha256:[0-9a-f]{64})?$/;

/** What the server reads at run time besides node_modules: its compiled code, the .proto files, the dashboard. */
const RUNTIME_FILES = ['dist/src', 'proto', 'dashboard'];

function npmCiCommands(stage: Stage): string[][] {
  return stage.instructions
    .filter((instruction) => instruction.keyword === 'RUN')
    .flatMap(runCommands)
    .filter((words) => words[0] === 'npm' && (words[1] === 'ci' || words[1] === 'install' || words[1] === 'i'));
}

/** `COPY --from=STAGE SRC… DEST` of a stage: the sources per stage name. */
function copiesFrom(stage: Stage): { from: string; sources: string[] }[] {
  return stage.instructions
    .filter((instruction) => instruction.keyword === 'COPY' && instruction.text.startsWith('--from='))
    .map((instruction) => {
      const words = instruction.text.split(/\s+/);
      const from = (words[0] as string).slice('--from='.length);
      return { from, sources: words.slice(1, -1).filter((word) => !word.startsWith('--')) };
    });
}

/** Every property of the "Image" section that the Containerfile breaks, as sentences (none: all hold). */
function containerfileProblems(containerfile: Containerfile): string[] {
  const problems: string[] = [];
  const { stages } = containerfile;
  if (stages.length < 2) problems.push(`${stages.length} stage(s): a multi-stage build has at least 2`);
  const names = new Set<string>();
  for (const stage of stages) {
    if (!names.has(stage.base) && !NODE_20_SLIM.test(stage.base)) {
      problems.push(`FROM ${stage.base}: not an official Node 20 slim image pinned by tag`);
    }
    if (stage.name) names.add(stage.name);
  }
  const runtime = stages.at(-1);
  const build = stages.slice(0, -1);
  if (!runtime) return problems;
  if (!NODE_20_SLIM.test(runtime.base))
    problems.push(`the runtime stage starts FROM ${runtime.base}, not a fresh base`);

  const buildCommands = build.flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'RUN'));
  if (!buildCommands.flatMap(runCommands).some((words) => words.join(' ') === 'npm run build')) {
    problems.push('no build stage runs `npm run build`');
  }

  const installs = npmCiCommands(runtime);
  if (installs.length !== 1) problems.push(`the runtime stage installs ${installs.length} times, expected one npm ci`);
  for (const words of installs) {
    if (words[1] !== 'ci') problems.push(`\`${words.join(' ')}\`: not npm ci (the lockfile's exact versions)`);
    if (!words.includes('--omit=dev')) problems.push(`\`${words.join(' ')}\` installs dev dependencies`);
    // `prepare` runs tsc, which --omit=dev does not install.
    if (!words.includes('--ignore-scripts')) problems.push(`\`${words.join(' ')}\` runs the prepare script (tsc)`);
  }
  if (envOf(runtime).ONNXRUNTIME_NODE_INSTALL !== 'skip') {
    problems.push('the runtime stage does not set ONNXRUNTIME_NODE_INSTALL=skip');
  }

  const copies = copiesFrom(runtime);
  const copied = copies.flatMap((copy) => copy.sources);
  for (const path of RUNTIME_FILES) {
    if (!copied.some((source) => source.replace(/^\/app\//, '') === path)) problems.push(`${path} is not copied in`);
  }
  for (const source of copied) {
    if (/node_modules/.test(source)) problems.push(`${source} is copied from a build stage (with dev dependencies)`);
  }
  for (const copy of copies) {
    if (!names.has(copy.from)) problems.push(`COPY --from=${copy.from}: no such stage`);
  }

  const users = runtime.instructions.filter((i) => i.keyword === 'USER');
  const user = users.at(-1);
  if (!user || !/^1000(:\d+)?$/.test(user.text)) problems.push(`USER ${user?.text ?? '(none)'}: expected uid 1000`);
  else if (runtime.instructions.slice(runtime.instructions.indexOf(user)).some((i) => i.keyword === 'RUN')) {
    problems.push('a RUN follows USER 1000');
  }

  const exposed = runtime.instructions
    .filter((i) => i.keyword === 'EXPOSE')
    .flatMap((i) => i.text.split(/\s+/))
    .map((port) => port.replace(/\/tcp$/, ''))
    .sort();
  if (exposed.join(' ') !== '8500 8501') problems.push(`EXPOSE ${exposed.join(' ')}: expected 8500 8501`);

  const entrypoint = lastOf(runtime, 'ENTRYPOINT');
  if (!entrypoint) problems.push('no ENTRYPOINT');
  else if (execForm(entrypoint).slice(0, 2).join(' ') !== 'flowserve serve') {
    problems.push(`ENTRYPOINT ${entrypoint.text}: not flowserve serve`);
  }

  const links = symlinksOf(runtime);
  const workdir = lastOf(runtime, 'WORKDIR')?.text ?? '/';
  for (const [link, bin] of [
    ['/usr/local/bin/flowserve', 'flowserve'],
    ['/usr/bin/tensorflow_model_server', 'tensorflow_model_server'],
  ] as const) {
    const expected = `${workdir}/${PACKAGE.bin[bin]}`;
    if (links.get(link) !== expected) problems.push(`${link} → ${links.get(link) ?? '(nothing)'}, not ${expected}`);
  }
  return problems;
}

/** The real Containerfile with `from` replaced by `to` (which must occur). */
function brokenCopy(from: string | RegExp, to: string): Containerfile {
  const text = CONTAINERFILE_TEXT.replace(from, to);
  assert.notEqual(text, CONTAINERFILE_TEXT, `${String(from)} occurs in the Containerfile`);
  return parseContainerfile(text);
}

/** Every .js file under `dir`. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsFiles(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

/** The package a bare module specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

describe('the Containerfile', () => {
  test('has every property the issue lists', () => {
    assert.deepEqual(containerfileProblems(parseContainerfile(CONTAINERFILE_TEXT)), []);
  });

  test('a copy that breaks a property is caught, each by its own sentence', () => {
    const cases: [string | RegExp, string, RegExp][] = [
      [/ARG NODE_IMAGE=.*/, 'ARG NODE_IMAGE=node:20', /not an official Node 20 slim image/],
      [/ARG NODE_IMAGE=.*/, 'ARG NODE_IMAGE=node:22-bookworm-slim', /not an official Node 20 slim image/],
      ['USER 1000:1000', 'USER root', /USER root: expected uid 1000/],
      ['npm ci --omit=dev', 'npm ci', /installs dev dependencies/],
      ['npm ci --omit=dev --ignore-scripts', 'npm ci --omit=dev', /runs the prepare script/],
      ['EXPOSE 8500 8501', 'EXPOSE 8500', /EXPOSE 8500: expected 8500 8501/],
      ['ENTRYPOINT ["flowserve", "serve",', 'ENTRYPOINT ["flowserve", "client",', /not flowserve serve/],
      ['ENTRYPOINT ["flowserve", "serve", "--host=0.0.0.0"]', 'ENTRYPOINT flowserve serve', /not in exec/],
      ['COPY --from=build /app/proto ./proto', '', /proto is not copied in/],
      [' /usr/bin/tensorflow_model_server\n', ' /usr/local/bin/tf_serving\n', /tensorflow_model_server → \(nothing\)/],
      // The runtime stage's (the build stage sets it too, unindented).
      ['    ONNXRUNTIME_NODE_INSTALL=skip', '    ONNXRUNTIME_NODE_INSTALL=required', /ONNXRUNTIME_NODE_INSTALL=skip/],
    ];
    for (const [from, to, problem] of cases) {
      let problems: string[];
      try {
        problems = containerfileProblems(brokenCopy(from, to));
      } catch (err) {
        problems = [String(err)];
      }
      assert.ok(
        problems.some((p) => problem.test(p)),
        `${String(from)} → ${to}: ${JSON.stringify(problems)}`,
      );
    }
  });

  test('the reader joins continuations, skips comments inside them and refuses what it cannot read', () => {
    const lines = logicalLines('# c\nRUN a \\\n  # inside\n  && b\nCMD ["x"]\n');
    assert.deepEqual(
      lines.map((l) => [l.keyword, l.text, l.line]),
      [
        ['RUN', 'a && b', 2],
        ['CMD', '["x"]', 5],
      ],
    );
    assert.throws(() => logicalLines('RUN a \\\n'), /continuation runs past the end/);
    assert.throws(() => parseContainerfile('RUN x\n'), /RUN before the first FROM/);
    assert.throws(() => parseContainerfile('FROM ${MISSING}\n'), /has no value/);
  });

  test('the runtime dependencies are enough: dist/src imports only `dependencies`, optional ones and built-ins', () => {
    const allowed = new Set([...Object.keys(PACKAGE.dependencies), ...Object.keys(PACKAGE.optionalDependencies ?? {})]);
    const builtins = new Set(builtinModules);
    const missing: string[] = [];
    const files = jsFiles(join(REPOSITORY_ROOT, 'dist', 'src'));
    assert.ok(files.length > 50, `${files.length} compiled files: run npm run build first`);
    for (const file of files) {
      const code = readFileSync(file, 'utf8');
      const specifiers = [
        ...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g),
        ...code.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
      ].map((match) => match[1] as string);
      for (const specifier of specifiers) {
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        if (!allowed.has(packageOf(specifier))) missing.push(`${relative(REPOSITORY_ROOT, file)}: ${specifier}`);
      }
    }
    assert.deepEqual(missing, [], 'imported at run time but not in dependencies (npm ci --omit=dev leaves them out)');
  });

  test('.dockerignore keeps the host’s node_modules and dist out of the build context', () => {
    const ignored = readFileSync(join(REPOSITORY_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const path of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(path), `${path} is ignored`);
    for (const path of ['src', 'proto', 'package.json', 'package-lock.json', '.npmrc']) {
      assert.ok(!ignored.includes(path), `${path} is needed by the build`);
    }
  });

  test('.npmrc, copied in before npm ci, skips the ONNX Runtime download too', () => {
    assert.match(readFileSync(join(REPOSITORY_ROOT, '.npmrc'), 'utf8'), /^onnxruntime-node-install=skip$/m);
    const runtime = parseContainerfile(CONTAINERFILE_TEXT).stages.at(-1) as Stage;
    const copyNpmrc = runtime.instructions.findIndex((i) => i.keyword === 'COPY' && /\.npmrc/.test(i.text));
    const ci = runtime.instructions.findIndex((i) => i.keyword === 'RUN' && /npm ci/.test(i.text));
    assert.ok(copyNpmrc >= 0 && copyNpmrc < ci, '.npmrc is in place when npm ci runs');
  });
});
