import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailedPrecondition, Internal, NotFound } from '../../../src/errors.js';
import { AspiredVersionsManager } from '../../../src/serving/core/aspired-versions-manager.js';
import type { LoaderFactory, Servable } from '../../../src/serving/core/servable.js';
import { VersionStateMachine, type TransitionEvent } from '../../../src/serving/core/state-machine.js';
import { checkVersionLabels } from '../../../src/serving/core/version-labels.js';
import { aspiredVersions } from '../../../src/serving/core/version-policy.js';
import { eventually } from './model-fixtures.js';

const fakeServable = (version: number, unloads: number[]): Servable => ({
  signatures: {},
  defaultSignature: 'serving_default',
  run: async () => ({}),
  unload: async () => {
    unloads.push(version);
  },
});

/** A loader factory whose loads finish when the test says so. */
function controllableLoaders() {
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }[]>();
  const unloads: number[] = [];
  const attempts: number[] = [];
  const factory: LoaderFactory = (_model, version) => ({
    load: () =>
      new Promise<Servable>((resolve, reject) => {
        attempts.push(version);
        const list = pending.get(version) ?? [];
        list.push({ resolve: () => resolve(fakeServable(version, unloads)), reject });
        pending.set(version, list);
      }),
  });
  const waitingLoad = async (version: number) => {
    await eventually(() => (pending.get(version)?.length ?? 0) > 0);
    return (pending.get(version) as { resolve: () => void; reject: (e: Error) => void }[]).shift() as {
      resolve: () => void;
      reject: (e: Error) => void;
    };
  };
  return { factory, unloads, attempts, waitingLoad };
}

function managerWith(factory: LoaderFactory, retries = 0, loadRetryIntervalMs = 1) {
  const events: TransitionEvent[] = [];
  const manager = new AspiredVersionsManager({
    loaderFactory: factory,
    maxNumLoadRetries: retries,
    loadRetryIntervalMs,
    onTransition: (e) => events.push(e),
    log: () => undefined,
  });
  const trace = () => events.map((e) => `${e.version}:${e.to}`);
  return { manager, events, trace };
}

/** The version a request would get now (the handle is released at once). */
function servingVersion(manager: AspiredVersionsManager): number | undefined {
  const handle = manager.acquire('m');
  handle?.release();
  return handle?.version;
}

const at = (version: number) => ({ version, path: `/m/${version}` });

describe('version policies', () => {
  it('latest N, all and specific pick from the versions on disk, highest first', () => {
    const present = [1, 3, 2, 10];
    assert.deepEqual(aspiredVersions({ kind: 'latest', numVersions: 1 }, present), [10]);
    assert.deepEqual(aspiredVersions({ kind: 'latest', numVersions: 2 }, present), [10, 3]);
    assert.deepEqual(aspiredVersions({ kind: 'all' }, present), [10, 3, 2, 1]);
    assert.deepEqual(aspiredVersions({ kind: 'specific', versions: [2, 7] }, present), [2]);
  });
});

describe('version state machine', () => {
  it('allows only the transitions of the table and emits one event per transition', () => {
    const events: TransitionEvent[] = [];
    const machine = new VersionStateMachine('m', 1, (e) => events.push(e));
    machine.transition('LOADING');
    assert.throws(() => machine.transition('UNLOADING'), Internal);
    machine.transition('AVAILABLE');
    machine.transition('UNLOADING');
    machine.transition('END');
    assert.throws(() => machine.transition('LOADING'), Internal);
    assert.deepEqual(
      events.map((e) => [e.from, e.to]),
      [
        [null, 'START'],
        ['START', 'LOADING'],
        ['LOADING', 'AVAILABLE'],
        ['AVAILABLE', 'UNLOADING'],
        ['UNLOADING', 'END'],
      ],
    );
  });
});

describe('version labels', () => {
  const available = (v: number) => v === 1;
  it('must point at AVAILABLE versions unless allowed, and may never move to an unavailable one', () => {
    assert.doesNotThrow(() => checkVersionLabels('m', { stable: 1 }, {}, available, false));
    assert.throws(
      () => checkVersionLabels('m', { canary: 2 }, {}, available, false),
      (e: unknown) =>
        e instanceof FailedPrecondition &&
        e.message === 'Request to assign label to version 2 of model m, which is not currently available for inference',
    );
    assert.doesNotThrow(() => checkVersionLabels('m', { canary: 2 }, {}, available, true));
    assert.doesNotThrow(() => checkVersionLabels('m', { canary: 2 }, { canary: 2 }, available, true));
    assert.throws(() => checkVersionLabels('m', { stable: 2 }, { stable: 1 }, available, true), FailedPrecondition);
  });
});

describe('AspiredVersionsManager', () => {
  it('makes a new version AVAILABLE before it unloads the old one', async () => {
    const loaders = controllableLoaders();
    const { manager, trace } = managerWith(loaders.factory);
    manager.setAspiredVersions('m', [at(1)]);
    (await loaders.waitingLoad(1)).resolve();
    await manager.whenSettled('m');
    assert.equal(servingVersion(manager), 1);

    manager.setAspiredVersions('m', [at(2)]);
    const load2 = await loaders.waitingLoad(2);
    // While 2 loads, 1 keeps serving.
    const during = manager.acquire('m');
    assert.equal(during?.version, 1);
    during?.release();
    load2.resolve();
    await manager.whenSettled('m');
    assert.deepEqual(trace(), [
      '1:START',
      '1:LOADING',
      '1:AVAILABLE',
      '2:START',
      '2:LOADING',
      '2:AVAILABLE',
      '1:UNLOADING',
      '1:END',
    ]);
    assert.deepEqual(loaders.unloads, [1]);
    assert.equal(servingVersion(manager), 2);
    await manager.close();
  });

  it('a failed load never replaces the serving version, is retried, and ends with its error', async () => {
    let attempts = 0;
    const unloads: number[] = [];
    const factory: LoaderFactory = (_m, version) => ({
      load: async () => {
        if (version === 2) {
          attempts++;
          throw new NotFound('no model.onnx');
        }
        return fakeServable(version, unloads);
      },
    });
    const { manager } = managerWith(factory, 2);
    manager.setAspiredVersions('m', [at(1)]);
    await manager.whenSettled('m');
    manager.setAspiredVersions('m', [at(2)]);
    await manager.whenSettled('m');
    assert.equal(attempts, 3, 'one attempt plus two retries');
    assert.equal(servingVersion(manager), 1);
    assert.deepEqual(unloads, []);
    assert.deepEqual(manager.versionStatuses('m'), [
      { version: 2, state: 'END', error: { code: 'NOT_FOUND', message: 'no model.onnx' } },
      { version: 1, state: 'AVAILABLE' },
    ]);
    // Not retried while it stays aspired…
    manager.setAspiredVersions('m', [at(2)]);
    await manager.whenSettled('m');
    assert.equal(attempts, 3);
    // …but retried when it leaves the aspired list and comes back.
    manager.setAspiredVersions('m', [at(1)]);
    await manager.whenSettled('m');
    manager.setAspiredVersions('m', [at(2)]);
    await manager.whenSettled('m');
    assert.equal(attempts, 6);
    await manager.close();
  });

  it('unloading waits until in-flight requests release the version', async () => {
    const loaders = controllableLoaders();
    const { manager } = managerWith(loaders.factory);
    manager.setAspiredVersions('m', [at(1)]);
    (await loaders.waitingLoad(1)).resolve();
    await manager.whenSettled('m');
    const handle = manager.acquire('m', 1);
    assert.ok(handle);
    manager.setAspiredVersions('m', []);
    await eventually(() => manager.versionStatuses('m')?.[0]?.state === 'UNLOADING');
    assert.equal(manager.acquire('m', 1), undefined, 'an UNLOADING version takes no new requests');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(loaders.unloads, [], 'not unloaded while a handle is held');
    handle.release();
    await manager.whenSettled('m');
    assert.deepEqual(loaders.unloads, [1]);
    assert.equal(manager.versionStatuses('m')?.[0]?.state, 'END');
    await manager.close();
  });

  it('a version deleted from disk before it loads ends without loading', async () => {
    const loaders = controllableLoaders();
    const { manager, trace } = managerWith(loaders.factory);
    manager.setAspiredVersions('m', [at(2), at(1)]);
    const load2 = await loaders.waitingLoad(2);
    manager.setAspiredVersions('m', [at(2)]);
    load2.resolve();
    await manager.whenSettled('m');
    assert.deepEqual(loaders.attempts, [2]);
    assert.ok(trace().includes('1:END'));
    await manager.close();
  });

  it('a cancelled load never serves: the running attempt is unloaded, START versions never load', async () => {
    const loaders = controllableLoaders();
    const { manager, events, trace } = managerWith(loaders.factory);
    manager.setAspiredVersions('m', [at(1), at(2)]);
    const load2 = await loaders.waitingLoad(2);
    manager.cancelPendingLoads('m', 'the config reload was cancelled: client gone');
    load2.resolve();
    await manager.whenSettled('m');
    assert.equal(servingVersion(manager), undefined);
    assert.deepEqual(loaders.attempts, [2], 'version 1 was never tried');
    assert.deepEqual(loaders.unloads, [2], 'the attempt that finished after the cancel was unloaded');
    assert.ok(!trace().includes('2:AVAILABLE'));
    const statuses = manager.versionStatuses('m') ?? [];
    assert.deepEqual(
      statuses.map((s) => [s.version, s.state, s.error?.code]),
      [
        [2, 'END', 'CANCELLED'],
        [1, 'END', 'CANCELLED'],
      ],
    );
    assert.match(statuses[0]?.error?.message ?? '', /client gone/);
    assert.equal(events.filter((e) => e.to === 'END').length, 2);
    await manager.close();
  });

  it('a cancel ends the wait between load retries at once and no retry follows', async () => {
    const loaders = controllableLoaders();
    const { manager } = managerWith(loaders.factory, 5, 60_000);
    manager.setAspiredVersions('m', [at(1)]);
    (await loaders.waitingLoad(1)).reject(new Error('corrupt model'));
    await new Promise((r) => setTimeout(r, 10));
    const started = performance.now();
    manager.cancelPendingLoads('m', 'shutdown');
    await manager.whenSettled('m');
    assert.ok(performance.now() - started < 1000, 'did not wait for the 60 s retry interval');
    assert.deepEqual(loaders.attempts, [1]);
    const [status] = manager.versionStatuses('m') ?? [];
    assert.equal(status?.error?.code, 'CANCELLED');
    assert.match(status?.error?.message ?? '', /shutdown; last load error: corrupt model/);
    await manager.close();
  });

  it('close() during a retry wait returns at once', async () => {
    const loaders = controllableLoaders();
    const { manager } = managerWith(loaders.factory, 5, 60_000);
    manager.setAspiredVersions('m', [at(1)]);
    (await loaders.waitingLoad(1)).reject(new Error('corrupt model'));
    await new Promise((r) => setTimeout(r, 10));
    const started = performance.now();
    await manager.close();
    assert.ok(performance.now() - started < 1000);
  });
});
