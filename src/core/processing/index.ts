export { runProcess, newStats, totalLag, LATE_HEADERS, type ProcessOptions, type ProcessStats } from './processor';
export { SymbolWindows, windowStart, toCandle, type WindowConfig, type EmitMode, type SymbolSnapshot, type WindowAggregate } from './windows';
export { decodeRawRecord, tradeId, TRADE_ID_NAMESPACE } from './transform';
export { changelogTopicName } from './state-store';
