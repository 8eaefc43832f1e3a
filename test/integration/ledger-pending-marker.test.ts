import { type DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { resetSlot } from "../../cli/commands/slot";
import { keys } from "../../functions/adapters/dynamo/table";
import type { EventJob } from "../../functions/core/job";
import { useTable } from "../support/dynamo-servers";
import { latch } from "../support/latch";
import {
  done,
  type LedgerWorldFixture,
  makeLedgerWorld,
  olderWaiting,
  SECOND,
  T0,
} from "../support/ledger-fixtures";

/**
 * The pending-digest marker names every waiting event while the slot item lives (docs/ledger.md,
 * "The pending-digest marker"): the quick way reads the marker alone, so a path on which an event
 * waits unnamed lets a newer event overtake it. Found by a review of 81327e7: the first failed on
 * 00af170 too (a digest's confirm took an event whose deferral had not landed yet off the marker),
 * the other two only after 81327e7. Timings (ledgerConfig): a week of 3600 s, margin 5 s, lease 12 s.
 */

const TABLE = "hookline-ledger-pending-marker";

/** The slot item's pending-digest marker as stored (consistent read). */
async function markerOf(
  table: { db: DynamoDBClient },
  w: LedgerWorldFixture,
  userId = 1,
): Promise<string[]> {
  const key = w.key(userId);
  const slot = await table.db.send(
    new GetItemCommand({
      TableName: TABLE,
      Key: keys.slot(key.portal, key.openLineCode, key.userId),
      ConsistentRead: true,
    }),
  );
  return slot.Item?.pendingJobs?.SS ?? [];
}

/** Expects the Bitrix24 call that carried `newer` to carry `older` first. */
function expectCarriedBefore(w: LedgerWorldFixture, older: EventJob, newer: EventJob): void {
  const name = (job: EventJob) => job.message;
  const carrying = w.bitrix.calls.find((call) => call.includes(name(newer))) ?? "";
  expect(carrying).toContain(name(older));
  expect(carrying.indexOf(name(older))).toBeLessThan(carrying.indexOf(name(newer)));
}

describe("the pending-digest marker names every waiting event (dynalite, fake clock)", () => {
  const table = useTable(TABLE);
  let unique = 0;

  /**
   * Event `older` finds the week used a second before it ends and defers: `rt.defer` writes the
   * marker, then its outcome; that second write is slow (SDK retries after throttling, say). As
   * the week ends a newer event joins the digest: its claim reads the marker (naming `older`), its
   * flush finds no pending outcome for `older` yet and counts it `stale`, and the digest's confirm
   * takes it off the marker (`DELETE pendingJobs :settled`). Then `older`'s deferral lands: it
   * waits in the digest, and the marker no longer names it.
   */
  async function staleMarkedWorld() {
    const reachedDefer = latch();
    const slowDefer = latch();
    let slowJob = "";
    const w = makeLedgerWorld(table.db, TABLE, `stale-${++unique}.example`, T0, {
      outcomes: (outcomes) => ({
        ...outcomes,
        defer: async (...args) => {
          if (args[0].jobId === slowJob) {
            reachedDefer.open();
            await slowDefer.opened;
          }
          return outcomes.defer(...args);
        },
      }),
    });
    expect(await w.attempt(w.job("stale-first"))).toEqual(done);
    // A lone send's intent holds the slot until a week and the margin after its lease.
    const freeAt = w.clock.ms + w.timings.leaseMs + w.timings.weekMs + w.timings.weekMarginMs;

    w.clock.set(freeAt - SECOND);
    const older = w.job("stale-older");
    slowJob = older.jobId;
    const olderRun = w.attempt(older);
    await reachedDefer.opened; // the marker names it; its outcome is not written yet

    w.clock.set(freeAt);
    const joining = w.job("stale-joining");
    expect(await w.attempt(joining)).toEqual(done);
    slowDefer.open();
    expect(await olderRun).toEqual(done);
    expect((await w.outcome(older))?.outcome).toBe("deferred");
    return { w, older, joining };
  }

  it("a marked event whose deferral lands after a joining digest read it stays on the marker", async () => {
    const { w, older, joining } = await staleMarkedWorld();
    expect((await w.outcome(joining))?.outcome).toBe("sent");
    // The documented invariant: the marker names every waiting event while the slot item lives.
    expect(await markerOf(table, w)).toContain(older.jobId);
  });

  it("after that digest's week a newer event does not go out alone ahead of the unmarked older one", async () => {
    const { w, older } = await staleMarkedWorld();
    // The sweeper flushes `older`: the slot is used by the joining digest, so it waits that week.
    expect(await w.attempt(w.flush())).toEqual(done);
    const rescheduled = await w.outcome(older);
    expect(rescheduled?.outcome).toBe("deferred");
    const callsBefore = w.bitrix.calls.length;

    // The week ends; a newer event comes before the sweeper's next minute.
    w.clock.set(rescheduled?.dueAt?.getTime() ?? 0);
    const newest = w.job("stale-newest");
    expect(await w.attempt(newest)).toEqual(done);
    expect(w.bitrix.calls.length).toBe(callsBefore + 1);
    // An older event never waits behind a newer one: the newest joins the older one's digest.
    expectCarriedBefore(w, older, newest);
    expect((await w.outcome(older))?.outcome).toBe("sent");
  });

  it("after `hookline slot --reset` on the local run, a newer event before the sweep joins the pending digest instead of overtaking it", async () => {
    const w = makeLedgerWorld(table.db, TABLE, `reset-${++unique}.example`, T0);
    const older = await olderWaiting(w, "reset");
    expect(await markerOf(table, w)).toEqual([older.jobId]);

    // docs/cli.md: the reset clears the slot and makes the pending digest due now; "within a
    // minute of the reset the sweeper sends user 1's digest". A new event comes first.
    const reset = await resetSlot(
      { kind: "local", label: "the local run", dynamo: table.db, tableName: TABLE },
      w.key(),
      async () => true,
      w.clock.now(),
    );
    expect(reset).toEqual({ slot: true, simulator: true, digestEvents: 1 });
    w.clock.advance(SECOND);
    const newer = w.job("reset-newer");
    expect(await w.attempt(newer)).toEqual(done);
    expect(w.bitrix.calls).toHaveLength(2);
    expectCarriedBefore(w, older, newer);
  });
});
