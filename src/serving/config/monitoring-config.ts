/** MonitoringConfig (config/monitoring_config.proto) from --monitoring_config_file. */
import { MessageReader } from './message-reader.js';
import { parseTextFormat } from './text-format.js';

export interface MonitoringConfig {
  prometheus: { enable: boolean; path: string };
}

export const DEFAULT_PROMETHEUS_PATH = '/monitoring/prometheus/metrics';

export function parseMonitoringConfig(text: string, fileName = '<monitoring config>'): MonitoringConfig {
  const root = new MessageReader(parseTextFormat(text, fileName), 'MonitoringConfig', fileName, ['prometheus_config']);
  const prometheus = root.message('prometheus_config', 'PrometheusConfig', ['enable', 'path']);
  return {
    prometheus: {
      enable: prometheus?.bool('enable') ?? false,
      path: prometheus?.string('path') || DEFAULT_PROMETHEUS_PATH,
    },
  };
}
