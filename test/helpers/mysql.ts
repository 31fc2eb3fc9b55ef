import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import mysql from 'mysql2/promise';

/** The real local MariaDB/MySQL (`npm run services:up`), as root. */
export const MYSQL = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };

/** Creates a uniquely named database, dropped after the test; returns its name and URL. */
export async function createDatabase(
  t: TestContext,
  prefix = 'fp_test',
): Promise<{ name: string; url: string; connection: mysql.Connection }> {
  const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const connection = await mysql.createConnection({ ...MYSQL, multipleStatements: false });
  // An idle connection whose server restarts (the sink's outage test stops MariaDB) emits
  // 'error'; without a listener that would crash the whole test process.
  connection.on('error', () => {});
  await connection.query(`CREATE DATABASE \`${name}\``);
  t.after(async () => {
    await connection.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => {});
    await connection.end().catch(() => {});
  });
  return { name, url: `mysql://${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${name}`, connection };
}
