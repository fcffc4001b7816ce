/**
 * Where a guest listens and how its engine is started on the network, whatever the network driver: the
 * host driver puts every guest on one node address with a port of its own; the netns driver puts each
 * tenant network in a namespace, where every guest has an address of its own and the engine's standard port.
 */
import { allocatePort } from "./host.js";

export interface GuestPlacement {
  /** The address and port the engine listens on (and users connect to). */
  host: string;
  port: number;
}

export interface GuestNetwork {
  /** Short name for logs and the start banner. */
  readonly kind: "host" | "netns";
  /** An address and port for a new guest of `networkId`; `standardPort` is its engine's (3306, 5432, 6379). */
  place(networkId: string, instanceId: string, standardPort: number, portsInUse: { has(port: number): boolean }): Promise<GuestPlacement>;
  /** The command that runs the engine where its network is. */
  wrap(networkId: string, command: { command: string; args: string[] }): { command: string; args: string[] };
  /** Gives the guest's address back (and the network, when it was its last guest). */
  release(networkId: string, instanceId: string): Promise<void>;
}

/** The host driver: one address for all guests, a free port each. */
export class HostNetwork implements GuestNetwork {
  readonly kind = "host";

  constructor(private readonly address: string) {}

  async place(_networkId: string, _instanceId: string, _standardPort: number, portsInUse: { has(port: number): boolean }): Promise<GuestPlacement> {
    return { host: this.address, port: await allocatePort(this.address, portsInUse) };
  }

  wrap(_networkId: string, command: { command: string; args: string[] }): { command: string; args: string[] } {
    return command;
  }

  async release(): Promise<void> {}
}
