/**
 * What the simulator knows about its symbols: REST metadata (description, displaySymbol,
 * type) and the parameters of each symbol's price/volume model. Symbols outside the table
 * still work; their profile is derived from the name (see profileFor).
 */

export type AssetClass = 'crypto' | 'stock' | 'forex';

export interface SymbolInfo {
  symbol: string;
  displaySymbol: string;
  description: string;
  assetClass: AssetClass;
  /** The REST `exchange=` value that lists it: BINANCE, COINBASE, US, OANDA, IC MARKETS... */
  exchange: string;
  /** Finnhub /search `type`. */
  type: string;
  startPrice: number;
}

export interface SymbolProfile extends SymbolInfo {
  priceDecimals: number;
  volumeDecimals: number;
  /** Median volume of a non-zero trade. */
  volumeMedian: number;
  /** Std-dev of the log-price step per trade. */
  sigma: number;
}

const crypto = (exchange: string, base: string, quote: string, price: number, sep = ''): SymbolInfo => ({
  symbol: `${exchange}:${base}${sep}${quote}`,
  displaySymbol: `${base}/${quote}`,
  description: `${exchange.charAt(0)}${exchange.slice(1).toLowerCase()} ${base}${sep}${quote}`,
  assetClass: 'crypto',
  exchange,
  type: 'Crypto',
  startPrice: price,
});

const stock = (symbol: string, description: string, price: number, type = 'Common Stock'): SymbolInfo => ({
  symbol,
  displaySymbol: symbol,
  description,
  assetClass: 'stock',
  exchange: 'US',
  type,
  startPrice: price,
});

const oanda = (base: string, quote: string, price: number): SymbolInfo => ({
  symbol: `OANDA:${base}_${quote}`,
  displaySymbol: `${base}/${quote}`,
  description: `Oanda ${base}/${quote}`,
  assetClass: 'forex',
  exchange: 'OANDA',
  type: 'Forex',
  startPrice: price,
});

// Finnhub numbers IC MARKETS instruments instead of naming them ("IC MARKETS:1").
const icMarkets = (n: number, base: string, quote: string, price: number): SymbolInfo => ({
  symbol: `IC MARKETS:${n}`,
  displaySymbol: `${base}/${quote}`,
  description: `IC Markets ${base}/${quote}`,
  assetClass: 'forex',
  exchange: 'IC MARKETS',
  type: 'Forex',
  startPrice: price,
});

const fxcm = (base: string, quote: string, price: number): SymbolInfo => ({
  symbol: `FXCM:${base}/${quote}`,
  displaySymbol: `${base}/${quote}`,
  description: `FXCM ${base}/${quote}`,
  assetClass: 'forex',
  exchange: 'FXCM',
  type: 'Forex',
  startPrice: price,
});

const CATALOG_LIST: SymbolInfo[] = [
  crypto('BINANCE', 'BTC', 'USDT', 60000),
  crypto('BINANCE', 'ETH', 'USDT', 3000),
  crypto('BINANCE', 'BNB', 'USDT', 560),
  crypto('BINANCE', 'SOL', 'USDT', 150),
  crypto('BINANCE', 'XRP', 'USDT', 0.55),
  crypto('BINANCE', 'ADA', 'USDT', 0.45),
  crypto('BINANCE', 'DOGE', 'USDT', 0.12),
  crypto('BINANCE', 'AVAX', 'USDT', 30),
  crypto('BINANCE', 'DOT', 'USDT', 6.5),
  crypto('BINANCE', 'LINK', 'USDT', 14),
  crypto('BINANCE', 'MATIC', 'USDT', 0.7),
  crypto('BINANCE', 'LTC', 'USDT', 80),
  crypto('BINANCE', 'TRX', 'USDT', 0.12),
  crypto('BINANCE', 'SHIB', 'USDT', 0.000018),
  crypto('BINANCE', 'UNI', 'USDT', 8),
  crypto('BINANCE', 'ATOM', 'USDT', 8),
  crypto('BINANCE', 'ETC', 'USDT', 25),
  crypto('BINANCE', 'XLM', 'USDT', 0.1),
  crypto('BINANCE', 'NEAR', 'USDT', 5),
  crypto('BINANCE', 'APT', 'USDT', 8),
  crypto('BINANCE', 'ARB', 'USDT', 1),
  crypto('BINANCE', 'OP', 'USDT', 2),
  crypto('BINANCE', 'FIL', 'USDT', 5),
  crypto('BINANCE', 'ETH', 'BTC', 0.05),
  crypto('BINANCE', 'BTC', 'EUR', 55000),
  crypto('COINBASE', 'BTC', 'USD', 60000, '-'),
  crypto('COINBASE', 'ETH', 'USD', 3000, '-'),
  stock('AAPL', 'APPLE INC', 190),
  stock('MSFT', 'MICROSOFT CORP', 420),
  stock('AMZN', 'AMAZON.COM INC', 180),
  stock('GOOGL', 'ALPHABET INC-CL A', 170),
  stock('META', 'META PLATFORMS INC-CLASS A', 500),
  stock('NVDA', 'NVIDIA CORP', 120),
  stock('TSLA', 'TESLA INC', 240),
  stock('NFLX', 'NETFLIX INC', 650),
  stock('AMD', 'ADVANCED MICRO DEVICES', 150),
  stock('INTC', 'INTEL CORP', 30),
  stock('ORCL', 'ORACLE CORP', 140),
  stock('IBM', 'INTL BUSINESS MACHINES CORP', 180),
  stock('JPM', 'JPMORGAN CHASE & CO', 200),
  stock('V', 'VISA INC-CLASS A SHARES', 270),
  stock('MA', 'MASTERCARD INC - A', 460),
  stock('DIS', 'WALT DISNEY CO/THE', 100),
  stock('KO', 'COCA-COLA CO/THE', 62),
  stock('PEP', 'PEPSICO INC', 170),
  stock('WMT', 'WALMART INC', 70),
  stock('XOM', 'EXXON MOBIL CORP', 115),
  stock('BA', 'BOEING CO/THE', 180),
  stock('NKE', 'NIKE INC -CL B', 90),
  stock('CSCO', 'CISCO SYSTEMS INC', 50),
  stock('ADBE', 'ADOBE INC', 520),
  stock('CRM', 'SALESFORCE INC', 260),
  stock('PYPL', 'PAYPAL HOLDINGS INC', 65),
  stock('UBER', 'UBER TECHNOLOGIES INC', 70),
  stock('SPY', 'SPDR S&P 500 ETF TRUST', 550, 'ETP'),
  stock('QQQ', 'INVESCO QQQ TRUST SERIES 1', 470, 'ETP'),
  oanda('EUR', 'USD', 1.08),
  oanda('GBP', 'USD', 1.27),
  oanda('USD', 'JPY', 150),
  oanda('AUD', 'USD', 0.66),
  oanda('USD', 'CHF', 0.88),
  oanda('USD', 'CAD', 1.36),
  oanda('NZD', 'USD', 0.61),
  oanda('EUR', 'GBP', 0.85),
  oanda('XAU', 'USD', 2350),
  icMarkets(1, 'EUR', 'USD', 1.08),
  icMarkets(2, 'GBP', 'USD', 1.27),
  fxcm('EUR', 'USD', 1.08),
];

const CATALOG = new Map<string, SymbolInfo>(CATALOG_LIST.map((s) => [s.symbol, s]));

/**
 * Symbols the simulator serves when the caller has no list of its own. More than 60 so the
 * free tier's 50-symbol limit can be exercised. Includes names with a space ('IC MARKETS:1')
 * and a slash ('FXCM:EUR/USD') because they stress symbol→topic-name mapping.
 */
export const DEFAULT_SIMULATED_SYMBOLS: string[] = CATALOG_LIST.map((s) => s.symbol);

const FOREX_EXCHANGES = new Set(['OANDA', 'FXCM', 'IC MARKETS', 'FOREX.COM', 'FXPRO', 'OCTAFX', 'PEPPERSTONE', 'FHFX', 'SAXO']);

/** Metadata for any symbol; names outside the table get a plausible derived entry. */
export function symbolInfo(symbol: string, nameHash: number): SymbolInfo {
  const known = CATALOG.get(symbol);
  if (known) return known;
  const colon = symbol.indexOf(':');
  const exchange = colon > 0 ? symbol.slice(0, colon).toUpperCase() : 'US';
  const rest = colon > 0 ? symbol.slice(colon + 1) : symbol;
  const assetClass: AssetClass = FOREX_EXCHANGES.has(exchange) ? 'forex' : colon > 0 ? 'crypto' : 'stock';
  // 10^(0..3): 1..1000, stable per name.
  const startPrice = Math.round(Math.pow(10, (nameHash % 3000) / 1000) * 100) / 100;
  return {
    symbol,
    displaySymbol: rest.replace('_', '/'),
    description: assetClass === 'stock' ? `${rest} SIMULATED` : `${exchange} ${rest}`,
    assetClass,
    exchange,
    type: assetClass === 'stock' ? 'Common Stock' : assetClass === 'forex' ? 'Forex' : 'Crypto',
    startPrice: Math.max(startPrice, 1),
  };
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/** The price/volume model parameters of a symbol. */
export function profileFor(symbol: string, nameHash: number): SymbolProfile {
  const info = symbolInfo(symbol, nameHash);
  const mag = Math.floor(Math.log10(info.startPrice));
  switch (info.assetClass) {
    case 'crypto':
      return {
        ...info,
        // ~5 significant digits, like exchange tick sizes: 60000.12, 0.5512, 0.00001801.
        priceDecimals: clamp(4 - mag, 2, 8),
        // Lot size shrinks as the price grows: BTC 0.000123, DOGE 123.4, SHIB 123456.
        volumeDecimals: clamp(Math.ceil(Math.log10(info.startPrice)) + 1, 0, 8),
        volumeMedian: 300 / info.startPrice, // ~300 USD per trade
        sigma: 5e-5,
      };
    case 'forex':
      return {
        ...info,
        priceDecimals: mag >= 2 ? 3 : 5, // EUR/USD 1.08123, NZD/USD 0.61024, USD/JPY 150.123
        volumeDecimals: 0,
        volumeMedian: 100000,
        sigma: 1e-5,
      };
    case 'stock':
    default:
      return {
        ...info,
        priceDecimals: info.startPrice < 1 ? 4 : 2,
        volumeDecimals: 0, // shares
        volumeMedian: 40,
        sigma: 5e-5,
      };
  }
}

/** All catalog entries (known and derived) for the given simulated symbols. */
export function catalogFor(symbols: readonly string[], hash: (s: string) => number): SymbolInfo[] {
  return symbols.map((s) => symbolInfo(s, hash(s)));
}
