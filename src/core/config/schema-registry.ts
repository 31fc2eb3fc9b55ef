import { registerSecret } from '../redact';

/** Where the Schema Registry is and how to log in; see src/core/serde/registry. */
export interface SchemaRegistryConfig {
  /** Base URL of the Confluent-compatible API, without credentials and without a trailing slash. */
  url: string;
  auth?: { username: string; password: string };
}

/**
 * FINPIPE_SCHEMA_REGISTRY_URL (+ _USERNAME / _PASSWORD). Credentials may also come as
 * userinfo in the URL (http://user:password@host/...), the way Confluent tools accept them;
 * they are taken out of the URL so it can be logged, and the password is registered as a
 * secret. Empty URL: no registry (null).
 */
export function parseSchemaRegistryConfig(
  get: (path: string) => string | undefined,
  fail: (path: string, message: string) => void,
): SchemaRegistryConfig | null {
  const raw = (get('schemaRegistry.url') ?? '').trim();
  let username = get('schemaRegistry.username') || undefined;
  let password = get('schemaRegistry.password') || undefined;
  if (!raw) {
    if (username || password) fail('schemaRegistry.url', 'is empty, but a registry user name or password is set; set the URL too');
    return null;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail('schemaRegistry.url', 'is not a URL; use e.g. http://127.0.0.1:8081/apis/ccompat/v7');
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail('schemaRegistry.url', `must be an http:// or https:// URL (got ${url.protocol})`);
    return null;
  }
  if (url.username || url.password) {
    if (username || password)
      fail('schemaRegistry.url', 'carries user:password and FINPIPE_SCHEMA_REGISTRY_USERNAME/PASSWORD are set too; give them once');
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
    registerSecret(password);
    url.username = '';
    url.password = '';
  }
  if ((username === undefined) !== (password === undefined)) {
    fail('schemaRegistry.username', 'and FINPIPE_SCHEMA_REGISTRY_PASSWORD must be set together (basic auth)');
  }
  const base = url.toString().replace(/\/+$/, '');
  return { url: base, ...(username !== undefined && password !== undefined && { auth: { username, password } }) };
}

/** The settings as environment variables, for child processes (the demo's stages) to inherit. */
export function schemaRegistryEnv(config: SchemaRegistryConfig | null): Record<string, string> {
  if (!config) return {};
  return {
    FINPIPE_SCHEMA_REGISTRY_URL: config.url,
    ...(config.auth && { FINPIPE_SCHEMA_REGISTRY_USERNAME: config.auth.username, FINPIPE_SCHEMA_REGISTRY_PASSWORD: config.auth.password }),
  };
}
