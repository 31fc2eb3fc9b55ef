import { fastProduceRequest, type LongClass, type ProduceRequestBuilder } from './produce-request';
import { fastRecordEncoder, type RecordEncoder } from './record-encoder';

/**
 * Installs the fast, byte-identical encoders of record-encoder.ts (one Kafka record) and
 * produce-request.ts (a whole Produce request) in kafkajs' place. kafkajs loads both modules
 * lazily, when the first produce request is built, so their exports can be replaced in the
 * require cache before that happens. Only for the kafkajs version they were written against
 * (the formats are Kafka's, but the module paths and the Encoder interface are kafkajs
 * internals); with any other version, or if a produce request was built before installation,
 * kafkajs' own encoders stay.
 */

const KAFKAJS_VERSION = '2.2.4';
const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0';
const PRODUCE_REQUEST_MODULE = 'kafkajs/src/protocol/requests/produce/v3/request';
const LONG_MODULE = 'kafkajs/src/utils/long';

let installed: boolean | undefined;
let original: RecordEncoder | undefined;

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals, by path, on purpose */

/** kafkajs' own record encoder (loaded from its module file, whatever is installed). */
export function kafkajsRecordEncoder(): RecordEncoder {
  return original ?? (require(RECORD_MODULE) as RecordEncoder);
}

/** kafkajs' own Produce v3 request builder and its Long class. */
export function kafkajsProduceRequest(): { builder: ProduceRequestBuilder; Long: LongClass } {
  return {
    builder: originalRequest ?? (require(PRODUCE_REQUEST_MODULE) as ProduceRequestBuilder),
    Long: require(LONG_MODULE) as LongClass,
  };
}
let originalRequest: ProduceRequestBuilder | undefined;

/** Replaces a loaded module's exports in the require cache. */
function replaceExports(module: string, exports: unknown): void {
  const loaded = require.cache[require.resolve(module)];
  if (!loaded) throw new Error(`${module} is not loaded`);
  loaded.exports = exports;
}

/**
 * Puts the fast record and Produce request encoders (produce-request.ts) in kafkajs' place,
 * once per process; returns whether they are in use. Call before the first producer sends
 * (createKafka does).
 */
export function installFastRecordEncoder(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    const pkg = require('kafkajs/package.json') as { version: string };
    if (pkg.version !== KAFKAJS_VERSION || require.cache[require.resolve(PRODUCE_REQUEST_MODULE)]) return false;
    original = kafkajsRecordEncoder();
    const request = kafkajsProduceRequest();
    originalRequest = request.builder;
    replaceExports(RECORD_MODULE, fastRecordEncoder(original));
    replaceExports(PRODUCE_REQUEST_MODULE, fastProduceRequest(request.builder, request.Long));
    installed = true;
  } catch {
    // kafkajs laid out differently: its own encoders stay (whatever was replaced is equivalent)
  }
  return installed;
}
