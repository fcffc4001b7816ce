/**
 * A running guest's databases, users, user access and root through the API: the requests the gateway sends
 * to the functions and what they answer (the functions ask the guest's tracker: see guest-calls.ts).
 */
import { z } from "zod";
import { DatabaseSpec, GuestDatabase, GuestUserChanges, GuestUserInfo, GuestUserRef, UserPasswordChange, UserSpec } from "./guest-shapes.js";
import { InstanceRefRequest } from "./instances.js";
import { ListQuery, Page } from "./request-parts.js";

/** The body of `POST /root`: a password of the tenant's choosing, or none (the CLI then sends no body at all). */
export const RootEnableBody = z.object({ password: z.string({ error: "must be a string" }).optional() }, { error: "the body must be a JSON object {\"password\": …} or empty" });

// ---- gateway → functions (request/reply): each acts on one instance (InstanceRefRequest) ----

export const DatabaseCreateRequest = InstanceRefRequest.extend({ databases: z.array(DatabaseSpec) });
export const GuestListRequest = InstanceRefRequest.extend({ query: ListQuery });
export const DatabaseDeleteRequest = InstanceRefRequest.extend({ name: z.string() });
export const UserCreateRequest = InstanceRefRequest.extend({ users: z.array(UserSpec) });
/** A user named in a path: `name@host` as in Trove's user paths (no `@` means host '%'). */
export const UserRefRequest = InstanceRefRequest.extend({ user: GuestUserRef });
export const UserUpdateRequest = UserRefRequest.extend({ changes: GuestUserChanges });
export const UserPasswordsRequest = InstanceRefRequest.extend({ users: z.array(UserPasswordChange) });
export const UserGrantRequest = UserRefRequest.extend({ databases: z.array(z.string()) });
export const UserRevokeRequest = UserRefRequest.extend({ database: z.string() });
export const RootEnableRequest = InstanceRefRequest.extend({ password: z.string().optional() });

// ---- functions → gateway (answers) ----

/** A page of an instance's databases, in name order. */
export const DatabasePage = Page(GuestDatabase);
export type DatabasePage = z.infer<typeof DatabasePage>;
/** A page of an instance's users, in `name@host` order. */
export const UserPage = Page(GuestUserInfo);
export type UserPage = z.infer<typeof UserPage>;
/** The databases one user may use. */
export const UserAccess = z.array(z.string());
/** The tenant's superuser and its password, shown once. */
export const RootCredentials = z.object({ name: z.string(), password: z.string() });
export const RootState = z.object({ rootEnabled: z.boolean() });
export const RootDisabled = z.object({ disabled: z.literal(true) });
