/**
 * The real `flowserve serve` process: SIGTERM during a reload that keeps retrying a failing load, a second SIGTERM,
 * a failing first load at start-up, --wait_for_models=false, and --drain_delay_seconds. Ports are read from what the
 * CLI prints.
 */
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createClient } from '../../src/client/index.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import {
  FEATURES,
  SLOW_SIZE,
  tempBase,
  writeClassifier,
  writeCorruptVersion,
  writeSlowModel,
} from '../serving/apis/fixtures.js';
import { freePort } from '../helpers/free-port.js';
import { healthStatus, NOT_SERVING, SERVING, spawnServe, until, type ServeProcess } from './shutdown-helpers.js';

const FAILED_LOAD = /Loading servable: \{name: bad version: 1\} failed: .*Protobuf parsing failed/;

describe('flowserve serve and signals', () => {
  const base = tempBase('flowserve-signals-');
  const started: ServeProcess[] = [];
  const serve = (args: string[]) => {
    const p = spawnServe(['--num_workers=1', ...args]);
    started.push(p);
    return p;
  };

  after(() => {
    for (const p of started) p.kill();
    rmSync(base, { recursive: true, force: true });
  });

  test('SIGTERM during a reload that keeps retrying a failing load exits 0 within --drain_timeout_seconds', async () => {
    const good = join(base, 'a', 'good');
    const bad = join(base, 'a', 'bad');
    writeClassifier(good, 1);
    writeCorruptVersion(bad, 1);
    const server = serve([
      '--model_name=good',
      `--model_base_path=${good}`,
      '--drain_timeout_seconds=3',
      '--max_num_load_retries=5',
      '--load_retry_interval_micros=60000000',
      '--enable_model_management',
    ]);
    const { grpc: port } = await server.ports();
    const client = createClient({ server: `127.0.0.1:${port}` });
    try {
      const reload = client
        .reload([
          { name: 'good', basePath: good },
          { name: 'bad', basePath: bad },
        ])
        .then(
          () => 'OK',
          (err: unknown) => err,
        );
      await until(() => FAILED_LOAD.test(server.stderr()), 10_000, 'the first failed load');
      const signalled = performance.now();
      server.child.kill('SIGTERM');
      const exit = await server.exited(8000);
      const seconds = (performance.now() - signalled) / 1000;
      assert.equal(exit.code, 0, server.stderr());
      assert.ok(seconds < 3, `exited after ${seconds.toFixed(2)} s`);
      assert.notEqual(await reload, 'OK', 'the reload did not succeed');
    } finally {
      client.close();
    }
  });

  test('a second SIGTERM exits at once while the first still drains a long request', async () => {
    const slow = join(base, 'b', 'slow');
    writeSlowModel(slow, 1, 96);
    const server = serve(['--model_name=slow', `--model_base_path=${slow}`, '--drain_timeout_seconds=60']);
    const { grpc: port } = await server.ports();
    const client = createClient({ server: `127.0.0.1:${port}` });
    try {
      const x = () => HostTensor.zeros('float32', [SLOW_SIZE, SLOW_SIZE]);
      // Several long runs queue on the single worker: the drain has seconds of work to wait for.
      const runs = [1, 2, 3].map(() => client.predict({ name: 'slow' }, { x: x() }).catch(() => undefined));
      await new Promise((r) => setTimeout(r, 300));
      server.child.kill('SIGTERM');
      // Generous bounds for a loaded CI machine: the drain may take up to 60 s, so 10 s is still "at once".
      await until(() => /SIGTERM received: draining/.test(server.stderr()), 20_000, 'the drain');
      const signalled = performance.now();
      server.child.kill('SIGTERM');
      const exit = await server.exited(15_000);
      assert.equal(exit.signal, 'SIGTERM', server.stderr());
      assert.ok(performance.now() - signalled < 10_000, `exited ${performance.now() - signalled} ms after`);
      assert.match(server.stderr(), /SIGTERM received again: exiting at once/);
      await Promise.all(runs);
    } finally {
      client.close();
    }
  });

  test('a failing first load is reported at once, and the ports stay closed while --wait_for_models asks', async () => {
    const bad = join(base, 'c', 'bad');
    writeCorruptVersion(bad, 1);
    const server = serve([
      '--model_name=bad',
      `--model_base_path=${bad}`,
      '--max_num_load_retries=5',
      '--load_retry_interval_micros=60000000',
    ]);
    await until(() => FAILED_LOAD.test(server.stderr()), 10_000, 'the failure line');
    assert.match(server.stderr(), /retrying in 60 s \(5 retries left\)/);
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(server.stderr(), /Running gRPC ModelServer/);
    server.kill();
  });

  test('--wait_for_models=false opens the ports at once; the model shows LOADING and health NOT_SERVING until it loads', async () => {
    const bad = join(base, 'd', 'bad');
    const versionDir = writeCorruptVersion(bad, 1);
    const server = serve([
      '--model_name=bad',
      `--model_base_path=${bad}`,
      '--wait_for_models=false',
      '--max_num_load_retries=20',
      '--load_retry_interval_micros=300000',
    ]);
    const ports = await server.ports();
    const client = createClient({ server: `127.0.0.1:${ports.grpc}` });
    const state = async () => (await client.status({ name: 'bad' }))[0]?.state;
    assert.equal(await state(), 'LOADING');
    assert.equal(await healthStatus(ports.grpc), NOT_SERVING);
    await until(() => FAILED_LOAD.test(server.stderr()), 10_000, 'the failure line');

    const good = writeClassifier(join(base, 'd', 'good'), 1);
    copyFileSync(join(good, 'signatures.json'), join(versionDir, 'signatures.json'));
    copyFileSync(join(good, 'model.onnx'), join(versionDir, 'model.onnx'));
    await until(async () => (await state()) === 'AVAILABLE', 10_000, 'AVAILABLE');
    assert.equal(await healthStatus(ports.grpc), SERVING);

    client.close();
    server.child.kill('SIGTERM');
    assert.equal((await server.exited(10_000)).code, 0);
  });

  test('--drain_delay_seconds: SIGTERM turns health not-ready at once, requests are answered for the delay, then it drains and exits 0', async () => {
    const clf = join(base, 'e', 'clf');
    writeClassifier(clf, 1);
    const server = serve([
      '--model_name=clf',
      `--model_base_path=${clf}`,
      '--drain_delay_seconds=2',
      `--rest_api_port=${await freePort()}`,
    ]);
    const ports = await server.ports();
    const client = createClient({ server: `127.0.0.1:${ports.grpc}` });
    const ready = async () => (await fetch(`http://127.0.0.1:${ports.rest}/v2/health/ready`)).status;
    const x = HostTensor.zeros('float32', [1, FEATURES]);
    try {
      assert.equal(await ready(), 200);
      const signalled = performance.now();
      server.child.kill('SIGTERM');
      await until(async () => (await healthStatus(ports.grpc)) === NOT_SERVING, 1000, 'NOT_SERVING');
      assert.notEqual(await ready(), 200);
      let answered = 0;
      while (performance.now() - signalled < 1500) {
        const result = await client.predict({ name: 'clf', signatureName: 'predict_probs' }, { x });
        assert.deepEqual(result.outputs.probabilities?.shape, [1, 3]);
        answered++;
      }
      assert.ok(answered > 0);
      assert.doesNotMatch(server.stderr(), /drain delay over/);
      const exit = await server.exited(8000);
      assert.equal(exit.code, 0, server.stderr());
      assert.ok(performance.now() - signalled >= 1950, 'exited after the delay');
      assert.match(server.stderr(), /still serving for --drain_delay_seconds=2[^]*drain delay over: draining/);
    } finally {
      client.close();
    }
  });

  test('--drain_delay_seconds: a second SIGTERM during the delay exits at once', async () => {
    const clf = join(base, 'f', 'clf');
    writeClassifier(clf, 1);
    const server = serve(['--model_name=clf', `--model_base_path=${clf}`, '--drain_delay_seconds=30']);
    await server.ports();
    server.child.kill('SIGTERM');
    // Generous bounds (a loaded CI machine once took over 5 s to print the first line): the delay is 30 s, so an
    // exit within 10 s of the second signal is still "at once".
    await until(() => /SIGTERM received: not ready/.test(server.stderr()), 20_000, 'the first signal');
    const signalled = performance.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited(15_000);
    assert.equal(exit.signal, 'SIGTERM', server.stderr());
    assert.ok(performance.now() - signalled < 10_000, `exited ${performance.now() - signalled} ms after`);
  });
});
