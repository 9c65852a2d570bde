/**
 * The TensorFlow model formats flowserve imports, as one table: how each is recognised (by the files of a
 * directory, or by a file's name) and how it is read into an ImportedModel. The server's version directories
 * (src/serving/core/model-source.ts) and the `inspect`/`convert` commands both detect formats through it, so a new
 * format is one more entry.
 *
 * Paths the CLI accepts: a model directory (a version directory), a base path whose numeric subdirectories are
 * versions (the highest is read, as TF Serving's default policy serves the latest), or a file: `saved_model.pb`
 * or `export.meta` (their directory is read), a TF.js `model.json`, or any other `.pb`, read as a
 * frozen GraphDef.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { NotFound } from '../errors.js';
import { readFrozenGraph, type FrozenGraphOptions } from './frozen-graph.js';
import type { ImportedModel, ModelFormat } from './imported-model.js';
import { DEFAULT_TAGS, readSavedModel, SAVED_MODEL_PB, SAVED_MODEL_PBTXT } from './saved-model.js';
import { readSessionBundle, SESSION_BUNDLE_META } from './session-bundle.js';
import { readTfjsGraphModel, TFJS_MODEL_JSON } from './tfjs-graph-model.js';

export interface ReadModelOptions extends FrozenGraphOptions {
  /** The MetaGraphDef tag set of a SavedModel (default `serve`). */
  tags?: readonly string[];
}

export interface ModelFormatEntry {
  format: ModelFormat;
  /** What the format is, for messages and `inspect`. */
  description: string;
  /** The files that mark a directory as this format (any one of them); empty = not a directory format. */
  directoryFiles: readonly string[];
  /** Whether a single file (not a directory) is this format, by its name. */
  matchesFile(fileName: string): boolean;
  /** Reads the model at a directory (directory formats) or file. */
  read(path: string, options: ReadModelOptions): Promise<ImportedModel>;
}

export const MODEL_FORMATS: readonly ModelFormatEntry[] = [
  {
    format: 'saved_model',
    description: `TensorFlow SavedModel (${SAVED_MODEL_PB} or ${SAVED_MODEL_PBTXT})`,
    directoryFiles: [SAVED_MODEL_PB, SAVED_MODEL_PBTXT],
    matchesFile: (name) => name === SAVED_MODEL_PB || name === SAVED_MODEL_PBTXT,
    read: (dir, options) => readSavedModel(dir, options.tags ?? DEFAULT_TAGS),
  },
  {
    format: 'session_bundle',
    description: `legacy TF Serving SessionBundle (${SESSION_BUNDLE_META} + export-?????-of-?????)`,
    directoryFiles: [SESSION_BUNDLE_META],
    matchesFile: (name) => name === SESSION_BUNDLE_META,
    read: (dir) => readSessionBundle(dir),
  },
  {
    format: 'tfjs_graph_model',
    description: `TF.js graph model (${TFJS_MODEL_JSON})`,
    directoryFiles: [TFJS_MODEL_JSON],
    matchesFile: (name) => name === TFJS_MODEL_JSON,
    read: (path) => readTfjsGraphModel(path),
  },
  {
    format: 'frozen_graph',
    description: 'frozen TensorFlow GraphDef (.pb)',
    directoryFiles: [],
    matchesFile: (name) => name.endsWith('.pb'),
    read: (file, options) => readFrozenGraph(file, options),
  },
];

async function kindOf(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

/** The directory format whose marker files `dir` holds, or undefined. */
export async function detectDirectoryFormat(dir: string): Promise<ModelFormatEntry | undefined> {
  let files: Set<string>;
  try {
    files = new Set(await readdir(dir));
  } catch {
    return undefined;
  }
  return MODEL_FORMATS.find((f) => f.directoryFiles.some((name) => files.has(name)));
}

/** Resolves what `path` names (see the header) to a format and the path its reader takes. */
export async function locateModel(path: string): Promise<{ entry: ModelFormatEntry; path: string }> {
  const kind = await kindOf(path);
  if (kind === 'file') {
    const name = basename(path);
    const entry = MODEL_FORMATS.find((f) => f.matchesFile(name));
    if (entry) return { entry, path: entry.directoryFiles.length > 0 ? dirname(path) : path };
  } else if (kind === 'dir') {
    const entry = await detectDirectoryFormat(path);
    if (entry) return { entry, path };
    const versions = (await readdir(path)).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const versionDir = join(path, version);
      const found = await detectDirectoryFormat(versionDir);
      if (found) return { entry: found, path: versionDir };
    }
  } else {
    throw new NotFound(`${path}: no such file or directory`);
  }
  throw new NotFound(
    `${path}: not a TensorFlow model flowserve can read; expected one of: ` +
      MODEL_FORMATS.map((f) => f.description).join(', ') +
      ' (or a base path whose numbered version directories hold one)',
  );
}

export async function readTfModel(path: string, options: ReadModelOptions = {}): Promise<ImportedModel> {
  const located = await locateModel(path);
  return located.entry.read(located.path, options);
}
