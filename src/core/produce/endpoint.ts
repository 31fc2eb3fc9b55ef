import { SETTINGS_BY_PATH } from '../config/settings';
import { FinpipeError } from '../errors';
import { registerSecret } from '../redact';
import { urlWithoutToken } from '../sources/finnhub-ws';

/** Placeholder sent to a local simulator when no FINNHUB_TOKEN is set (it accepts any token). */
export const SIMULATOR_TOKEN = 'finpipe-simulator';

/**
 * Where and how to connect. With no FINNHUB_TOKEN: the real service is refused with a
 * clear message; a loopback URL (a local `finpipe simulate`) gets a placeholder token.
 * A non-default websocket URL with the default REST URL implies the REST API of the same
 * server (the simulator serves both on one port).
 */
export function resolveFinnhubEndpoint(finnhub: { token?: string; wsUrl: string; restUrl: string }): {
  url: string;
  restUrl: string;
  token: string;
} {
  let url = finnhub.wsUrl;
  let token = finnhub.token;
  try {
    const parsed = new URL(url);
    const inUrl = parsed.searchParams.get('token');
    if (inUrl) {
      registerSecret(inUrl);
      token ??= inUrl;
      url = urlWithoutToken(url);
    }
  } catch {
    // loadConfig has already refused URLs that do not parse
  }
  const defaultWs = SETTINGS_BY_PATH.get('finnhub.wsUrl')?.default;
  const defaultRest = SETTINGS_BY_PATH.get('finnhub.restUrl')?.default;
  let restUrl = finnhub.restUrl;
  if (url !== defaultWs && restUrl === defaultRest) {
    restUrl = `${url.replace(/^ws/, 'http').replace(/\/+$/, '')}/api/v1`;
  }
  if (!token) {
    const host = safeHost(url);
    if (host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1') {
      token = SIMULATOR_TOKEN;
    } else {
      throw new FinpipeError('CONFIG_INVALID', `finnhub.token: FINNHUB_TOKEN is required to connect to ${urlWithoutToken(url)}`, {
        hint:
          'get a free API key at https://finnhub.io/register and set FINNHUB_TOKEN (env or .env), or try it locally: ' +
          '`finpipe simulate`, then `FINNHUB_WS_URL=ws://127.0.0.1:8765 finpipe produce BINANCE:BTCUSDT`',
      });
    }
  }
  return { url, restUrl, token };
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
