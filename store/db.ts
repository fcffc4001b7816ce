import knex, { type Knex } from "knex";
import pg from "pg";

// Postgres `bigint` (count(*), sequences) comes back as a string by default; our counts fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Hoard's Postgres: a pool of connections. */
export type Db = Knex;
/** A transaction on it: what a change and the outbox events it announces are written in together. */
export type Transaction = Knex.Transaction;
/** What a query runs on: the pool, or a transaction. */
export type Queryable = Db | Transaction;

/** Opens a small connection pool to Hoard's Postgres. */
export function connect(url: string, pool = { min: 0, max: 5 }): Db {
  return knex({ client: "pg", connection: url, pool: { ...pool, idleTimeoutMillis: 10_000 } });
}
