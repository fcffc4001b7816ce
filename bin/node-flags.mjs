/**
 * Node flags of Hoard's long-lived process (what `npm start` runs, and what the benchmark measures). A
 * young generation of 1 MB per semi-space instead of 16: the control plane handles small messages, and
 * at rest this keeps about 40 MB less resident for the same work.
 */
export const HOARD_NODE_FLAGS = ["--max-semi-space-size=1"];
