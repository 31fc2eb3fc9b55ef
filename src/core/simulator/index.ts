/**
 * Finnhub-compatible simulator: a websocket + REST server speaking the protocol in
 * docs/finnhub-protocol.md, and the deterministic trade generator behind it.
 */
export type { SimulatorFaults, SimulatorOptions, SimulatorStats, RunningSimulator } from './types';
export { SimulatorStage } from './stage';
export type { FinnhubTrade } from './generator';
export { createTradeGenerator } from './generator';
export { startSimulator } from './server';
export { DEFAULT_SIMULATED_SYMBOLS } from './catalog';
export { MALFORMED_KINDS } from './malformed';
export { TOO_MANY_SYMBOLS, MAX_TRADES_PER_FRAME } from './connection';
export { measureThroughput, measureSimulatorThroughput } from './measure';
export type { ThroughputOptions, ThroughputResult } from './measure';
