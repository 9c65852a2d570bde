/** Open Inference Protocol binary bodies for tests: the request framing clients send and the response they read. */

export interface V2Output {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

export interface V2Response {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: V2Output[];
}

/** A binary request body: the JSON header, then each chunk; returns the body and the header's length. */
export function binaryBody(header: unknown, chunks: Uint8Array[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...chunks]), headerLength: json.length };
}

/** Splits a binary response into its JSON header and the bytes after it. */
export async function readBinaryResponse(res: Response): Promise<{ json: V2Response; tail: Buffer }> {
  const bytes = Buffer.from(await res.arrayBuffer());
  const length = Number(res.headers.get('inference-header-content-length'));
  return { json: JSON.parse(bytes.subarray(0, length).toString('utf8')) as V2Response, tail: bytes.subarray(length) };
}
