import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // test/<folder>/ mirrors the source tree, test/system/ holds what spans it, test/kit/ the shared support.
    include: ["test/**/*.test.ts"],
    // One private NATS and Postgres per run, shared by every file (see test/kit/global-setup.ts).
    globalSetup: ["test/kit/global-setup.ts"],
    // Real servers and real guest engines: starting them takes seconds, not milliseconds.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes (servers, guests, the openstack CLI) are simpler to reason about in forked workers.
    pool: "forks",
    // Two cores, and guest engines are heavy: one file at a time keeps timings honest and memory low.
    fileParallelism: false,
  },
});
