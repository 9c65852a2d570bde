/**
 * A small parser for protobuf text format (what TensorFlow Serving's --model_config_file, --batching_parameters_file
 * and --monitoring_config_file hold). It produces an untyped tree that keeps every field's line number, so the typed
 * readers (model-server-config.ts, batching-parameters.ts, monitoring-config.ts) can name the line of a bad field.
 *
 * Supported: `name: value`, `name { … }`, `name: { … }`, `name < … >`, repeated fields by repetition or as a list
 * `name: [1, 2]`, separators `,` / `;`, `#` comments, double- or single-quoted strings with C escapes (adjacent
 * strings concatenate), decimal / hex / float numbers, identifiers (enums, true/false, inf/nan).
 * Not supported (not used by these configs): extension names `[pkg.ext]`, Any expansion.
 */
import { InvalidArgument } from '../../errors.js';

export type TextScalar =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number; text: string }
  | { kind: 'identifier'; value: string };

export interface TextField {
  name: string;
  line: number;
  value: TextScalar | TextMessage;
}

export interface TextMessage {
  kind: 'message';
  fields: TextField[];
}

type Token =
  | { type: 'identifier'; text: string; line: number }
  | { type: 'string'; text: string; line: number }
  | { type: 'number'; text: string; line: number }
  | { type: 'symbol'; text: string; line: number }
  | { type: 'eof'; text: ''; line: number };

/** Parses text-format `source`; `fileName` only prefixes error messages. */
export function parseTextFormat(source: string, fileName = '<text>'): TextMessage {
  const parser = new Parser(tokenize(source, fileName), fileName);
  return parser.parseMessageBody(null);
}

/** Builds the error every text-format reader throws: "<file>: line N: <problem>". */
export function textFormatError(fileName: string, line: number, problem: string): InvalidArgument {
  return new InvalidArgument(`${fileName}: line ${line}: ${problem}`);
}

const ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '?': '?',
};

function tokenize(source: string, fileName: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const start = line;
      let text = '';
      i++;
      while (source[i] !== c) {
        if (i >= source.length || source[i] === '\n') {
          throw textFormatError(fileName, start, 'unterminated string');
        }
        if (source[i] === '\\') {
          const e = source[i + 1] ?? '';
          if (e in ESCAPES) {
            text += ESCAPES[e];
            i += 2;
          } else if (e === 'x') {
            const hex = /^[0-9a-fA-F]{1,2}/.exec(source.slice(i + 2))?.[0];
            if (!hex) throw textFormatError(fileName, line, 'bad \\x escape in string');
            text += String.fromCharCode(parseInt(hex, 16));
            i += 2 + hex.length;
          } else if (/[0-7]/.test(e)) {
            const oct = /^[0-7]{1,3}/.exec(source.slice(i + 1))?.[0] as string;
            text += String.fromCharCode(parseInt(oct, 8));
            i += 1 + oct.length;
          } else {
            throw textFormatError(fileName, line, `unknown escape '\\${e}' in string`);
          }
        } else {
          text += source[i];
          i++;
        }
      }
      i++;
      tokens.push({ type: 'string', text, line: start });
    } else if (/[-+0-9.]/.test(c)) {
      const m = /^[-+]?(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?[fF]?|inf|infinity|nan)/i.exec(
        source.slice(i),
      );
      if (!m) throw textFormatError(fileName, line, `unexpected character '${c}'`);
      tokens.push({ type: 'number', text: m[0], line });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(source.slice(i)) as RegExpExecArray;
      tokens.push({ type: 'identifier', text: m[0], line });
      i += m[0].length;
    } else if ('{}<>:,;[]'.includes(c)) {
      tokens.push({ type: 'symbol', text: c, line });
      i++;
    } else {
      throw textFormatError(fileName, line, `unexpected character '${c}'`);
    }
  }
  tokens.push({ type: 'eof', text: '', line });
  return tokens;
}

function parseNumber(text: string): number {
  const t = text.toLowerCase();
  const sign = t.startsWith('-') ? -1 : 1;
  const body = t.replace(/^[-+]/, '');
  if (body === 'inf' || body === 'infinity') return sign * Infinity;
  if (body === 'nan') return NaN;
  if (body.startsWith('0x')) return sign * parseInt(body.slice(2), 16);
  // A float may carry C's 'f' suffix (1.5f).
  return sign * Number(body.replace(/f$/, ''));
}

class Parser {
  private pos = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly fileName: string,
  ) {}

  private peek(): Token {
    return this.tokens[this.pos] as Token;
  }

  private next(): Token {
    return this.tokens[this.pos++] as Token;
  }

  private isSymbol(text: string): boolean {
    const t = this.peek();
    return t.type === 'symbol' && t.text === text;
  }

  private fail(token: Token, problem: string): never {
    throw textFormatError(this.fileName, token.line, problem);
  }

  /** Reads fields until `close` (or end of input when `close` is null). */
  parseMessageBody(close: string | null): TextMessage {
    const fields: TextField[] = [];
    for (;;) {
      const t = this.peek();
      if (t.type === 'eof') {
        if (close !== null) this.fail(t, `expected '${close}' before end of input`);
        return { kind: 'message', fields };
      }
      if (close !== null && t.type === 'symbol' && t.text === close) {
        this.next();
        return { kind: 'message', fields };
      }
      this.parseField(fields);
      if (this.isSymbol(',') || this.isSymbol(';')) this.next();
    }
  }

  private parseField(into: TextField[]): void {
    const nameToken = this.next();
    if (nameToken.type !== 'identifier') {
      this.fail(nameToken, `expected a field name, found '${nameToken.text || 'end of input'}'`);
    }
    const name = nameToken.text;
    const line = nameToken.line;
    const hasColon = this.isSymbol(':');
    if (hasColon) this.next();
    if (this.isSymbol('{') || this.isSymbol('<')) {
      into.push({ name, line, value: this.parseMessageValue() });
      return;
    }
    if (!hasColon) this.fail(this.peek(), `expected ':' or '{' after field name '${name}'`);
    if (this.isSymbol('[')) {
      this.next();
      while (!this.isSymbol(']')) {
        const value = this.isSymbol('{') || this.isSymbol('<') ? this.parseMessageValue() : this.parseScalar();
        into.push({ name, line, value });
        if (this.isSymbol(',')) this.next();
        else if (!this.isSymbol(']')) this.fail(this.peek(), `expected ',' or ']' in list for field '${name}'`);
      }
      this.next();
      return;
    }
    into.push({ name, line, value: this.parseScalar() });
  }

  private parseMessageValue(): TextMessage {
    const open = this.next();
    return this.parseMessageBody(open.text === '{' ? '}' : '>');
  }

  private parseScalar(): TextScalar {
    const t = this.next();
    switch (t.type) {
      case 'string': {
        let value = t.text;
        while (this.peek().type === 'string') value += this.next().text;
        return { kind: 'string', value };
      }
      case 'number':
        return { kind: 'number', value: parseNumber(t.text), text: t.text };
      case 'identifier':
        return { kind: 'identifier', value: t.text };
      default:
        return this.fail(t, `expected a value, found '${t.text || 'end of input'}'`);
    }
  }
}
