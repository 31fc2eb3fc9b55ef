import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Whether a request carries the dashboard's token: `Authorization: Bearer <token>` or
 * `?token=<token>` (the page and the websocket). Compared in constant time (digests of equal
 * length), so the comparison time says nothing about the token. No token configured: open.
 */
export function authorized(req: IncomingMessage, url: URL, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization;
  const bearer = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
  const given = bearer ?? url.searchParams.get('token') ?? '';
  return timingSafeEqual(digest(given), digest(token));
}
