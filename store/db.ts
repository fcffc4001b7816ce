import knex, { type Knex } from "knex";
import pg from "pg";

// Postgres `bigint` (count(*), sequences) comes back as a string by default; our counts fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

/** Opens a small connection pool to Hoard's Postgres. */
export function connect(url: string, pool = { min: 0, max: 5 }): Db {
  return knex({ client: "pg", connection: url, pool: { ...pool, idleTimeoutMillis: 10_000 } });
}
