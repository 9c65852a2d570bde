/**
 * --grpc_channel_arguments: TF Serving's `k=v,k=v` list of gRPC channel arguments, a value an integer where it parses
 * as one and a string otherwise (model_servers/server.cc). flowserve hands them to the grpc-js Server, which reads
 * only keys in the `grpc.` and `grpc-node.` namespaces: any other key is refused, so a typo cannot pass silently.
 */
import { InvalidArgument } from '../../errors.js';

const KNOWN_NAMESPACES = /^grpc(-node)?\./;

export function parseGrpcChannelArguments(text: string): Record<string, string | number> {
  const options: Record<string, string | number> = {};
  if (text.trim() === '') return options;
  for (const entry of text.split(',')) {
    const equals = entry.indexOf('=');
    const key = equals < 0 ? '' : entry.slice(0, equals).trim();
    const value = equals < 0 ? '' : entry.slice(equals + 1).trim();
    if (key === '') {
      throw new InvalidArgument(`invalid entry in --grpc_channel_arguments: '${entry}' (expected key=value)`);
    }
    if (!KNOWN_NAMESPACES.test(key)) {
      throw new InvalidArgument(
        `invalid key in --grpc_channel_arguments: '${key}' (expected a grpc.* or grpc-node.* channel argument)`,
      );
    }
    options[key] = /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }
  return options;
}
