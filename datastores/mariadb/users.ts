/** MariaDB's tenant users: accounts `'name'@'host'`; the engine's and the service's own are never listed or touched. */
import { refuse } from "../../errors/index.js";
import type { GuestHandle, UserChanges, UserInfo, UserRef, UsersGroup, UserToCreate } from "../contract.js";
import { asRoot, withoutSecrets } from "./connection.js";
import { grantDatabase, missingDatabases, SERVICE_USERS, unescapeGrant, userExists, userNotFound } from "./sql.js";

export const mariadbUsers: UsersGroup = {
  async createUsers(guest: GuestHandle, users: UserToCreate[]): Promise<void> {
    if (users.length === 0) return;
    await asRoot(guest, async (conn) => {
      for (const user of users) {
        if (await userExists(conn, user)) throw refuse("USER_EXISTS", { name: user.name, host: user.host });
      }
      for (const user of users) {
        await missingDatabases(conn, user.databases);
      }
      for (const user of users) {
        // Placeholders: mysql2 escapes the values, so no name or password is ever pasted into the SQL.
        await conn.query("CREATE USER ?@? IDENTIFIED BY ?", [user.name, user.host, user.password]).catch((e: unknown) => {
          throw withoutSecrets(e, [user.password], `could not create user '${user.name}'@'${user.host}'`);
        });
        for (const db of user.databases) {
          await conn.query(`GRANT ALL PRIVILEGES ON ${grantDatabase(db)}.* TO ?@?`, [user.name, user.host]);
        }
      }
    });
  },

  async listUsers(guest: GuestHandle): Promise<UserInfo[]> {
    return asRoot(guest, async (conn) => {
      const [users] = await conn.query("SELECT User AS name, Host AS host FROM mysql.user WHERE User NOT IN (?) ORDER BY User, Host", [SERVICE_USERS]);
      const [grants] = await conn.query("SELECT User AS name, Host AS host, Db AS db FROM mysql.db ORDER BY Db");
      const byUser = new Map<string, string[]>();
      for (const g of grants as { name: string; host: string; db: string }[]) {
        const key = `${g.name}@${g.host}`;
        byUser.set(key, [...(byUser.get(key) ?? []), unescapeGrant(g.db)]);
      }
      return (users as UserRef[]).map((u) => ({ name: u.name, host: u.host, databases: byUser.get(`${u.name}@${u.host}`) ?? [] }));
    });
  },

  async updateUser(guest: GuestHandle, user: UserRef, changes: UserChanges): Promise<void> {
    await asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      const target = { name: changes.name ?? user.name, host: changes.host ?? user.host };
      const moves = target.name !== user.name || target.host !== user.host;
      if (moves && (await userExists(conn, target))) throw refuse("USER_EXISTS", { name: target.name, host: target.host });
      if (moves) await conn.query("RENAME USER ?@? TO ?@?", [user.name, user.host, target.name, target.host]);
      if (changes.password !== undefined) {
        await conn.query("ALTER USER ?@? IDENTIFIED BY ?", [target.name, target.host, changes.password]).catch((e: unknown) => {
          throw withoutSecrets(e, [changes.password ?? ""], `could not change the password of '${target.name}'@'${target.host}'`);
        });
      }
    });
  },

  async deleteUser(guest: GuestHandle, user: UserRef): Promise<void> {
    await asRoot(guest, async (conn) => {
      if (!(await userExists(conn, user))) throw userNotFound(user);
      await conn.query("DROP USER ?@?", [user.name, user.host]);
    });
  },
};
