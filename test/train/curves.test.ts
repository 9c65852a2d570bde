import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { niceTicks, renderCurvesSvg, writeCurvesSvg } from '../../src/train/curves.js';

const tmp = mkdtempSync(join(tmpdir(), 'flowserve-curves-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Checks that every element opened is closed in order (a small well-formedness check; no attribute contains '>'). */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match as unknown as [string, string, string, string];
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
}

function paths(svg: string): string[] {
  return [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1] as string);
}

describe('training curves SVG', () => {
  const loss = Array.from({ length: 50 }, (_, i) => 2.3 * Math.exp(-i / 10) + 0.05);
  const accuracy = Array.from({ length: 50 }, (_, i) => 0.1 + 0.85 * (1 - Math.exp(-i / 8)));

  it('is one balanced <svg> document with a path per series', async () => {
    const file = join(tmp, 'nested', 'curves.svg');
    await writeCurvesSvg(file, { loss, accuracy, title: 'MNIST <mlp> & "softmax"' });
    const svg = readFileSync(file, 'utf8');
    assert.ok(svg.startsWith('<svg'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assertBalanced(svg);
    const d = paths(svg);
    assert.equal(d.length, 2);
    for (const path of d) assert.equal(path.split(/[ML]/).filter((s) => s.trim()).length, 50);
    assert.ok(svg.includes('MNIST &#60;mlp&#62; &#38; &#34;softmax&#34;'), 'title is escaped');
    assert.ok(!svg.includes('<mlp>'));
  });

  it('labels both axes of both panels', () => {
    const svg = renderCurvesSvg({ loss, accuracy, title: 't', xLabel: 'iteration' });
    assert.equal(svg.match(/>iteration</g)?.length, 2);
    assert.match(svg, />loss</);
    assert.match(svg, />accuracy</);
    // Loss runs from 0.05 to 2.35: ticks 0, 0.5, …, 2.5.
    for (const tick of ['0.0', '0.5', '1.0', '1.5', '2.0', '2.5']) assert.ok(svg.includes(`>${tick}</text>`), tick);
  });

  it('larger values sit higher on the panel and later steps further right', () => {
    const svg = renderCurvesSvg({ loss: [3, 1], accuracy: [0.2, 0.9], title: 't' });
    const points = paths(svg).map((d) =>
      [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]),
    );
    const [[loss0, loss1], [accuracy0, accuracy1]] = points as [[number, number][], [number, number][]];
    assert.ok(loss0 && loss1 && accuracy0 && accuracy1);
    assert.ok(loss1[1] > loss0[1], 'falling loss: SVG y grows downward');
    assert.ok(accuracy1[1] < accuracy0[1], 'rising accuracy');
    assert.ok(loss1[0] > loss0[0]);
  });

  it('handles empty series, a single point and non-finite values', () => {
    const svg = renderCurvesSvg({ loss: [1, NaN, 0.5, 0.4], accuracy: [], title: 'edge' });
    assertBalanced(svg);
    const [lossD, accuracyD] = paths(svg) as [string, string];
    assert.equal(lossD.match(/M/g)?.length, 2, 'a NaN starts a new segment');
    assert.equal(accuracyD, '');
    assert.match(svg, /no data/);
    assert.ok(!/NaN|Infinity/.test(svg));
    assertBalanced(renderCurvesSvg({ loss: [0.7], accuracy: [0.5], title: 'one' }));
    assert.ok(!/NaN|Infinity/.test(renderCurvesSvg({ loss: [0.7], accuracy: [0.5], title: 'one' })));
  });

  it('niceTicks steps by 1, 2 or 5 × 10^k and covers the range', () => {
    assert.deepEqual(niceTicks(0, 1).values, [0, 0.2, 0.4, 0.6, 0.8, 1]);
    const t = niceTicks(1, 50);
    assert.equal(t.step, 10);
    assert.equal(t.min, 0);
    assert.equal(t.max, 50);
    const flat = niceTicks(0.5, 0.5);
    assert.ok(flat.min < 0.5 && flat.max > 0.5);
  });
});
