import { FakeClock } from "../controller/clock.js";
import { AddressExpectations, EXPECTATION_TTL_MS, NameExpectations } from "./expectations.js";

describe("AddressExpectations", () => {
  const ns = "airport-prod";

  it("holds an address from our create until the watch shows an entry of that name", () => {
    const x = new AddressExpectations(new FakeClock());
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
    const x = new AddressExpectations(new FakeClock());
    x.expectDelete(ns, "uid-1", "203.0.114.1");
    x.observedGone(ns, "some-other-entry", "uid-2");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(true);
    x.observedGone(ns, "jp-01-abcdef01", "uid-1");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(false);
  });

  it("a create then a delete of the same entry, both unseen, hold the address until the delete is seen", () => {
    const x = new AddressExpectations(new FakeClock());
    x.expectCreate(ns, "jp-01-abcdef01", "203.0.114.1");
    x.expectDelete(ns, "uid-1", "203.0.114.1");
    x.observedPresent(ns, "jp-01-abcdef01");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(true);
    x.observedGone(ns, "jp-01-abcdef01", "uid-1");
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(false);
  });

  it("lets go of a write the watch never shows after the TTL", async () => {
    const clock = new FakeClock();
    const x = new AddressExpectations(clock);
    x.expectCreate(ns, "jp-01-abcdef01", "203.0.114.1");
    await clock.advance(EXPECTATION_TTL_MS - 1);
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(true);
    await clock.advance(1);
    expect(x.unseenOn(ns, "203.0.114.1")).toBe(false);
    // The lapsed record was dropped by that look, not kept around.
    expect(x.observedPresent(ns, "jp-01-abcdef01")).toBe(false);
  });
});

describe("NameExpectations", () => {
  const ns = "airport-prod";

  it("holds a name from our create until the watch shows an object of that name, in that namespace", () => {
    const x = new NameExpectations(new FakeClock());
    x.expectCreate(ns, "jp-01");
    expect(x.unseen(ns, "jp-01")).toBe(true);
    expect(x.unseen(ns, "jp-02")).toBe(false);
    expect(x.unseen("other", "jp-01")).toBe(false);
    expect(x.observedPresent(ns, "jp-01")).toBe(true);
    expect(x.unseen(ns, "jp-01")).toBe(false);
    // The echo was ours once; a later sighting of the same name is someone's change.
    expect(x.observedPresent(ns, "jp-01")).toBe(false);
  });

  it("a delete seen ends the expectation (the create lost a race with a delete)", () => {
    const x = new NameExpectations(new FakeClock());
    x.expectCreate(ns, "jp-01");
    x.observedGone(ns, "jp-01");
    expect(x.unseen(ns, "jp-01")).toBe(false);
  });

  it("lets go of a create the watch never shows after the TTL", async () => {
    const clock = new FakeClock();
    const x = new NameExpectations(clock);
    x.expectCreate(ns, "jp-01");
    await clock.advance(EXPECTATION_TTL_MS - 1);
    expect(x.unseen(ns, "jp-01")).toBe(true);
    await clock.advance(1);
    expect(x.unseen(ns, "jp-01")).toBe(false);
    expect(x.observedPresent(ns, "jp-01")).toBe(false);
  });
});
