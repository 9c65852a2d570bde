import type { Command } from 'commander';
import { discoverDevices, type Device } from '../devices/device.js';
import { gpuProbeResult, initDevices } from '../devices/webgpu.js';
import { InvalidArgument } from '../errors.js';
import { deviceMappingLines } from '../placement/log.js';
import { acceptBothFlagStyles } from './flag-style.js';

/** Parses `GPU=0,CPU=2` (ConfigProto.device_count). */
export function parseDeviceCount(text: string | undefined): Record<string, number> | undefined {
  if (!text) return undefined;
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m) throw new InvalidArgument(`--device_count expects TYPE=N[,TYPE=N], got '${part}'`);
    out[(m[1] as string).toUpperCase()] = Number(m[2]);
  }
  return out;
}

/** The lines `flowserve devices` prints: every device, its details, the GPU probe's verdict and the mapping block. */
export function deviceListing(devices: readonly Device[]): string[] {
  const lines: string[] = [];
  for (const d of devices) {
    lines.push(`${d.name}`);
    lines.push(`    type: ${d.type}, priority: ${d.priority}, execution providers: ${d.executionProviders.join(', ')}`);
    lines.push(`    ${d.details}`);
    if (d.description) lines.push(`    physical_device_desc: ${d.description}`);
  }
  const probe = gpuProbeResult();
  if (!devices.some((d) => d.type === 'GPU')) {
    lines.push(`GPU: none${probe ? ` (${probe.reason})` : ''}`);
  } else if (probe) {
    lines.push(`GPU: ${probe.reason}`);
  }
  lines.push('', ...deviceMappingLines(devices));
  return lines;
}

/** Registers `flowserve devices [--json] [--device_count GPU=0]`. */
export function registerDevicesCommand(program: Command): Command {
  const command = program
    .command('devices')
    .description('list the devices ops can be placed on (CPU, and GPU when a WebGPU adapter is found)')
    .option('--json', 'print the devices as JSON')
    .option('--device_count <counts>', 'devices per type, as ConfigProto.device_count: GPU=0,CPU=2')
    .action(async (opts: { json?: boolean; device_count?: string }) => {
      await initDevices();
      const devices = discoverDevices({ deviceCount: parseDeviceCount(opts.device_count) });
      if (opts.json) {
        console.log(JSON.stringify({ devices, gpuProbe: gpuProbeResult() ?? null }, null, 2));
        return;
      }
      for (const line of deviceListing(devices)) console.log(line);
    });
  return acceptBothFlagStyles(command);
}
