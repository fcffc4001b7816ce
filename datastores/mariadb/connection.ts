/**
 * How the tracker reaches a MariaDB guest: as root over the guest's unix socket only, on an admin connection
 * whose session is pinned (./hardening.ts), and with errors that never carry a password.
 */
import mysql from "mysql2/promise";
import type { Connection } from "mysql2/promise";
import type { GuestHandle } from "../contract.js";
import { guestSocketPath } from "../guest-files.js";
import { adminConnection } from "./hardening.js";

/** The guest's unix socket. */
export function socketPath(guest: Pick<GuestHandle, "runDir">): string {
  return guestSocketPath(guest.runDir, "mysqld.sock");
}

/** The server answered, but refused the credentials. */
export function isAccessDenied(err: unknown): boolean {
  return (err as { code?: string }).code === "ER_ACCESS_DENIED_ERROR";
}

/** An admin connection with its session pinned (hardening.ts): never one that inherits a group's sql_mode. */
export function connect(guest: GuestHandle, password: string, connectTimeout = 5_000): Promise<Connection> {
  return adminConnection(socketPath(guest), password, connectTimeout);
}

/** Runs `work` on an admin connection as root with the guest's admin password. */
export async function asRoot<T>(guest: GuestHandle, work: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await connect(guest, guest.adminPassword);
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}

/**
 * A fresh error for a failed statement that carried passwords: mysql2's own error keeps the statement with
 * the values filled in (`sql`), and the server may quote it back in the message.
 */
export function withoutSecrets(err: unknown, secrets: string[], context?: string): Error {
  let message = (err as Error).message ?? String(err);
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of [secret, mysql.escape(secret).slice(1, -1)]) message = message.replaceAll(form, "***");
  }
  return new Error(context ? `${context}: ${message}` : message);
}

