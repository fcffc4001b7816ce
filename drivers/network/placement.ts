/**
 * Where a guest listens and how its engine is started on the network, whatever the network driver: the
 * host driver puts every guest on one node address with a port of its own; the netns driver puts each
 * tenant network in a namespace, where every guest has an address of its own and the engine's standard port.
 */
import { confine } from "../compute/confine.js";
import { allocatePort, isPortFree } from "./host.js";

export interface GuestPlacement {
  /** The address and port the engine listens on (and users connect to). */
  host: string;
  port: number;
}

/** How an engine is run: what a datastore strategy's launch() gives, and what a driver's wrap() returns. */
export interface EngineCommand {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** The OS user the engine runs as (the tracker's own when absent). */
  user?: { uid: number; gid: number };
}

/** Trove's `access` of an instance: public ones are published on the node's address, to `allowedCidrs` only. */
export interface GuestAccess {
  isPublic: boolean;
  /** Sources allowed to reach a public instance; everyone when absent or empty. */
  allowedCidrs?: string[];
}

export interface GuestNetwork {
  /** Short name for logs and the start banner. */
  readonly kind: "host" | "netns";
  /**
   * An address and port for a new guest of `networkId`; `standardPort` is its engine's (3306, 5432, 6379).
   * `access` publishes it where the driver can (netns); the host driver's guests are on the node already.
   */
  place(networkId: string, instanceId: string, standardPort: number, portsInUse: { has(port: number): boolean }, access?: GuestAccess): Promise<GuestPlacement>;
  /**
   * The command that runs the engine where its network is, confined (drivers/compute/confine.ts): as the spec's
   * `user`, which moves into the command, without capabilities, with a private /tmp.
   */
  wrap(networkId: string, command: EngineCommand): EngineCommand;
  /**
   * Whether a guest's address, given by place(), is held by someone else now that its engine has ended: only
   * a driver whose ports the node's other programs share can lose one between place() and the engine's bind.
   */
  portTaken?(placement: GuestPlacement): Promise<boolean>;
  /** Where a public guest is published on the node, if this driver publishes guests and it is public. */
  published?(instanceId: string): { address: string; port: number } | undefined;
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

  wrap(_networkId: string, command: EngineCommand): EngineCommand {
    return confine(command, { inOwnMountNamespace: false });
  }

  async portTaken({ host, port }: GuestPlacement): Promise<boolean> {
    return !(await isPortFree(host, port));
  }

  async release(): Promise<void> {}
}
