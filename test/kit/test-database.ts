/**
 * A private Postgres database per test file (or per started Hoard) on the suite's shared server, so files
 * running side by side never see each other's rows.
 */
import path from "node:path";
import pg from "pg";
import { inject } from "vitest";

/** A database name derived from a test's own temporary folder: unique, and safe in SQL as it stands. */
export function testDatabaseName(folder: string): string {
  return `hoard_${path.basename(folder).replace(/[^a-z0-9]/gi, "").toLowerCase()}`;
}

async function asAdmin(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject("databaseUrl") });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** Creates the database and returns its URL. */
export async function createTestDatabase(name: string): Promise<string> {
  await asAdmin(`create database ${name}`);
  const url = new URL(inject("databaseUrl"));
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the database, closing whatever is still connected to it. */
export async function dropTestDatabase(name: string): Promise<void> {
  await asAdmin(`drop database if exists ${name} with (force)`);
}
