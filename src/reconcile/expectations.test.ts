import { FakeClock } from "../controller/clock.js";
import { EXPECTATION_TTL_MS, Expectations } from "./expectations.js";

describe("Expectations", () => {
  const ns = "airport-prod";

  it("holds an address from our create until the watch shows an entry of that name", () => {
    const x = new Expectations(new FakeClock());
    x.expectCreate(ns, "jp-01-abcdef01", "203.0.114.1");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(true);
    expect(x.unseenOn(ns, "203.0.114.2")).toBe(false);
    expect(x.unseenOn("other", "203.0.114.1")).toBe(false);
    expect(x.observedPresent(ns, "jp-01-abcdef01")).toBe(true);
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(false);
    // Forgotten, not merely hidden: a second sighting finds nothing to clear.
    expect(x.observedPresent(ns, "jp-01-abcdef01")).toBe(false);
  });

  it("holds an address from our delete until the watch shows that uid gone", () => {
    const x = new Expectations(new FakeClock());
    x.expectDelete(ns, "uid-1", "203.0.114.1");
    x.observedGone(ns, "some-other-entry", "uid-2");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(true);
    x.observedGone(ns, "jp-01-abcdef01", "uid-1");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(false);
  });

  it("a create then a delete of the same entry, both unseen, hold the address until the delete is seen", () => {
    const x = new Expectations(new FakeClock());
    x.expectCreate(ns, "jp-01-abcdef01", "203.0.114.1");
    x.expectDelete(ns, "uid-1", "203.0.114.1");
    x.observedPresent(ns, "jp-01-abcdef01");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(true);
    x.observedGone(ns, "jp-01-abcdef01", "uid-1");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(false);
  });

  it("lets go of a write the watch never shows after the TTL", async () => {
    const clock = new FakeClock();
    const x = new Expectations(clock);
    x.expectCreate(ns, "jp-01-abcdef01", "203.0.114.1");
    await clock.advance(EXPECTATION_TTL_MS - 1);
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(true);
    await clock.advance(1);
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(false);
    // The lapsed record was dropped by that look, not kept around.
    expect(x.observedPresent(ns, "jp-01-abcdef01")).toBe(false);
  });
});
