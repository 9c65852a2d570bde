/**
 * Loads one of the dashboard's browser modules (dashboard/assets/NAME.js, plain JavaScript with JSDoc types) into a
 * node test. Tests run from dist/test/…, so the repository root is three levels above this compiled file; the page's
 * pure modules (no DOM at import time) run in Node unchanged.
 */
import { fileURLToPath } from 'node:url';

export const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/', import.meta.url));

export async function importDashboardModule<T>(name: string): Promise<T> {
  return (await import(new URL(`../../../dashboard/assets/${name}`, import.meta.url).href)) as T;
}
