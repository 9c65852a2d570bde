/**
 * Protobuf text format (`saved_model.pbtxt`, what TF's `text_format.MessageToString` writes) → the same plain
 * object decodeMessage gives for the binary form. Tokenizing and the field tree come from the config parser
 * (serving/config/text-format.ts); this module only types that tree, generically, through protobufjs reflection:
 * fields by name, nested and repeated messages, maps as repeated `{ key: … value: … }` entries, enums by name or
 * number, strings and bytes with C escapes, 64-bit integers exactly (as strings). Every error names the file, the
 * line and the field. Not supported (TF does not write them into SavedModels): extensions and expanded `Any`.
 */
import protobuf from 'protobufjs';
import { InvalidArgument } from '../errors.js';
import { parseTextFormat, textFormatError, type TextField, type TextMessage } from '../serving/config/text-format.js';
import { decodeMessage, importMessageType } from './protos.js';

/**
 * Parses `source` as the text form of `typeName`. `source` must be the file's bytes read as latin1, one char per
 * byte, so that escaped bytes (`\\303`) and literal UTF-8 in strings mean the same bytes.
 */
export function messageFromTextFormat<T>(typeName: string, source: string, fileName: string): T {
  const type = importMessageType(typeName);
  let plain: Plain;
  try {
    plain = new TextToObject(fileName).message(parseTextFormat(source, fileName), type);
  } catch (err) {
    // Parsing recurses per nested message: a hostile file nested thousands deep must fail as a bad file.
    if (err instanceof RangeError) throw new InvalidArgument(`${fileName}: messages nested too deeply`, { cause: err });
    throw err;
  }
  // Through the binary encoding, as messageFromJson does, so every reader sees one shape of message.
  return decodeMessage<T>(typeName, type.encode(type.fromObject(plain)).finish());
}

type Plain = Record<string, unknown>;

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

class TextToObject {
  constructor(private readonly fileName: string) {}

  private fail(field: TextField, problem: string): never {
    throw textFormatError(this.fileName, field.line, problem);
  }

  message(text: TextMessage, type: protobuf.Type): Plain {
    const out: Plain = {};
    for (const field of text.fields) {
      const def = type.fields[field.name];
      if (!def) this.fail(field, `unknown field '${field.name}' in ${type.fullName.slice(1)}`);
      def.resolve();
      if (def instanceof protobuf.MapField) {
        const entries = (out[def.name] ??= {}) as Plain;
        const [key, value] = this.mapEntry(field, def, type);
        entries[key] = value;
      } else if (def.repeated) {
        ((out[def.name] ??= []) as unknown[]).push(this.value(field, def, type));
      } else {
        // TF's parser refuses a singular field given twice rather than silently keeping one of them.
        if (def.name in out) this.fail(field, `field '${field.name}' in ${type.fullName.slice(1)} is given twice`);
        out[def.name] = this.value(field, def, type);
      }
    }
    return out;
  }

  private mapEntry(field: TextField, def: protobuf.MapField, owner: protobuf.Type): [string, unknown] {
    const where = `map field '${field.name}' in ${owner.fullName.slice(1)}`;
    if (field.value.kind !== 'message') this.fail(field, `${where} expects entries { key: … value: … }`);
    let key: unknown;
    let value: unknown;
    for (const part of field.value.fields) {
      if (part.name === 'key' && key === undefined) key = this.scalar(part, def.keyType, where);
      else if (part.name === 'value' && value === undefined)
        value = this.typed(part, def.type, def.resolvedType, where);
      else this.fail(part, `${where}: unexpected '${part.name}' in an entry (only one key and one value)`);
    }
    if (key === undefined) this.fail(field, `${where}: entry without a key`);
    // A missing value is the value type's default, as in the binary form.
    return [String(key), value ?? (def.resolvedType instanceof protobuf.Type ? {} : undefined)];
  }

  private value(field: TextField, def: protobuf.Field, owner: protobuf.Type): unknown {
    return this.typed(field, def.type, def.resolvedType, `field '${field.name}' in ${owner.fullName.slice(1)}`);
  }

  private typed(
    field: TextField,
    typeName: string,
    resolved: protobuf.Type | protobuf.Enum | null,
    where: string,
  ): unknown {
    if (resolved instanceof protobuf.Type) {
      if (field.value.kind !== 'message') this.fail(field, `${where} expects a message ({ … })`);
      return this.message(field.value, resolved);
    }
    if (resolved instanceof protobuf.Enum) return this.enumValue(field, resolved, where);
    return this.scalar(field, typeName, where);
  }

  private enumValue(field: TextField, type: protobuf.Enum, where: string): string | number {
    const v = field.value;
    if (v.kind === 'identifier' && v.value in type.values) return v.value;
    if (v.kind === 'number' && Number.isInteger(v.value) && Object.values(type.values).includes(v.value)) {
      return v.value;
    }
    const text = v.kind === 'message' ? '{ … }' : v.kind === 'number' ? v.text : v.value;
    return this.fail(field, `${where} expects a ${type.name} name, found '${text}'`);
  }

  private scalar(field: TextField, typeName: string, where: string): unknown {
    const v = field.value;
    if (v.kind === 'message') return this.fail(field, `${where} expects a ${typeName}, found a message`);
    switch (typeName) {
      case 'string':
        return this.text(field, this.bytes(field, where), where);
      case 'bytes':
        return this.bytes(field, where);
      case 'bool':
        if (v.kind === 'identifier' && ['true', 'True', 't'].includes(v.value)) return true;
        if (v.kind === 'identifier' && ['false', 'False', 'f'].includes(v.value)) return false;
        if (v.kind === 'number' && (v.text === '0' || v.text === '1')) return v.text === '1';
        return this.fail(field, `${where} expects true or false`);
      case 'float':
      case 'double':
        if (v.kind === 'number') return v.value;
        if (v.kind === 'identifier' && /^-?(inf|infinity|nan)$/i.test(v.value)) {
          return /nan/i.test(v.value) ? NaN : v.value.startsWith('-') ? -Infinity : Infinity;
        }
        return this.fail(field, `${where} expects a number`);
      default: {
        const range = INT_RANGES[typeName];
        if (!range) return this.fail(field, `${where}: unsupported type ${typeName}`);
        const n = v.kind === 'number' ? parseInteger(v.text) : undefined;
        if (n === undefined) return this.fail(field, `${where} expects an integer (${typeName})`);
        if (n < range[0] || n > range[1]) this.fail(field, `${where}: ${n} is out of range for ${typeName}`);
        // 64-bit values stay strings (exact), as decodeMessage gives them.
        return typeName.endsWith('64') ? n.toString() : Number(n);
      }
    }
  }

  private bytes(field: TextField, where: string): Buffer {
    const v = field.value;
    if (v.kind !== 'string') return this.fail(field, `${where} expects a quoted string`);
    // Octal escapes reach \777; a byte stops at \377.
    if (/[\u0100-\uffff]/.test(v.value)) this.fail(field, `${where}: an escape is out of the byte range`);
    return Buffer.from(v.value, 'latin1');
  }

  private text(field: TextField, bytes: Buffer, where: string): string {
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail(field, `${where}: a string field must be valid UTF-8 (use a bytes field for binary data)`);
    }
  }
}

/** Text format's integer literals: decimal, 0x hex, 0-prefixed octal, with a sign; anything else → undefined. */
function parseInteger(text: string): bigint | undefined {
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const body = m[2] as string;
  const magnitude = /^0[xX]/.test(body)
    ? BigInt(body)
    : body.length > 1 && body.startsWith('0')
      ? BigInt('0o' + body.slice(1))
      : BigInt(body);
  return m[1] === '-' ? -magnitude : magnitude;
}
