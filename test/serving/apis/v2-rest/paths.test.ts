/** v2 REST paths: routes, refusals, and the last path's route shared by the requests that repeat it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MethodNotAllowed, parseV2Path } from '../../../../src/serving/apis/v2-rest/paths.js';

test('a repeated path gets the same frozen route, still checked against each request method', () => {
  const first = parseV2Path('POST', '/v2/models/m%20x/versions/3/infer');
  assert.deepEqual(first, { api: 'ModelInfer', model: 'm x', version: '3' });
  const again = parseV2Path('POST', '/v2/models/m%20x/versions/3/infer');
  assert.equal(again, first, 'the route is shared, not matched again');
  assert.ok(Object.isFrozen(again), 'so no request can change it for the next');
  assert.throws(() => parseV2Path('GET', '/v2/models/m%20x/versions/3/infer'), MethodNotAllowed);
  assert.deepEqual(parseV2Path('GET', '/v2/models/m%20x/versions/3'), {
    api: 'ModelMetadata',
    model: 'm x',
    version: '3',
  });
  assert.deepEqual(parseV2Path('HEAD', '/v2/health/ready'), { api: 'ServerReady' });
  assert.notEqual(parseV2Path('POST', '/v2/models/m%20x/versions/3/infer'), first, 'another path came between');
});

test('unknown paths and bad escapes are refused each time, also when repeated', () => {
  for (let i = 0; i < 2; i++) {
    assert.throws(() => parseV2Path('GET', '/v2/nope'), /Not Found/);
    assert.throws(() => parseV2Path('POST', '/v2/models/%E0%A4%A/infer'), /not valid percent-encoded UTF-8/);
  }
});
