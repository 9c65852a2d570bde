/**
 * Typed access to one text-format message: rejects unknown fields and wrong value kinds with errors that name the
 * file, the line, the field and the message type ("models.config: line 3: unknown field 'nam' in ModelConfig").
 */
import type { TextField, TextMessage, TextScalar } from './text-format.js';
import { textFormatError } from './text-format.js';

export class MessageReader {
  constructor(
    private readonly source: TextMessage,
    readonly typeName: string,
    readonly fileName: string,
    knownFields: readonly string[],
  ) {
    for (const field of source.fields) {
      if (!knownFields.includes(field.name)) this.fail(field, `unknown field '${field.name}' in ${typeName}`);
    }
  }

  fail(field: TextField, problem: string): never {
    throw textFormatError(this.fileName, field.line, problem);
  }

  has(name: string): boolean {
    return this.source.fields.some((f) => f.name === name);
  }

  all(name: string): TextField[] {
    return this.source.fields.filter((f) => f.name === name);
  }

  /** The last occurrence of a singular field (protobuf text format: later values win). */
  last(name: string): TextField | undefined {
    const fields = this.all(name);
    return fields[fields.length - 1];
  }

  string(name: string): string | undefined {
    const field = this.last(name);
    if (!field) return undefined;
    return this.scalarString(field, this.unwrap(field));
  }

  int(name: string): number | undefined {
    const field = this.last(name);
    if (!field) return undefined;
    return this.scalarInt(field, this.unwrap(field));
  }

  ints(name: string): number[] {
    return this.all(name).map((f) => this.scalarInt(f, this.unwrap(f)));
  }

  bool(name: string): boolean | undefined {
    const field = this.last(name);
    if (!field) return undefined;
    const value = this.unwrap(field);
    if (value.kind === 'identifier' && (value.value === 'true' || value.value === 'True')) return true;
    if (value.kind === 'identifier' && (value.value === 'false' || value.value === 'False')) return false;
    if (value.kind === 'number' && (value.value === 0 || value.value === 1)) return value.value === 1;
    return this.fail(field, `field '${name}' in ${this.typeName} expects true or false`);
  }

  enumValue(name: string): string | undefined {
    const field = this.last(name);
    if (!field) return undefined;
    const value = this.unwrap(field);
    if (value.kind !== 'identifier') this.fail(field, `field '${name}' in ${this.typeName} expects an enum name`);
    return value.value;
  }

  message(name: string, typeName: string, knownFields: readonly string[]): MessageReader | undefined {
    const field = this.last(name);
    return field ? this.child(field, typeName, knownFields) : undefined;
  }

  messages(name: string, typeName: string, knownFields: readonly string[]): MessageReader[] {
    return this.all(name).map((f) => this.child(f, typeName, knownFields));
  }

  child(field: TextField, typeName: string, knownFields: readonly string[]): MessageReader {
    if (field.value.kind !== 'message') {
      this.fail(field, `field '${field.name}' in ${this.typeName} expects a message ({ … })`);
    }
    return new MessageReader(field.value, typeName, this.fileName, knownFields);
  }

  /** Accepts google.protobuf wrapper messages (`max_batch_size { value: 128 }`) as well as bare values. */
  private unwrap(field: TextField): TextScalar {
    if (field.value.kind !== 'message') return field.value;
    const inner = field.value.fields;
    const only = inner[0];
    if (inner.length === 1 && only && only.name === 'value' && only.value.kind !== 'message') return only.value;
    if (inner.length === 0) return this.fail(field, `field '${field.name}' in ${this.typeName} has an empty wrapper`);
    return this.fail(field, `field '${field.name}' in ${this.typeName} expects a value or { value: … }`);
  }

  private scalarString(field: TextField, value: TextScalar): string {
    if (value.kind !== 'string') this.fail(field, `field '${field.name}' in ${this.typeName} expects a string`);
    return value.value;
  }

  private scalarInt(field: TextField, value: TextScalar): number {
    if (value.kind !== 'number' || !Number.isInteger(value.value)) {
      this.fail(field, `field '${field.name}' in ${this.typeName} expects an integer`);
    }
    // A double holds integers exactly only up to 2^53; past that 9223372036854775807 would read as ...6000.
    if (!Number.isSafeInteger(value.value)) {
      this.fail(field, `field '${field.name}' in ${this.typeName}: ${value.text} is out of range (|n| ≤ 2^53-1)`);
    }
    return value.value;
  }
}
