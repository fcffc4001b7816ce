import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { filesOnDisk, generatedFiles, GENERATED_DIRS, INFRA_DIR, README } from "../infra/generate.js";
import { withGeneratedParts } from "../infra/readme.js";

describe("infra/", () => {
  const expected = generatedFiles();

  it("holds exactly the files the generator writes (run `npm run infra` after changing functions or streams)", () => {
    const generatedHere = [...expected.keys()].filter((rel) => GENERATED_DIRS.some((d) => rel.startsWith(`${d}/`))).sort();
    expect(filesOnDisk()).toEqual(generatedHere);
  });

  it.each([...expected.keys()])("%s is up to date (run `npm run infra`)", (rel) => {
    expect(readFileSync(path.join(INFRA_DIR, rel), "utf8")).toBe(expected.get(rel));
  });

  it("README.md's datastore table and event list are the ones the code gives (run `npm run infra`)", () => {
    const readme = readFileSync(README, "utf8");
    expect(readme).toBe(withGeneratedParts(readme));
  });

  it("declares a consumer for every work function and one for the tracker of a node", () => {
    const consumers = [...expected.keys()].filter((rel) => rel.includes("/consumers/"));
    expect(consumers).toContain("jetstream/consumers/HOARD_WORK/instance-provisioned.json");
    expect(consumers).toContain("jetstream/consumers/HOARD_NODES/tracker-local.json");
  });
});
