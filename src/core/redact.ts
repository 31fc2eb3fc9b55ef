/**
 * Secrets must never reach a terminal, a log file or an error message. Every line finpipe
 * writes passes through redactText(), which masks
 *   - every value registered with registerSecret() (Finnhub token, passwords...),
 *   - `token=...` / `apikey=...` / `password=...` query parameters in any URL,
 *   - the password part of `scheme://user:password@host` URLs.
 */
const secrets = new Set<string>();
let secretPattern: RegExp | null = null;

export const MASK = '***';

export function registerSecret(value: string | undefined | null): void {
  // Very short values would mask innocent text ("a", "1"); real secrets are longer.
  if (!value || value.length < 4 || secrets.has(value)) return;
  secrets.add(value);
  const escaped = [...secrets].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  secretPattern = new RegExp(escaped.join('|'), 'g');
}

const QUERY_SECRET = /([?&](?:token|apikey|api_key|password|secret)=)[^&\s"'#]+/gi;
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"']+:)[^@\s"']+@/gi;
const HEADER_SECRET = /("?(?:x-finnhub-token|authorization)"?\s*[:=]\s*"?)[^"\s,}]+/gi;

export function redactText(text: string): string {
  let out = text.replace(QUERY_SECRET, `$1${MASK}`).replace(URL_USERINFO, `$1${MASK}@`).replace(HEADER_SECRET, `$1${MASK}`);
  if (secretPattern) out = out.replace(secretPattern, MASK);
  return out;
}

/** A URL safe to show: credentials and token parameters masked. */
export function redactUrl(url: string): string {
  return redactText(url);
}
