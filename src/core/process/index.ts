export { Processor } from './processor';
export { PROCESS_DEFAULTS, processOptions, type ProcessInput, type ProcessOptions } from './options';
export { totalLag, type ProcessStats } from './stats';
export { LATE_HEADERS } from './batch-transaction';
export {
  SymbolWindows,
  windowStart,
  toCandle,
  type WindowConfig,
  type EmitMode,
  type SymbolSnapshot,
  type WindowAggregate,
} from './windows';
export { decodeRawRecord, tradeId, TRADE_ID_NAMESPACE } from './transform';
export { changelogTopicName } from './state-store';
