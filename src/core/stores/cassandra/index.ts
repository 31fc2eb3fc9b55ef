import type { StoreImplementation } from '../types';
import { CassandraReader } from './reader';
import { CassandraStore } from './store';

export const cassandraStore: StoreImplementation = {
  label: 'Cassandra',
  openStore: (context, options) => new CassandraStore(context, options),
  openReader: (context) => new CassandraReader(context),
};
