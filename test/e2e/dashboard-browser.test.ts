/**
 * The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core (no browser download),
 * against a flowserve server on 127.0.0.1 serving a freshly trained MNIST softmax model. Screenshots go to
 * test-artifacts/dashboard/ (gitignored); with UPDATE_README_SCREENSHOT=1 the live-load view is also written to
 * docs/images/dashboard.png. Without /usr/bin/chromium the suite skips and says why.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import * as fs from '../../src/index.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { CURVES_JSON_FILE, CURVES_JSON_FORMAT } from '../../src/train/curves.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumMissing } from '../helpers/chromium.js';
import { withSoftmaxTraining } from '../helpers/trained-mnist.js';

const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ARTIFACTS = path.join(REPOSITORY_ROOT, 'test-artifacts', 'dashboard');
const README_SCREENSHOT = path.join(REPOSITORY_ROOT, 'docs', 'images', 'dashboard.png');
/** A base path whose name is markup: its load error quotes it, and the page must show it as text. */
const HOSTILE_DIR = '<img src=x onerror="window.__injected=1">';
const skip = chromiumMissing() ?? false;

/** Trains the chapter's softmax model for a few SGD steps on real MNIST digits and exports it as version 1. */
async function exportTrainedMnist(base: string): Promise<void> {
  await withSoftmaxTraining(500, async ({ session, model, train }) => {
    await train(30);
    await fs.exportModel(session, {
      exportBase: base,
      version: 1,
      signatures: {
        serving_default: fs.classificationSignature({ input: model.x, scores: model.scores, exampleFeature: 'x' }),
        predict_images: fs.predictSignature({ inputs: { images: model.x }, outputs: { scores: model.scores } }),
      },
    });
  });
}

describe('the dashboard in a real browser', { skip }, () => {
  let dir: string;
  let server: fs.RunningServer;
  let context: BrowserContext;
  let baseUrl: string;
  const pageErrors: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flowserve-dashboard-browser-'));
    await mkdir(ARTIFACTS, { recursive: true });
    await exportTrainedMnist(path.join(dir, 'mnist'));
    // A second model served from a folder named like markup (its version 2, added later, fails to load).
    await cp(path.join(dir, 'mnist'), path.join(dir, HOSTILE_DIR), { recursive: true });
    // One training run for the runs view (the curves.json `flowserve train --checkpoint_dir` writes).
    await mkdir(path.join(dir, 'runs', 'softmax-run'), { recursive: true });
    const steps = Array.from({ length: 50 }, (_, i) => i);
    await writeFile(
      path.join(dir, 'runs', 'softmax-run', CURVES_JSON_FILE),
      JSON.stringify({
        format: CURVES_JSON_FORMAT,
        title: 'softmax on MNIST',
        xLabel: 'step',
        loss: steps.map((i) => 2.3 * Math.exp(-i / 10) + 0.3),
        accuracy: steps.map((i) => 0.9 - 0.8 * Math.exp(-i / 8)),
      }),
    );
    const model = (name: string, basePath: string) => ({
      name,
      basePath,
      modelPlatform: 'tensorflow',
      versionPolicy: { kind: 'latest' as const, numVersions: 1 },
      versionLabels: {},
    });
    server = await fs.startServer({
      modelConfig: { models: [model('mnist', path.join(dir, 'mnist')), model('broken', path.join(dir, HOSTILE_DIR))] },
      grpcPort: 0,
      restPort: 0,
      host: '127.0.0.1',
      fileSystemPollWaitSeconds: -1,
      modelControlMode: 'explicit',
      // The broken version's load fails at once instead of after five retries a minute apart (5 minutes of CI).
      maxNumLoadRetries: 0,
      dashboard: { statsSamples: 60, runsDir: path.join(dir, 'runs') },
      log: () => {},
    });
    baseUrl = `http://127.0.0.1:${server.restPort}`;
    context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 760 },
    });
  });

  after(async () => {
    await context?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh tab on the dashboard at `fragment`, once the page has built its views. */
  async function openDashboard(fragment: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${fragment}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`${fragment}: console: ${message.text()}`);
    });
    await page.goto(`${baseUrl}/#${fragment}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    return page;
  }

  /** Sends REST :predict requests two at a time until `stop` is set; returns how many answered 200. */
  function sendRequests(stop: { done: boolean }): Promise<number> {
    const body = JSON.stringify({ signature_name: 'predict_images', instances: [new Array(784).fill(0.5)] });
    let ok = 0;
    const loop = async () => {
      const deadline = Date.now() + 30_000;
      while (!stop.done && Date.now() < deadline) {
        const response = await fetch(`${baseUrl}/v1/models/mnist:predict`, { method: 'POST', body });
        await response.arrayBuffer();
        if (response.status === 200) ok++;
      }
    };
    return Promise.all([loop(), loop()]).then(() => ok);
  }

  it('lists the trained MNIST model in the models table: AVAILABLE, its source, format and device', async () => {
    const page = await openDashboard('models');
    const row = page.locator('#models-table tr[data-model="mnist"][data-version="1"]');
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, /AVAILABLE/);
    assert.match(text, /flowserve/);
    assert.match(text, /cpu/);
    assert.ok(text.includes(path.join(dir, 'mnist')), `row shows the base path: ${text}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'models.png'), fullPage: true });
    await page.close();
  });

  it('shows each signature with its inputs and outputs, dtype and shape', async () => {
    const page = await openDashboard('signatures');
    const card = page.locator('#signatures-body section[data-signature="predict_images"]');
    await card.waitFor();
    const text = await card.innerText();
    assert.match(text, /images/);
    assert.match(text, /DT_FLOAT/);
    assert.match(text, /\[\?, 784\]/);
    assert.match(text, /\[\?, 10\]/);
    await page.close();
  });

  it('moves the live requests chart while a client sends requests', async () => {
    const page = await openDashboard('live');
    await page.waitForSelector('#chart-requests');
    const stop = { done: false };
    const sent = sendRequests(stop);
    try {
      // The legend shows the newest rate of each series; the line for mnist over REST v1 must rise above 0.
      await page.waitForFunction(
        () => {
          const items = [...document.querySelectorAll('#chart-requests .legend li')].map((li) => li.textContent ?? '');
          return items.some((item) => /^mnist · REST v1: [0-9.]+[k]? req\/s$/.test(item) && !/: 0 req/.test(item));
        },
        undefined,
        { timeout: 20_000 },
      );
      // Latency is drawn only where requests succeeded: 3 segments = 4 samples in a row with traffic, so the
      // charts (and the README's screenshot) show a stretch of load, not one point.
      await page.waitForFunction(
        () => (document.querySelector('#chart-p50 path.line')?.getAttribute('d')?.split('L').length ?? 0) > 3,
        undefined,
        { timeout: 20_000 },
      );
      const line = await page.locator('#chart-requests path[data-series="mnist · REST v1"]').getAttribute('d');
      assert.ok(line && line.includes('L'), `the line has segments: ${line}`);
      assert.match(await page.locator('#live-mode').innerText(), /Server-Sent Events/);
    } finally {
      stop.done = true;
    }
    assert.ok((await sent) > 0, 'the client got answers');
    await page.screenshot({ path: path.join(ARTIFACTS, 'live.png'), fullPage: true });
    await page.setViewportSize({ width: 960, height: 600 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'readme.png') });
    if (process.env.UPDATE_README_SCREENSHOT === '1') {
      await mkdir(path.dirname(README_SCREENSHOT), { recursive: true });
      await copyFile(path.join(ARTIFACTS, 'readme.png'), README_SCREENSHOT);
    }
    await page.close();
  });

  it('draws a "7" on the canvas and shows the class scores', async () => {
    const page = await openDashboard('try');
    const canvas = page.locator('#digit-canvas');
    await canvas.waitFor();
    const box = await canvas.boundingBox();
    assert.ok(box, 'the canvas is visible');
    // A "7": a bar along the top, then a stroke down to the lower left.
    const at = (x: number, y: number) => [box.x + box.width * x, box.y + box.height * y] as const;
    await page.mouse.move(...at(0.25, 0.2));
    await page.mouse.down();
    await page.mouse.move(...at(0.75, 0.2), { steps: 10 });
    await page.mouse.move(...at(0.45, 0.85), { steps: 12 });
    await page.mouse.up();
    await page.waitForSelector('#digit-prediction', { timeout: 15_000 });
    const bars = await page
      .locator('#digit-bars li')
      .evaluateAll((items) => items.map((li) => Number((li as HTMLElement).dataset.value)));
    assert.equal(bars.length, 10, 'one bar per class');
    // Softmax scores: each in [0, 1], summing to 1.
    assert.ok(bars.every((v) => v >= 0 && v <= 1));
    assert.ok(Math.abs(bars.reduce((a, b) => a + b, 0) - 1) < 1e-3, `scores sum to 1: ${bars.join(', ')}`);
    const predicted = await page.locator('#digit-prediction').innerText();
    // The model is trained here (deterministic: fixed seed and data) and reads a well-made MNIST-like "7" as 7; a
    // digit not centred or scaled as MNIST's are would not be.
    assert.equal(predicted, 'Predicted class: 7', `scores: ${bars.join(', ')}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'try-it.png'), fullPage: true });
    await page.close();
  });

  it('sends the JSON request prefilled from the signature and shows the response', async () => {
    const page = await openDashboard('try');
    await page.click('#json-send');
    await page.waitForFunction(() => (document.getElementById('json-response')?.textContent ?? '').length > 0);
    const response = JSON.parse(await page.locator('#json-response').innerText()) as { predictions: number[][] };
    assert.equal(response.predictions[0]?.length, 10);
    await page.close();
  });

  it('lists the placement: every op with its device', async () => {
    const page = await openDashboard('placement');
    const rows = page.locator('#placement-ops tbody tr');
    await rows.first().waitFor();
    const ops = await rows.evaluateAll((trs) =>
      trs.map((tr) => ({ op: (tr as HTMLElement).dataset.op, device: (tr as HTMLElement).dataset.device })),
    );
    assert.ok(ops.length >= 2, `ops: ${JSON.stringify(ops)}`);
    for (const { op, device } of ops) assert.match(device ?? '', /device:CPU:0$/, `${op} has a CPU device`);
    assert.ok((await page.locator('svg.graph .node').count()) >= ops.length, 'the graph draws every op');
    assert.match(await page.locator('#placement-log').innerText(), /device:CPU:0/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'placement.png'), fullPage: true });
    await page.close();
  });

  it('renders every view on a phone-sized screen in dark mode without sideways overflow', async () => {
    const page = await openDashboard('models');
    await page.setViewportSize({ width: 375, height: 740 });
    await page.emulateMedia({ colorScheme: 'dark' });
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r = 255, g = 255, b = 255] = (background.match(/\d+/g) ?? []).map(Number);
    assert.ok(r + g + b < 150, `dark background: ${background}`);
    for (const view of ['models', 'signatures', 'live', 'placement', 'try', 'runs']) {
      await page.evaluate((fragment) => (location.hash = fragment), view);
      await page.waitForSelector(`#view-${view}:not([hidden])`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${view}: the page is ${overflow}px wider than the screen`);
      await page.screenshot({ path: path.join(ARTIFACTS, `phone-dark-${view}.png`), fullPage: true });
    }
    await page.close();
  });

  it("shows a version's load error in full, as text: markup from the server is never run", async () => {
    // Version 2 is not ONNX; in explicit mode a load reads the versions again and tries it.
    await mkdir(path.join(dir, HOSTILE_DIR, '2'));
    await writeFile(path.join(dir, HOSTILE_DIR, '2', 'model.onnx'), '<b>not an ONNX model</b>');
    const load = await fetch(`${baseUrl}/v2/repository/models/broken/load`, { method: 'POST', body: '{}' });
    await load.arrayBuffer();
    const page = await openDashboard('models');
    const error = page.locator('#models-table tr[data-model="broken"] pre.error');
    await error.waitFor({ timeout: 15_000 });
    const text = await error.innerText();
    assert.ok(text.includes(HOSTILE_DIR), `the error quotes the folder name: ${text}`);
    assert.equal(await page.locator('main img').count(), 0, 'no <img> was made from server text');
    assert.equal(await page.evaluate(() => (window as { __injected?: number }).__injected), undefined);
    await page.close();
  });

  it('shows the training runs in --runs_dir as loss and accuracy curves', async () => {
    const page = await openDashboard('runs');
    const run = page.locator('#runs-body section[data-run="softmax-run"]');
    await run.waitFor();
    assert.match(await run.innerText(), /softmax on MNIST/);
    const lines = await run.locator('path.line').evaluateAll((paths) => paths.map((p) => p.getAttribute('d') ?? ''));
    assert.equal(lines.length, 2, 'a loss curve and an accuracy curve');
    for (const d of lines) assert.equal(d.split('L').length, 50, 'one point per step');
    await page.close();
  });

  it('unloads and loads a model through the repository API when model control is explicit', async () => {
    const page = await openDashboard('models');
    const row = page.locator('#models-table tr[data-model="mnist"][data-version="1"]');
    await row.waitFor();
    await row.getByRole('button', { name: 'Unload', exact: true }).click();
    await page.locator('#models-table tr[data-model="mnist"] .badge', { hasText: 'not served' }).waitFor();
    assert.equal((await fetch(`${baseUrl}/v2/models/mnist/ready`)).status, 400);
    await page
      .locator('#models-table tr[data-model="mnist"]')
      .getByRole('button', { name: 'Load', exact: true })
      .click();
    await page.locator('#models-table tr[data-model="mnist"] .badge', { hasText: 'AVAILABLE' }).waitFor();
    assert.equal((await fetch(`${baseUrl}/v2/models/mnist/ready`)).status, 200);
    await page.close();
  });

  it('offers no load or unload buttons unless model control is explicit', async () => {
    const readOnly = await fs.startServer({
      modelConfig: singleModelConfig('mnist', path.join(dir, 'mnist')),
      grpcPort: 0,
      restPort: 0,
      host: '127.0.0.1',
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    const page = await context.newPage();
    try {
      await page.goto(`http://127.0.0.1:${readOnly.restPort}/#models`);
      await page.locator('#models-table tr[data-model="mnist"]').first().waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#models-table button').count(), 0);
      assert.match(await page.locator('#view-models').innerText(), /Read-only \(model control mode: none\)/);
    } finally {
      await page.close();
      await readOnly.close();
    }
  });

  it('asks for the bearer token when the server needs one, then polls the stats (EventSource sends no headers)', async () => {
    const tokenFile = path.join(dir, 'token');
    await writeFile(tokenFile, 'dashboard-test-token\n');
    const guarded = await fs.startServer({
      modelConfig: singleModelConfig('mnist', path.join(dir, 'mnist')),
      grpcPort: 0,
      restPort: 0,
      host: '127.0.0.1',
      fileSystemPollWaitSeconds: -1,
      authTokenFile: tokenFile,
      log: () => {},
    });
    // The 401s before the token is given are expected; this page's console is not watched.
    const page = await context.newPage();
    try {
      await page.goto(`http://127.0.0.1:${guarded.restPort}/#live`);
      await page.locator('input[type="password"]').fill('dashboard-test-token');
      await page.getByRole('button', { name: 'Use token' }).click();
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
      await page.locator('#live-mode', { hasText: 'polling every second' }).waitFor({ timeout: 15_000 });
      await page.locator('#chart-requests').waitFor();
    } finally {
      await page.close();
      await guarded.close();
    }
  });

  it('raised no script errors in any page', () => {
    assert.deepEqual(pageErrors, []);
  });

  it(
    'keeps the README screenshot small',
    { skip: !existsSync(README_SCREENSHOT) && 'no README screenshot yet' },
    async () => {
      assert.ok((await stat(README_SCREENSHOT)).size < 150 * 1024);
    },
  );
});
