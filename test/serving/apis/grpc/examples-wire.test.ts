import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExampleFeatures } from '../../../../src/serving/core/example-parsing.js';
import { admitExamples, admitInput, readPlainExamples } from '../../../../src/serving/apis/grpc/examples-wire.js';
import { examplesFromInput } from '../../../../src/serving/apis/shared/examples.js';
import { protobufRoot } from '../../../../src/serving/apis/shared/protos.js';

const Input = () => protobufRoot().lookupType('tensorflow.serving.Input');

function encodeInput(value: object): Uint8Array {
  const type = Input();
  return type.encode(type.fromObject(value)).finish();
}

/** What protobufjs and examplesFromInput make of `bytes` (the path every request took before). */
function viaProtobufjs(bytes: Uint8Array): ExampleFeatures[] {
  return examplesFromInput(admitInput({ input: bytes }, 1_000_000));
}

/** Examples as plain values, so a Float32Array and a number[] of the same values compare equal. */
function plain(examples: ExampleFeatures[]): unknown {
  return examples.map((e) =>
    Object.fromEntries(
      Object.entries(e).map(([key, f]) => [
        key,
        { kind: f.kind, values: Array.from(f.values, (v) => (v instanceof Uint8Array ? [...v] : v)) },
      ]),
    ),
  );
}

const floats = (values: number[]) => ({ float_list: { value: values } });
const bytesList = (values: string[]) => ({ bytes_list: { value: values.map((v) => Buffer.from(v)) } });
const example = (feature: Record<string, object>) => ({ features: { feature } });

/** Hand-made wire bytes: field tags and length-delimited parts. */
function delimited(field: number, body: Uint8Array): Uint8Array {
  return Uint8Array.from([(field << 3) | 2, body.length, ...body]);
}
function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

describe('Classify/Regress examples read straight off the wire', () => {
  it('an MNIST-like example reads as protobufjs reads it, its floats as one Float32Array', () => {
    const pixels = Array.from({ length: 784 }, (_, i) => Math.fround(Math.sin(i) * 1e3) / 7);
    pixels[3] = Infinity;
    pixels[4] = -0;
    const bytes = encodeInput({ example_list: { examples: [example({ x: floats(pixels) })] } });
    const read = readPlainExamples(bytes);
    assert.ok(read);
    assert.ok(read[0]?.x?.values instanceof Float32Array);
    assert.deepEqual(plain(read), plain(viaProtobufjs(bytes)));
  });

  it('several examples with float and bytes features, empty lists and UTF-8 keys read as protobufjs reads them', () => {
    const bytes = encodeInput({
      example_list: {
        examples: [
          example({ a: floats([1.5, -2, 3e-40]), 'ключ ✓': bytesList(['x', '', 'ü']), empty: floats([]) }),
          example({ a: floats([0]), b: bytesList([]) }),
          example({}),
        ],
      },
    });
    const read = readPlainExamples(bytes);
    assert.ok(read);
    assert.equal(read.length, 3);
    assert.deepEqual(plain(read), plain(viaProtobufjs(bytes)));
  });

  it('unpacked floats, unknown fields and a repeated map key read as protobufjs reads them', () => {
    const f32 = (v: number) => new Uint8Array(Float32Array.of(v).buffer);
    // FloatList with two unpacked values (tag 1, wire type 5), and an unknown varint field 7.
    const floatList = concat(Uint8Array.of(0x0d), f32(1.25), Uint8Array.of(0x0d), f32(-3), Uint8Array.of(7 << 3, 5));
    const feature = delimited(2, delimited(2, floatList));
    const entry = (key: string, value: Uint8Array) => delimited(1, concat(delimited(1, Buffer.from(key)), value));
    // Key "k" twice: the last value wins.
    const features = concat(entry('k', delimited(2, delimited(2, new Uint8Array()))), entry('k', feature));
    const exampleBytes = delimited(1, features);
    const input = delimited(1, concat(delimited(1, exampleBytes), Uint8Array.of(9 << 3, 1)));
    const read = readPlainExamples(input);
    assert.ok(read);
    assert.deepEqual(plain(read), [{ k: { kind: 'float_list', values: [1.25, -3] } }]);
    assert.deepEqual(plain(read), plain(viaProtobufjs(input)));
  });

  it('anything else is left to protobufjs: a context, int64 lists, two lists in a feature, no examples, bad bytes', () => {
    const cases: Record<string, Uint8Array> = {
      context: encodeInput({
        example_list_with_context: { examples: [example({ a: floats([1]) })], context: example({ c: floats([2]) }) },
      }),
      int64: encodeInput({ example_list: { examples: [example({ a: { int64_list: { value: [1, 2] } } })] } }),
      'two lists': delimited(
        1,
        delimited(
          1,
          delimited(
            1,
            delimited(
              1,
              concat(
                delimited(1, Buffer.from('a')),
                delimited(2, concat(delimited(2, new Uint8Array()), delimited(1, new Uint8Array()))),
              ),
            ),
          ),
        ),
      ),
      'example_list twice': concat(
        encodeInput({ example_list: { examples: [example({ a: floats([1]) })] } }),
        encodeInput({ example_list: { examples: [example({ b: floats([2]) })] } }),
      ),
      'no examples': encodeInput({ example_list: {} }),
      empty: new Uint8Array(),
      truncated: encodeInput({ example_list: { examples: [example({ a: floats([1, 2, 3]) })] } }).subarray(0, 12),
      'non-UTF-8 key': delimited(
        1,
        delimited(
          1,
          delimited(
            1,
            delimited(1, concat(delimited(1, Uint8Array.of(0xff)), delimited(2, delimited(2, new Uint8Array())))),
          ),
        ),
      ),
    };
    for (const [name, bytes] of Object.entries(cases)) assert.equal(readPlainExamples(bytes), undefined, name);
    // admitExamples still serves them through protobufjs, with its results and errors.
    const context = admitExamples({ input: cases.context }, 10);
    assert.deepEqual(plain(context), [
      { c: { kind: 'float_list', values: [2] }, a: { kind: 'float_list', values: [1] } },
    ]);
    assert.throws(() => admitExamples({ input: cases['no examples'] }, 10), /Input is empty/);
  });

  it('random inputs: whenever the wire path reads one, it reads what protobufjs reads', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let readHere = 0;
    for (let n = 0; n < 200; n++) {
      const examples = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
        const feature: Record<string, object> = {};
        for (let f = 0; f < Math.floor(random() * 4); f++) {
          const values = Array.from({ length: Math.floor(random() * 5) }, () => Math.fround((random() - 0.5) * 100));
          const kind = random();
          feature[`f${f}`] =
            kind < 0.6 ? floats(values) : kind < 0.9 ? bytesList(values.map(String)) : { int64_list: { value: [f] } };
        }
        return example(feature);
      });
      const bytes = encodeInput({ example_list: { examples } });
      const read = readPlainExamples(bytes);
      if (read) {
        readHere++;
        assert.deepEqual(plain(read), plain(viaProtobufjs(bytes)), `input ${n}`);
      }
    }
    assert.ok(readHere > 100, `only ${readHere} of 200 read on the wire path`);
  });

  it('the example count is checked before either path reads', () => {
    const bytes = encodeInput({
      example_list: { examples: [example({ a: floats([1]) }), example({ a: floats([2]) })] },
    });
    assert.throws(
      () => admitExamples({ input: bytes }, 1),
      (err: Error) => err.name === 'InvalidArgument' || err.name === 'ResourceExhausted',
    );
    assert.equal(admitExamples({ input: bytes }, 2).length, 2);
  });
});
