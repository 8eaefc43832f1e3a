import { describe, expect, it } from "vitest";
import { classifyBitrixAnswer } from "../../functions/core/bitrix-errors";
import type { DeliveryResult } from "../../functions/core/deliver";
import type { QueueMessage } from "../../functions/core/job";
import type { OutcomeStore, SendResult } from "../../functions/core/ports";
import { useTable } from "../support/dynamo-servers";
import { latch } from "../support/latch";
import {
  answers,
  done,
  expectDone,
  failing,
  type LedgerWorldFixture,
  type LedgerWorldOptions,
  ledgerWorlds,
  SECOND,
  sweepOf,
  T0,
} from "../support/ledger-fixtures";

/**
 * Races around resumed digests and final rejections that an independent review of the deliver
 * reshape found (docs/ledger.md, "Deliver's decisions as data"); each failed before its fix. Same
 * style as ledger-outside-world.test.ts (dynalite, fake clock, ledgerConfig timings: week 3600 s,
 * margin 5 s, lease 12 s, window 600 s).
 */

const TABLE = "hookline-ledger-races";
const rejected: SendResult = classifyBitrixAnswer(
  400,
  { error: "WRONG_REQUEST", error_description: "bad message" },
  T0,
);

/** Bitrix24 answers limited, sent, rejected, and every confirm fails (`rejectedResumption`). */
const RESUMED_AND_REJECTED: LedgerWorldOptions = {
  script: [answers.limited, answers.sent, rejected],
  slots: (slots) => failing(slots, { confirm: 3 }),
};

/**
 * A predecessor digest D1 (the world's script begins limited, sent, rejected; its confirm
 * fails): the event `name` is deferred, D1 lands but its confirm is lost, and its resumption
 * after the lease is rejected, so the event ends unknown while the slot keeps D1's evidence.
 */
async function rejectedResumption(w: LedgerWorldFixture, name: string): Promise<void> {
  const older = w.job(name);
  expect(await w.attempt(older)).toEqual(done);
  w.clock.set((await w.outcome(older))?.dueAt?.getTime() ?? 0);
  await expect(w.attempt(w.flush())).rejects.toThrow(/confirm failed/);
  w.clock.advance(w.timings.leaseMs + SECOND);
  expect(await w.attempt(w.flush())).toEqual(done);
  expect((await w.outcome(older))?.outcome).toBe("unknown");
}

describe("digests after a resumed predecessor (dynalite, fake clock)", () => {
  const table = useTable(TABLE);
  const world = ledgerWorlds(table, TABLE, "digest");

  it("control: a digest on a fresh claim whose outcome writes were lost is recognised by the next flush", async () => {
    const lostFinishes = { finish: 0 };
    const w = world({
      script: [answers.limited, answers.sent],
      outcomes: (outcomes) => failing(outcomes, lostFinishes),
    });
    const job = w.job("fresh");
    expect(await w.attempt(job)).toEqual(done);
    w.clock.set((await w.outcome(job))?.dueAt?.getTime() ?? 0);
    lostFinishes.finish = 3;
    await expect(w.attempt(w.flush())).rejects.toThrow(/finish failed/);
    w.clock.advance(SECOND);
    expect(await w.attempt(w.flush())).toEqual(done);
    expect((await w.outcome(job))?.outcome).toBe("sent");
    expect(w.bitrix.calls).toHaveLength(2);
  });

  it("a digest sent after its crashed predecessor's week is recognised by the next flush when its outcome writes were lost: its event is not sent a second time", async () => {
    // The slot item keeps the predecessor's digestId/digestJobs through reclaimOwn and confirm, so
    // a flush that finds the slot taken reads the OLD digest's contents and reschedules the event
    // that the new digest carried (and it goes out again a week later).
    const lostFinishes = { finish: 0 };
    const w = world({
      script: [answers.limited, answers.sent, rejected, answers.sent, answers.sent],
      slots: (slots) => failing(slots, { confirm: 3 }),
      outcomes: (outcomes) => failing(outcomes, lostFinishes),
    });
    // As in ledger-outside-world's "does not inherit its evidence": D1 lands, its confirm is lost,
    // its resumption is rejected (older ends unknown), the slot keeps D1's evidence.
    await rejectedResumption(w, "stale-older");

    // A newer event waits out D1's week , then goes out in a new digest D2.
    const newer = w.job("stale-newer");
    await w.deps.outcomes.defer(newer, w.key(), w.clock.now(), "in flight", w.clock.now());
    expect(await w.attempt(w.flush())).toEqual(done);
    w.clock.set((await w.outcome(newer))?.dueAt?.getTime() ?? 0);
    // D2 lands and its confirm is written, but every outcome write fails (the store is down).
    lostFinishes.finish = 3;
    await expect(w.attempt(w.flush())).rejects.toThrow(/finish failed/);
    expect(w.bitrix.calls).toHaveLength(4);
    expect(w.bitrix.calls[3]).toContain("stale-newer");

    // The next flush finds the slot taken by D2: it must record newer as sent in D2.
    w.clock.advance(SECOND);
    expect(await w.attempt(w.flush())).toEqual(done);
    const recorded = (await w.outcome(newer))?.outcome;

    // And it never goes out again.
    const after = await w.outcome(newer);
    if (after?.outcome === "deferred") {
      w.clock.set(after.dueAt?.getTime() ?? 0);
      await w.attempt(w.flush());
    }
    expect({
      recorded,
      sends: w.bitrix.calls.filter((text) => text.includes("stale-newer")).length,
    }).toEqual({ recorded: "sent", sends: 1 });
  });
});

describe("nothing stuck behind a predecessor's week (dynalite, fake clock, sweeper)", () => {
  const table = useTable(TABLE);
  const world = ledgerWorlds(table, TABLE, "not-stuck");

  it("events rescheduled to a crashed digest's week, and one that arrives meanwhile, are flushed by the sweeper once that week is over", async () => {
    const w = world(RESUMED_AND_REJECTED);
    const queued: QueueMessage[] = [];
    const sweep = sweepOf(w, w.timings.maxBackoffMs + w.timings.leaseMs, (jobs) =>
      queued.push(...jobs),
    );
    await rejectedResumption(w, "stuck-older");

    const newer = w.job("stuck-newer");
    await w.deps.outcomes.defer(newer, w.key(), w.clock.now(), "in flight", w.clock.now());
    await sweep();
    for (let next = queued.shift(); next; next = queued.shift()) await w.attempt(next);
    expect((await w.outcome(newer))?.outcome).toBe("deferred");
    // Another event arrives during the wait: it defers behind the same week.
    w.clock.advance(60 * SECOND);
    const meanwhile = w.job("stuck-meanwhile");
    expect(await w.attempt(meanwhile)).toEqual(done);
    expect((await w.outcome(meanwhile))?.outcome).toBe("deferred");

    const freeAt = (await w.outcome(newer))?.dueAt?.getTime() ?? 0;
    w.clock.set(freeAt - 30 * SECOND);
    for (let tick = 0; tick < 120; tick++) {
      w.clock.advance(1200);
      await sweep();
      for (let next = queued.shift(); next; next = queued.shift()) await w.attempt(next);
      if ((await w.outcome(meanwhile))?.outcome !== "deferred") break;
    }
    expect((await w.outcome(newer))?.outcome).toBe("sent");
    expect((await w.outcome(meanwhile))?.outcome).toBe("sent");
    expect(w.bitrix.calls).toHaveLength(4);
  });
});

describe("evidence past its week (dynalite, fake clock)", () => {
  const table = useTable(TABLE);
  const world = ledgerWorlds(table, TABLE, "old-evidence");

  it("a digest that landed (confirm lost) and is resumed only after its week is not recorded failed when the resumption is rejected: unknown, as within the week", async () => {
    // slots.ts now drops evidence past its week at reclaim; the resumed digest then reads as a
    // clean attempt, so Bitrix24's rejection of the resend ends the events `failed` although the
    // first send landed. Reachable only if nothing flushes the user for a week (deliver down).
    const w = world(RESUMED_AND_REJECTED);
    const older = w.job("old-evidence");
    expect(await w.attempt(older)).toEqual(done);
    w.clock.set((await w.outcome(older))?.dueAt?.getTime() ?? 0);
    await expect(w.attempt(w.flush())).rejects.toThrow(/confirm failed/);
    w.clock.advance(w.timings.weekMs + w.timings.weekMarginMs + w.timings.leaseMs + SECOND);
    await expectDone(w, w.attempt(w.flush()), 3);
    expect((await w.outcome(older))?.outcome).toBe("unknown");
  });
});

describe("a copy after a permanent rejection (dynalite, fake clock)", () => {
  const table = useTable(TABLE);
  const world = ledgerWorlds(table, TABLE, "after-rejection");

  it("a copy that reclaims the slot after the rejecting attempt's lease ran out, between its note-answered and its outcome write, does not send the rejected message again", async () => {
    // Found in review: with note-answered, finish, release in that order and nothing else, a copy
    // that reclaimed the slot once the lease was over (the outcome write slow) re-read no outcome
    // and sent; its send landed and the rejection's `failed` stood. The verdict is now noted on
    // the slot with the answer, and the copy settles from it.
    let copy: Promise<DeliveryResult> | undefined;
    const copyOnWire = latch();
    const copyMayAnswer = latch();
    let armed = true;
    const w = world({
      script: [
        rejected,
        async () => {
          copyOnWire.open();
          await copyMayAnswer.opened;
          return answers.sent;
        },
      ],
      outcomes: (outcomes): OutcomeStore => ({
        ...outcomes,
        finish: async (record) => {
          if (armed && record.outcome === "failed") {
            armed = false;
            // The rejecting attempt's outcome write is slow (SDK retries): its lease runs out.
            w.clock.advance(w.timings.leaseMs + SECOND);
            copy = w.attempt(job, 2);
            // The copy either reaches the wire (the race) or settles from the noted verdict.
            await Promise.race([copyOnWire.opened, copy]);
            const standing = await outcomes.finish(record);
            copyMayAnswer.open();
            return standing;
          }
          return outcomes.finish(record);
        },
      }),
    });
    const job = w.job("rejection-race");
    expect(await w.attempt(job)).toEqual(done);
    expect(await copy).toEqual(done);
    const record = await w.outcome(job);
    // Either nothing went out again, or what landed is not recorded failed.
    expect({ calls: w.bitrix.calls.length, outcome: record?.outcome }).toEqual({
      calls: 1,
      outcome: "failed",
    });
  });

  it("a flush that read the pending events before another flush's digest was rejected, and claims the slot after its release, does not send the rejected events again", async () => {
    // An event re-reads its's outcome once it holds the slot, but a flush never re-reads:
    // its event list is read before its claim. A permanent rejection releases the slot (free),
    // so a concurrent flush (the digest's claim cleared the sweeper's queued-flush mark, so the
    // next sweep may queue one) claims it fresh and resends what was just rejected.
    let f2: Promise<DeliveryResult> | undefined;
    const f2HasRead = latch();
    const d1Released = latch();
    let phase: "idle" | "d1-finishing" | "f2-reading" | "done" = "idle";
    const w = world({
      script: [answers.limited, rejected, answers.sent],
      outcomes: (outcomes): OutcomeStore => ({
        ...outcomes,
        pending: async (key) => {
          const found = await outcomes.pending(key);
          if (phase === "f2-reading") f2HasRead.open();
          return found;
        },
        finish: async (record) => {
          if (phase === "idle" && record.outcome === "failed") {
            phase = "f2-reading";
            f2 = w.attempt(w.flush());
            await f2HasRead.opened;
            phase = "d1-finishing";
          }
          return outcomes.finish(record);
        },
      }),
      slots: (slots) => ({
        ...slots,
        claim: async (key, holder, now, leaseMs) => {
          if (phase === "d1-finishing" || phase === "f2-reading") await d1Released.opened;
          return slots.claim(key, holder, now, leaseMs);
        },
        release: async (attempt, now) => {
          await slots.release(attempt, now);
          if (phase === "d1-finishing") {
            phase = "done";
            d1Released.open();
          }
        },
      }),
    });
    const job = w.job("flush-race");
    expect(await w.attempt(job)).toEqual(done);
    w.clock.set((await w.outcome(job))?.dueAt?.getTime() ?? 0);
    expect(await w.attempt(w.flush())).toEqual(done);
    expect(await f2).toEqual(done);
    expect({ calls: w.bitrix.calls.length, outcome: (await w.outcome(job))?.outcome }).toEqual({
      calls: 2,
      outcome: "failed",
    });
  });
});
