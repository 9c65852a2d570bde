/**
 * A real viewer of the dashboard for `bench:serve --only dashboard`: Debian's chromium, headless, with the page open
 * on the live-load view (its Server-Sent Events stream subscribed, charts redrawn every second, the model list
 * polled), so the server does all the work an open dashboard costs it. The browser shares this machine's cores with
 * the server, so its own CPU time is measured too (all of chromium's processes, from /proc) and printed beside the
 * result: a reader can tell the server's cost from the browser's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/helpers/chromium.js';

export { CHROMIUM };

export interface DashboardViewer {
  /** CPU seconds (user + system) chromium's processes have used since the page was ready. */
  cpuSeconds(): number;
  /** Closes the tab (its stream with it); the browser stays up for the next one. */
  close(): Promise<void>;
}

export interface DashboardBrowser {
  /** Opens `url` (the dashboard's live view) in a new tab and resolves once its stream delivers events. */
  open(url: string): Promise<DashboardViewer>;
  close(): Promise<void>;
}

/**
 * One headless chromium for the whole benchmark: each measured round opens a tab and closes it after, so the browser's
 * own start-up never falls inside a measured window, and between rounds it sits idle with no page.
 */
export async function startDashboardBrowser(): Promise<DashboardBrowser> {
  // launch() starts from a fresh temporary profile and removes it on close.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  return {
    async open(url) {
      const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
      try {
        await page.goto(url);
        await page.waitForFunction(
          () => /Server-Sent Events/.test(document.getElementById('live-mode')?.textContent ?? ''),
          undefined,
          { timeout: 20_000 },
        );
      } catch (error) {
        await page.close();
        throw error;
      }
      // Only this browser's processes are chromium processes below this one.
      const startCpu = chromiumCpuSeconds();
      return { cpuSeconds: () => chromiumCpuSeconds() - startCpu, close: () => page.close() };
    },
    close: () => browser.close(),
  };
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * utime + stime of the chromium processes started by this process (the browser, and its renderer, GPU and utility
 * processes below it), from /proc; the load generators, also children of this process, are not counted.
 */
function chromiumCpuSeconds(): number {
  if (!existsSync('/proc/self/stat')) return 0;
  const stats = new Map<number, { parent: number; chromium: boolean; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // The fields after the command name in parentheses (which may hold spaces): ppid is field 4, utime and
      // stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), {
        parent: Number(fields[1]),
        chromium: command.startsWith('chrom'),
        ticks: Number(fields[11]) + Number(fields[12]),
      });
    } catch {
      // The process ended while we read it.
    }
  }
  /** Whether `pid` is chromium or below it, and below this process. */
  const counted = (pid: number): boolean => {
    let chromium = false;
    for (let current = pid, hops = 0; current > 1 && hops < 64; hops++) {
      if (current === process.pid) return chromium;
      const info = stats.get(current);
      if (!info) return false;
      chromium ||= info.chromium;
      current = info.parent;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, info] of stats) if (counted(pid)) ticks += info.ticks;
  return ticks / CLOCK_TICKS_PER_SECOND;
}
