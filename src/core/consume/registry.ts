import type { SchemaRegistryConfig } from '../config';
import { valueCodecs } from '../serde/registry';
import type { FramedDecoder } from './decode';

/**
 * consume's decoder for framed values, through the same registry reader the stages use:
 * the writer's schema fetched by id (cached), resolved against finpipe's, so records written
 * with an older or newer compatible schema print too. Plain values never reach it (decode.ts
 * reads them as plain Avro), so the reader's plain-after-framed rule does not apply here.
 */
export function registryDecoder(registry: SchemaRegistryConfig): FramedDecoder {
  const { reader } = valueCodecs(registry);
  return async (value, expected) => {
    await reader.prepare([{ value }]);
    return reader.decode(expected, value, 'consume', 0);
  };
}
