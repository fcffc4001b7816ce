import { workEvents } from "../../events/index.js";
import { settleConfigure, transitionBackup, transitionInstance } from "../../store/index.js";
import { announceInstance } from "../announce.js";
import { failBackup } from "../backup-state.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestActionFailed, {
  name: "instance-failed",
  description: "A tracker reports that a guest action failed: a failed build or removal puts the instance in ERROR; a failed backup is FAILED with its reason and the instance ACTIVE again; any failure leaves its reason as the fault.",
  async apply(trx, data) {
    const fault = { fault_message: data.message, fault_at: new Date() };
    const where = { node: data.node };
    switch (data.action) {
      case "provision": {
        const row = await transitionInstance(trx, data.instanceId, ["BUILDING"], { ...fault, server_status: "ERROR", task: "BUILDING_ERROR_SERVER" }, where);
        if (row) await announceInstance(trx, "instanceError", row, "ERROR");
        return;
      }
      case "deprovision": {
        // A failed removal leaves the instance in ERROR, where the user may delete it again.
        const row = await transitionInstance(trx, data.instanceId, ["DELETING"], { ...fault, server_status: "ERROR", task: "NONE" }, where);
        if (row) await announceInstance(trx, "instanceError", row, "ERROR");
        return;
      }
      case "configure":
        // The engine refused a value: the instance keeps running; the fault says which and why (unless a
        // newer configuration has been asked for since: its answer tells how the instance stands).
        await settleConfigure(trx, data, fault);
        return;
      case "resize":
        // The tracker put the old flavor back: the instance keeps it and the fault says why.
        await transitionInstance(trx, data.instanceId, ["RESIZING"], { ...fault, task: "NONE" }, where);
        return;
      case "restart":
        // The engine did not come back: heartbeats show SHUTDOWN; the fault says why.
        await transitionInstance(trx, data.instanceId, ["REBOOTING"], { ...fault, task: "NONE" }, where);
        return;
      case "stop":
      case "start":
        // The engine kept its state (running, or stopped): the task ends, the fault says why.
        await transitionInstance(trx, data.instanceId, [data.action === "stop" ? "STOPPING" : "STARTING"], { ...fault, task: "NONE" }, where);
        return;
      case "backup":
        // The instance keeps running (the tracker released any lock); the backup says why it failed.
        if (data.backupId) await failBackup(trx, data.backupId, data.message);
        return;
      case "rollback": {
        // The tracker leaves the guest running on the data it could keep; heartbeats show whether the engine answers.
        const row = await transitionInstance(trx, data.instanceId, ["ROLLING_BACK"], { ...fault, task: "NONE" }, where);
        if (row) await announceInstance(trx, "instanceStatusChanged", row, row.server_status);
        return;
      }
      case "delete-backup":
        // The row stays, so the file is never lost track of; deleting again retries.
        if (data.backupId) await transitionBackup(trx, data.backupId, ["DELETING"], { status: "DELETE_FAILED", fail_reason: data.message });
        return;
    }
  },
});
