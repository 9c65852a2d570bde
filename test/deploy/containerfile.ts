/**
 * A reader of the Containerfile for the deploy tests: the Dockerfile syntax's logical lines (comments and parser
 * directives dropped, backslash continuations joined), instructions grouped into stages, `ARG` defaults substituted
 * into `FROM`, and the exec (JSON) and shell forms of ENTRYPOINT / CMD told apart. Only what the tests read; anything
 * it does not understand is an error rather than a guess.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from './paths.js';

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** The rest of the logical line, continuations joined with a space. */
  text: string;
  /** 1-based line where the instruction starts. */
  line: number;
}

export interface Stage {
  /** The base image after ARG substitution (`node:20-bookworm-slim`), or an earlier stage's name. */
  base: string;
  name?: string;
  instructions: Instruction[];
}

export interface Containerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export const CONTAINERFILE_PATH = join(REPOSITORY_ROOT, 'Containerfile');

/**
 * The logical lines of a Dockerfile: comments gone, `\` continuations joined (comment and empty lines inside them
 * skipped, as Docker skips them).
 */
export function logicalLines(text: string): Instruction[] {
  const result: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || trimmed === '') return;
    const continues = trimmed.endsWith('\\');
    const part = continues ? trimmed.slice(0, -1).trim() : trimmed;
    pending ??= { parts: [], line: index + 1 };
    if (part !== '') pending.parts.push(part);
    if (continues) return;
    const joined = pending.parts.join(' ');
    const match = /^([A-Za-z]+)\s+(.*)$/s.exec(joined);
    if (!match) throw new Error(`Containerfile line ${pending.line}: no instruction in '${joined}'`);
    result.push({ keyword: (match[1] as string).toUpperCase(), text: (match[2] as string).trim(), line: pending.line });
    pending = undefined;
  });
  if (pending) throw new Error(`Containerfile line ${pending.line}: a continuation runs past the end of the file`);
  return result;
}

/** `${NAME}` and `$NAME` replaced by `values` (an unknown name is an error, not an empty string). */
function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_all, braced, bare) => {
    const name = (braced ?? bare) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`Containerfile: \${${name}} has no value`);
    return value;
  });
}

export function parseContainerfile(text: string): Containerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of logicalLines(text)) {
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.text);
      if (!match) throw new Error(`Containerfile line ${instruction.line}: cannot read FROM ${instruction.text}`);
      const name = match[2];
      stages.push({ base: substitute(match[1] as string, globalArgs), ...(name ? { name } : {}), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage) {
      stage.instructions.push(instruction);
    } else if (instruction.keyword === 'ARG') {
      const [name, value = ''] = instruction.text.split('=', 2) as [string, string?];
      globalArgs[name.trim()] = value.trim();
    } else {
      throw new Error(`Containerfile line ${instruction.line}: ${instruction.keyword} before the first FROM`);
    }
  }
  return { globalArgs, stages };
}

export function readContainerfile(): Containerfile {
  return parseContainerfile(readFileSync(CONTAINERFILE_PATH, 'utf8'));
}

/** ENTRYPOINT / CMD in exec form (a JSON array of strings); the shell form is refused (it would run under sh -c). */
export function execForm(instruction: Instruction): string[] {
  let value: unknown;
  try {
    value = JSON.parse(instruction.text);
  } catch {
    throw new Error(`Containerfile line ${instruction.line}: ${instruction.keyword} is not in exec (JSON) form`);
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new Error(`Containerfile line ${instruction.line}: ${instruction.keyword} is not a JSON array of strings`);
  }
  return value as string[];
}

/** The last instruction of `keyword` in `stage` (the one in force), or undefined. */
export function lastOf(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).at(-1);
}

/** ENV's `K=V K2=V2` form (and the legacy `ENV K V`), values unquoted. */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    if (!instruction.text.includes('=')) {
      const [name, ...rest] = instruction.text.split(/\s+/);
      env[name as string] = rest.join(' ');
      continue;
    }
    for (const pair of instruction.text.match(/[A-Za-z_][A-Za-z0-9_]*=("[^"]*"|\S*)/g) ?? []) {
      const at = pair.indexOf('=');
      env[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"(.*)"$/, '$1');
    }
  }
  return env;
}

/** The shell commands of a RUN, split at `&&`, `;` and `||`, each as words. */
export function runCommands(instruction: Instruction): string[][] {
  return instruction.text
    .split(/&&|\|\||;/)
    .map((command) => command.trim().split(/\s+/))
    .filter((words) => words.length > 0 && words[0] !== '');
}

/** Symbolic links a stage's RUN lines make (`ln -s TARGET LINK`): LINK → TARGET. */
export function symlinksOf(stage: Stage): Map<string, string> {
  const links = new Map<string, string>();
  for (const instruction of stage.instructions.filter((i) => i.keyword === 'RUN')) {
    for (const words of runCommands(instruction)) {
      if (words[0] !== 'ln') continue;
      const operands = words.slice(1).filter((word) => !word.startsWith('-'));
      if (!words.slice(1).some((word) => /^-[a-z]*s/.test(word)) || operands.length !== 2) {
        throw new Error(`Containerfile line ${instruction.line}: expected 'ln -s TARGET LINK', got ${words.join(' ')}`);
      }
      links.set(operands[1] as string, operands[0] as string);
    }
  }
  return links;
}
