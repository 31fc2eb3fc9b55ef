import { FinpipeError } from '../errors';
import type { Store, StoreContext, StoreImplementation, StoreReader, StoreWriteOptions } from './types';

/**
 * The stores finpipe can write to and read from, by name. A store is a folder here that
 * exports a StoreImplementation (see types.ts), registered with one line below; it is only
 * loaded when used, so one store's driver is never required by another's users.
 */
const STORES: Record<string, () => Promise<StoreImplementation>> = {
  mysql: () => import('./mysql').then((m) => m.mysqlStore),
  cassandra: () => import('./cassandra').then((m) => m.cassandraStore),
};

export const STORE_NAMES = Object.keys(STORES);

export async function storeImplementation(name: string): Promise<StoreImplementation> {
  const load = STORES[name];
  if (!load) throw new FinpipeError('USAGE', `unknown store "${name}"`, { hint: `one of: ${STORE_NAMES.join(', ')}` });
  return load();
}

export async function openStore<R>(
  name: string,
  context: StoreContext,
  options: StoreWriteOptions,
): Promise<{ store: Store<R>; label: string }> {
  const implementation = await storeImplementation(name);
  return { store: implementation.openStore<R>(context, options), label: implementation.label };
}

export async function openStoreReader(name: string, context: StoreContext): Promise<StoreReader> {
  return (await storeImplementation(name)).openReader(context);
}
