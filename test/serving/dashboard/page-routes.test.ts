/** The dashboard page's static files on a real REST port: what is served, with which headers, and what never is. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validateModelServerConfig } from '../../../src/serving/config/model-server-config.js';
import { findDashboardRoot, loadDashboardFiles } from '../../../src/serving/dashboard/static-files.js';
import { startServer, type RunningServer } from '../../../src/serving/server.js';

/** A raw GET whose path is sent as written (fetch would normalise '..' away). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const noModels = () => validateModelServerConfig({ models: [] });

describe('dashboard page files', () => {
  let dir: string;
  let server: RunningServer;
  let root: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowserve-page-'));
    const page = join(dir, 'dashboard');
    mkdirSync(join(page, 'assets'), { recursive: true });
    writeFileSync(join(page, 'index.html'), '<!doctype html><title>test page</title>');
    writeFileSync(join(page, 'assets', 'app.js'), 'console.log(1);');
    writeFileSync(join(page, 'assets', 'style.css'), 'body{}');
    writeFileSync(join(page, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(page, 'assets', 'data.bin'), 'bytes');
    writeFileSync(join(page, 'assets', '.hidden.js'), 'secret');
    writeFileSync(join(page, 'assets', 'bad name.js'), 'x');
    writeFileSync(join(dir, 'secret.txt'), 'outside the page folder');
    symlinkSync(join(dir, 'secret.txt'), join(page, 'assets', 'link.txt'));
    mkdirSync(join(page, 'assets', 'sub'));
    writeFileSync(join(page, 'assets', 'sub', 'inner.js'), 'nested');
    server = await startServer({
      modelConfig: noModels(),
      grpcPort: 0,
      restPort: 0,
      fileSystemPollWaitSeconds: -1,
      log: () => {},
      dashboard: { pageRoot: page },
    });
    root = `http://127.0.0.1:${server.restPort}`;
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GET /, /dashboard and /dashboard/ answer index.html as HTML with no-cache and a strict CSP', async () => {
    for (const path of ['/', '/dashboard', '/dashboard/']) {
      const res = await fetch(`${root}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      assert.equal(await res.text(), '<!doctype html><title>test page</title>');
    }
  });

  test('assets are served with their content type by extension; unknown extensions as bytes', async () => {
    const expected: Record<string, string> = {
      'app.js': 'text/javascript; charset=utf-8',
      'style.css': 'text/css; charset=utf-8',
      'logo.svg': 'image/svg+xml',
      'data.bin': 'application/octet-stream',
    };
    for (const [name, type] of Object.entries(expected)) {
      const res = await fetch(`${root}/dashboard/assets/${name}`);
      assert.equal(res.status, 200, name);
      assert.equal(res.headers.get('content-type'), type, name);
      await res.arrayBuffer();
    }
  });

  test('a matching If-None-Match gets 304 without a body', async () => {
    const first = await fetch(`${root}/dashboard/assets/app.js`);
    const etag = first.headers.get('etag');
    await first.text();
    assert.ok(etag);
    const second = await fetch(`${root}/dashboard/assets/app.js`, { headers: { 'if-none-match': etag } });
    assert.equal(second.status, 304);
    assert.equal(await second.text(), '');
  });

  test('hidden files, unsafe names, symlinks, subfolders and traversal are never served', async () => {
    const port = server.restPort as number;
    for (const path of [
      '/dashboard/assets/.hidden.js',
      '/dashboard/assets/bad%20name.js',
      '/dashboard/assets/link.txt',
      '/dashboard/assets/sub/inner.js',
      '/dashboard/assets/sub%2Finner.js',
      '/dashboard/assets/../index.html',
      '/dashboard/assets/..%2F..%2Fsecret.txt',
      '/dashboard/assets/%2e%2e/%2e%2e/secret.txt',
      '/dashboard/assets/..',
      '/dashboard/../secret.txt',
      '/dashboard/index.html',
      '/dashboard/assets/',
    ]) {
      const res = await rawGet(port, path);
      assert.equal(res.status, 404, path);
      assert.ok(!res.body.includes('outside the page folder') && !res.body.includes('nested'), path);
    }
  });

  test('files added after start-up are not served (the list is read once)', async () => {
    writeFileSync(join(dir, 'dashboard', 'assets', 'late.js'), 'late');
    assert.equal((await fetch(`${root}/dashboard/assets/late.js`)).status, 404);
  });

  test('the skipped names are reported with their reasons', async () => {
    const files = await loadDashboardFiles(join(dir, 'dashboard'));
    const skipped = new Map(files.skipped.map((s) => [s.name, s.reason]));
    for (const name of ['.hidden.js', 'bad name.js', 'link.txt', 'sub']) assert.ok(skipped.has(name), name);
    assert.ok(files.assets.has('app.js'));
  });
});

describe('dashboard page with --dashboard=false', () => {
  test('/, /dashboard and assets 404 as any unknown path', async () => {
    const server = await startServer({
      modelConfig: noModels(),
      grpcPort: 0,
      restPort: 0,
      fileSystemPollWaitSeconds: -1,
      log: () => {},
      dashboard: false,
    });
    try {
      for (const path of ['/', '/dashboard', '/dashboard/assets/app.js', '/api/dashboard/server']) {
        const res = await fetch(`http://127.0.0.1:${server.restPort}${path}`);
        assert.equal(res.status, 404, path);
        await res.text();
      }
    } finally {
      await server.close();
    }
  });
});

test("the repository's own dashboard/ folder is found from the built module", () => {
  const found = findDashboardRoot();
  assert.ok(found && found.endsWith('dashboard'), String(found));
});
