/**
 * `finpipe produce`: a trade source -> validated Avro messages on the raw topic, invalid
 * input on the dead-letter topic. ProduceStage (stage.ts) runs it; options.ts holds what it
 * can be told and every default.
 */
export { ProduceStage, type ProduceStats, type ProduceSummary } from './stage';
export type { ProduceOptions, SourceSpec } from './options';
export { resolveFinnhubEndpoint, SIMULATOR_TOKEN } from './endpoint';
export { BatchingProducer } from './batching-producer';
export { TradePipeline, WarnLimiter } from './pipeline';
