import type { RenderedMessage, WhenLimited } from "../job";
import { DEFAULT_COMMAND_MS, type OperatingBudget, turnCost } from "../pacing";
import type { SendResult, SlotAttempt } from "../ports";
import { type Decision, decideBatch, type GuardedState } from "./decide";
import { apply } from "./effects";
import type { Runtime } from "./runtime";
import { type DeliveryAttempt, done } from "./types";

/**
 * Batch delivery (docs/ledger.md, "Batch delivery"): while a portal has a backlog, event sends
 * that hold their users' slots gather (at most `gatherMs`, at most `maxMessages`, one per user) and
 * go out in one `batch` request, one turn of the portal's bucket. Each message keeps its own slot
 * claim, lease and intent record, and gets its own command's answer as its decision; a lone message
 * goes at once, on its own. Everything here is I/O around `decideBatch`, which decides.
 */

/** How a message's part in a batch ended, for its own path to settle. */
export type BatchOutcome =
  /** Nothing went out for it (no bucket turn, or too late to start): a clean retry. */
  | { kind: "not-sent"; retryAfterMs: number; reason: string }
  /** Its lease was gone when its intent was to be recorded: nothing was sent for it. */
  | { kind: "lease-lost" }
  /** The client threw before the request went out. */
  | { kind: "threw"; error: unknown }
  /** Its command's answer, decided. */
  | { kind: "decided"; decision: Decision };

export interface BatchSettings {
  maxMessages: number;
  gatherMs: number;
  perSecond: number;
  budget: OperatingBudget;
}

interface Entry {
  attempt: SlotAttempt;
  message: RenderedMessage;
  ctx: DeliveryAttempt;
  whenLimited: WhenLimited;
  resolve: (outcome: BatchOutcome) => void;
}

interface Gathering {
  entries: Entry[];
  users: Set<number>;
  openedAt: number;
}

export type Batcher = ReturnType<typeof makeBatcher>;

/** An event's place in its portal's batches: the batcher, and how it leaves the backlog. */
export interface BatchSeat {
  batcher: Batcher;
  leave: () => void;
}

export function makeBatcher(rt: Runtime, settings: BatchSettings) {
  const open = new Map<string, Gathering>();
  /** Event attempts under way that may still join a batch: the backlog, by job id. */
  const underWay = new Map<string, number>();
  let pending = 0;
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const wake of [...waiters]) wake();
  };
  /** What one command costs, as the latest answer showed. */
  let commandMs = DEFAULT_COMMAND_MS;

  /** An event attempt starts: until it joins a batch or ends, gathering waits for it. */
  function expect(jobId: string): () => void {
    underWay.set(jobId, (underWay.get(jobId) ?? 0) + 1);
    pending++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      leave(jobId);
    };
  }
  function leave(jobId: string) {
    const count = underWay.get(jobId) ?? 0;
    if (count <= 0) return;
    if (count === 1) underWay.delete(jobId);
    else underWay.set(jobId, count - 1);
    pending--;
    changed();
  }

  /** Sends `message` in the open batch of its line (or a new one); the caller holds the slot. */
  function send(entry: Omit<Entry, "resolve">, leaveBacklog: () => void): Promise<BatchOutcome> {
    return new Promise((resolve) => {
      const line = entry.attempt.key.openLineCode;
      let gathering = open.get(line);
      if (gathering?.users.has(entry.message.userId)) gathering = undefined;
      if (!gathering) {
        const openedAt = rt.clock.now().getTime();
        const fresh: Gathering = { entries: [], users: new Set(), openedAt };
        gathering = fresh;
        // A second message for one user waits for the next batch (it cannot hold the slot anyway).
        if (!open.has(line)) open.set(line, fresh);
        void run(line, fresh);
      }
      gathering.entries.push({ ...entry, resolve });
      gathering.users.add(entry.message.userId);
      if (gathering.entries.length >= settings.maxMessages && open.get(line) === gathering) {
        open.delete(line);
      }
      leaveBacklog();
    });
  }

  async function run(line: string, gathering: Gathering) {
    try {
      await gather(line, gathering);
      await go(line, gathering.entries);
    } catch (error) {
      for (const entry of gathering.entries) entry.resolve({ kind: "threw", error });
    }
  }

  /** Waits while more messages of the backlog may join, at most `gatherMs` from the first. */
  async function gather(line: string, gathering: Gathering) {
    await new Promise((resolve) => setImmediate(resolve));
    const until = gathering.openedAt + settings.gatherMs;
    const now = () => rt.clock.now().getTime();
    while (
      open.get(line) === gathering &&
      gathering.entries.length < settings.maxMessages &&
      pending > 0 &&
      now() < until
    ) {
      let wake = () => {};
      const joined = new Promise<void>((resolve) => {
        wake = resolve;
        waiters.add(wake);
      });
      await Promise.race([joined, rt.sleep(until - now())]);
      waiters.delete(wake);
      // A clock that stands still (tests) must not spin here: let the others get on.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (open.get(line) === gathering) open.delete(line);
  }

  /** One request for the gathered messages: a bucket turn, each intent, the call, the answers. */
  async function go(line: string, entries: Entry[]) {
    const { clock, timings, client } = rt;
    // The tightest lease and deadline bound the wait for the turn.
    const first = entries.reduce((a, b) => (latest(a) <= latest(b) ? a : b));
    const cost = turnCost(
      { commands: entries.length, commandMs },
      settings.budget,
      settings.perSecond,
    );
    const turn = await rt.reserveTurn(first.attempt.leaseUntil.getTime(), first.ctx, cost);
    if ("retryAfterMs" in turn) {
      const reason = "rate limit: the portal's bucket is booked";
      for (const entry of entries) {
        entry.resolve({ kind: "not-sent", retryAfterMs: turn.retryAfterMs, reason });
      }
      return;
    }
    // No request starts after any carried message's latest safe start.
    const inTime = entries.filter((entry) => {
      if (rt.mayStartUntil(entry.attempt.leaseUntil.getTime(), entry.ctx)()) return true;
      entry.resolve({ kind: "not-sent", retryAfterMs: 0, reason: "too late to start the request" });
      return false;
    });
    // The intents: from these writes on each message may land.
    const sentAt = clock.now().getTime();
    const marked = await Promise.all(
      inTime.map((entry) => rt.slots.markSending(entry.attempt, new Date(sentAt))),
    );
    const going = inTime.filter((entry, index) => {
      if (marked[index]) return true;
      entry.resolve({ kind: "lease-lost" });
      return false;
    });
    if (going.length === 0) return;
    const signal = AbortSignal.any(
      going.map((entry) => rt.untilLeaseEnds(entry.attempt.leaseUntil.getTime())),
    );
    const mayStart = () =>
      going.every((entry) => rt.mayStartUntil(entry.attempt.leaseUntil.getTime(), entry.ctx)());
    let results: SendResult[];
    try {
      results =
        going.length === 1 || !client.sendBatch
          ? [await client.sendNetworkMessage(line, (going[0] as Entry).message, signal, mayStart)]
          : await client.sendBatch(
              line,
              going.map((entry) => entry.message),
              signal,
              mayStart,
            );
    } catch (error) {
      for (const entry of going) entry.resolve({ kind: "threw", error });
      return;
    }
    const operating = client.operating?.();
    if (operating?.commandMs !== undefined && operating.commandMs > 0) {
      commandMs = operating.commandMs;
    }
    const now = clock.now();
    const states = going.map(
      (entry): GuardedState => ({
        attempt: entry.attempt,
        target: { alone: true, whenLimited: entry.whenLimited },
        sentAt,
        failures: turn.failures,
        now,
        timings,
      }),
    );
    const decision = decideBatch(
      {
        messages: states,
        operating,
        budget: settings.budget,
        headroomSeconds: (settings.maxMessages * commandMs) / 1000,
        now,
      },
      results,
    );
    if (decision.portal.length > 0) {
      const portalOnly = { effects: decision.portal, next: { to: "done" } } as const;
      const scope = { targets: { events: [] }, ctx: first.ctx, giveUp: async () => done };
      await apply(rt, portalOnly, scope).catch((error: unknown) => {
        rt.log.warn("could not hold the portal back", { error: String(error) });
      });
    }
    going.forEach((entry, index) => {
      const each = decision.each[index];
      entry.resolve(
        each
          ? { kind: "decided", decision: each }
          : { kind: "threw", error: new Error("no decision") },
      );
    });
  }

  return { expect, send };
}

/** The latest moment a message's request may still start: its lease and its Lambda's deadline. */
const latest = (entry: Entry) => Math.min(entry.attempt.leaseUntil.getTime(), entry.ctx.deadline);
