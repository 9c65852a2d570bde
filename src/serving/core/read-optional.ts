import { readFile } from 'node:fs/promises';

/** A version directory's optional text file: its contents, or undefined when it does not exist. */
export async function readOptionalText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
