/** What the netns driver allocated, as it keeps it in `<home>/netns/state.json`. */
import { z } from "zod";

/** A guest's address and port in its network, and where it is published when public. */
export const GuestState = z.object({
  address: z.string(),
  port: z.number().int(),
  /** Published on the node's address when the instance is public. */
  published: z.object({ port: z.number().int(), allowedCidrs: z.array(z.string()) }).optional(),
});
export const NetworkState = z.object({
  /** Position of the network's /24 in the pool; names its leg. */
  index: z.number().int().nonnegative(),
  guests: z.record(z.string(), GuestState),
});
export const DriverState = z.object({
  networks: z.record(z.string(), NetworkState),
  /** net.ipv4.ip_forward before this driver switched it on for public guests ("0" or "1"). */
  forwardingWas: z.string().optional(),
});
export type NetworkState = z.infer<typeof NetworkState>;
export type DriverState = z.infer<typeof DriverState>;
export type GuestState = z.infer<typeof GuestState>;
