import type { StoreImplementation } from '../types';
import { MysqlReader } from './reader';
import { MysqlStore } from './store';

export const mysqlStore: StoreImplementation = {
  label: 'MySQL',
  openStore: (context, options) => new MysqlStore(context, options),
  openReader: (context) => new MysqlReader(context),
};
