/**
 * Trove's two status fields, derived from what is stored (task, server, service, last heartbeat) by the
 * rules of trove/instance/models.py and service_status.py, so the CLI's columns behave as they do there.
 */

/** What the control plane is doing to the instance. */
export type Task = "BUILDING" | "NONE" | "DELETING" | "BUILDING_ERROR_SERVER" | "REBOOTING" | "RESTART_REQUIRED" | "STOPPING" | "STARTING" | "RESIZING" | "BACKING_UP" | "ROLLING_BACK";
/** Whether the guest exists and runs, as the tracker last reported. */
export type ServerStatus = "BUILD" | "ACTIVE" | "SHUTDOWN" | "ERROR";
/** What the last heartbeat said of the engine. */
export type ServiceStatus = "NEW" | "HEALTHY" | "RUNNING" | "SHUTDOWN" | "CRASHED" | "UNKNOWN";

export interface StatusInputs {
  task: Task;
  serverStatus: ServerStatus;
  serviceStatus: ServiceStatus;
  serviceUpdatedAt: Date | null;
}

/** The instance's `status`. */
export function instanceStatus(s: StatusInputs): string {
  if (s.task === "BUILDING_ERROR_SERVER") return "ERROR";
  if (s.task === "BUILDING") return s.serverStatus === "ERROR" ? "ERROR" : "BUILD";
  if (s.task === "REBOOTING" || s.task === "STARTING") return "REBOOT";
  if (s.task === "STOPPING") return "SHUTDOWN";
  if (s.task === "RESIZING") return "RESIZE";
  if (s.task === "BACKING_UP") return "BACKUP";
  // Hoard's addition: the data is being put back to a backup in place.
  if (s.task === "ROLLING_BACK") return "ROLLBACK";
  if (s.task === "RESTART_REQUIRED") return "RESTART_REQUIRED";
  if (s.task === "DELETING") return "SHUTDOWN";
  return s.serverStatus;
}

/** The instance's `operating_status`: empty while a task runs; ERROR when heartbeats stopped. */
export function operatingStatus(s: StatusInputs, now: Date, heartbeatExpiryMs: number): string {
  if (s.task !== "NONE" || s.serverStatus !== "ACTIVE") return "";
  if (!s.serviceUpdatedAt || now.getTime() - s.serviceUpdatedAt.getTime() > heartbeatExpiryMs) return "ERROR";
  switch (s.serviceStatus) {
    case "HEALTHY":
      return "HEALTHY";
    case "RUNNING":
      return "ACTIVE";
    case "SHUTDOWN":
    case "CRASHED":
      return "SHUTDOWN";
    case "NEW":
      return "NEW";
    case "UNKNOWN":
      return "ERROR";
  }
}
