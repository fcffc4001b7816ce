/**
 * The shapes of a guest's databases and users, written once: in Trove's API form (as tenants send them) and
 * as the engines take and list them, for the API's requests and views, the guest calls and the engines.
 */
import { z } from "zod";

/** Which user: engines without hosts (PostgreSQL, Redis) take `host` as '%' and ignore it. */
export const GuestUserRef = z.object({ name: z.string(), host: z.string() });
export type GuestUserRef = z.infer<typeof GuestUserRef>;
/** A database to create, or as the engine lists it (system databases are never listed). */
export const GuestDatabase = z.object({ name: z.string(), characterSet: z.string().optional(), collate: z.string().optional() });
export type GuestDatabase = z.infer<typeof GuestDatabase>;
/** A user to create, with the databases it may use. */
export const GuestNewUser = z.object({ name: z.string(), password: z.string(), host: z.string(), databases: z.array(z.string()) });
export type GuestNewUser = z.infer<typeof GuestNewUser>;
/** A user as the engine lists it, with the databases it may use. */
export const GuestUserInfo = GuestUserRef.extend({ databases: z.array(z.string()) });
export type GuestUserInfo = z.infer<typeof GuestUserInfo>;
/** What an update changes; absent fields stay as they are. */
export const GuestUserChanges = z.object({ name: z.string().optional(), host: z.string().optional(), password: z.string().optional() });
export type GuestUserChanges = z.infer<typeof GuestUserChanges>;

// ---- Trove's API forms ----

/** A database in Trove's API (instance create, `POST /databases`). */
export const DatabaseSpec = z.object({
  name: z.string(),
  character_set: z.string().optional(),
  collate: z.string().optional(),
});
export type DatabaseSpec = z.infer<typeof DatabaseSpec>;

/** A database named in Trove's API: a user's databases, a grant, a user's access list. */
export const DatabaseName = z.object({ name: z.string() });
export type DatabaseName = z.infer<typeof DatabaseName>;

/** A user in Trove's API (instance create, `POST /users`); no host means '%'. */
export const UserSpec = z.object({
  name: z.string(),
  password: z.string(),
  host: z.string().optional(),
  databases: z.array(DatabaseName).optional(),
});
export type UserSpec = z.infer<typeof UserSpec>;
/** A user as Trove's API shows it (never with its password). */
export type UserView = Omit<UserSpec, "password"> & { host: string; databases: DatabaseName[] };

/** One user's new password in Trove's `PUT /users`; no host means '%'. */
export const UserPasswordChange = z.object({ name: z.string(), password: z.string(), host: z.string().optional() });
export type UserPasswordChange = z.infer<typeof UserPasswordChange>;
