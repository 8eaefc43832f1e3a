import type { EventJob, RenderedMessage } from "../job";
import { DEFAULT_COMMAND_MS, type OperatingBudget, turnCost } from "../pacing";
import type { SendResult, SlotAttempt, SlotKey } from "../ports";
import { type Decision, decideBatch, decideGuarded, type GuardedState } from "./decide";
import { apply } from "./effects";
import { pendingOf, type Runtime } from "./runtime";
import { type DeliveryAttempt, done } from "./types";

/**
 * The quick way out for events whose users' slots are free (docs/ledger.md, "Writes per message"
 * and "Batch delivery"): while a portal has a backlog, such events gather (at most `gatherMs`, at
 * most `maxMessages`, one per user) and go out in one `batch` request, one turn of the portal's
 * bucket; a lone message goes at once, on its own. After the turn, each slot is claimed with its
 * intent in one write; each message keeps its own claim, lease and intent record, and gets its own
 * command's answer as its decision. Everything here is I/O around `decideBatch`, which decides.
 */

/** How a message's part in a request ended, for its own path to settle. */
export type BatchOutcome =
  /** Nothing went out for it and nothing holds its slot (no bucket turn, too late): retry. */
  | { kind: "not-sent"; retryAfterMs: number; reason: string }
  /** Its slot was not free as it looked: the careful path (claim, then intent) takes it. */
  | { kind: "claim-lost" }
  /** Another attempt had settled its job by its last read before the claim: nothing to send. */
  | { kind: "settled" }
  /** A store or the client threw before the request went out (its claim given back). */
  | { kind: "threw"; error: unknown }
  /** Its command's answer, decided, for the attempt that holds its slot. */
  | { kind: "decided"; decision: Decision; attempt: SlotAttempt };

export interface BatchSettings {
  maxMessages: number;
  gatherMs: number;
  perSecond: number;
  budget: OperatingBudget;
}

interface Entry {
  key: SlotKey;
  job: EventJob;
  ctx: DeliveryAttempt;
  resolve: (outcome: BatchOutcome) => void;
}

interface Gathering {
  entries: Entry[];
  users: Set<number>;
  openedAt: number;
}

export type Batcher = ReturnType<typeof makeBatcher>;

/** A bucket turn as the runtime books it: when to send, or how long to come back after. */
export type Turn = Awaited<ReturnType<Runtime["reserveTurn"]>>;

/** An event's place in its portal's batches: the batcher, and how it leaves the backlog. */
export interface BatchSeat {
  batcher: Batcher;
  leave: () => void;
}

/**
 * `batching` absent: every request carries one message, booked as one turn (no batch support,
 * or batching off), through the same claim-with-intent path.
 */
export function makeBatcher(rt: Runtime, batching?: BatchSettings) {
  const maxMessages = batching?.maxMessages ?? 1;
  const gatherMs = batching?.gatherMs ?? 0;
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
  /** Whether this process has booked its portal's first turn yet (`bookFirstTurn`). */
  let bookedFirst = false;

  /** The bucket turns a request of `commands` messages books. */
  const turnCostOf = (commands: number) =>
    batching ? turnCost({ commands, commandMs }, batching.budget, batching.perSecond) : 1;

  /**
   * The first message this process sends to its portal books its bucket turn beside its own
   * reads, one round trip sooner (docs/ledger.md, "A cold process's first message"), if it is
   * alone: asked once the messages that came with it are under way too (after this turn of the
   * event loop), and only when none is. Should the reads send it another way (settled, its slot
   * in use, a digest waiting), the turn goes unused: at most one per process and portal.
   * `undefined` for every other message, and for a client that fetches a token first (OAuth): the
   * token comes before the turn, so the bucket counts the request when it goes.
   */
  async function bookFirstTurn(ctx: DeliveryAttempt): Promise<{ turn: Promise<Turn> } | undefined> {
    if (bookedFirst) return undefined;
    bookedFirst = true;
    await new Promise((resolve) => setImmediate(resolve));
    if (pending !== 1 || rt.client.prepare) return undefined;
    const turn = rt.reserveTurn(rt.clock.now().getTime() + rt.timings.leaseMs, ctx, turnCostOf(1));
    // An unused turn's failure is nobody's; a used one's reaches its message through `go`.
    turn.catch(() => {});
    return { turn };
  }

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

  /**
   * Sends the job in the open batch of its line (or a new one). The caller saw its user's slot
   * free and no digest waiting; the request's claims are made after its bucket turn.
   */
  function send(
    entry: Omit<Entry, "resolve">,
    leaveBacklog: () => void,
    /** The turn `bookFirstTurn` booked beside the caller's reads: the message goes alone on it. */
    firstTurn?: Promise<Turn>,
  ): Promise<BatchOutcome> {
    return new Promise((resolve) => {
      const line = entry.key.openLineCode;
      if (firstTurn) {
        leaveBacklog();
        void run(
          line,
          { entries: [{ ...entry, resolve }], users: new Set(), openedAt: 0 },
          firstTurn,
        );
        return;
      }
      let gathering = open.get(line);
      if (gathering?.users.has(entry.job.userId)) gathering = undefined;
      if (!gathering) {
        const openedAt = rt.clock.now().getTime();
        const fresh: Gathering = { entries: [], users: new Set(), openedAt };
        gathering = fresh;
        // A second message for one user waits for the next batch (it cannot hold the slot anyway).
        if (!open.has(line)) open.set(line, fresh);
        void run(line, fresh);
      }
      gathering.entries.push({ ...entry, resolve });
      gathering.users.add(entry.job.userId);
      if (gathering.entries.length >= maxMessages && open.get(line) === gathering) {
        open.delete(line);
      }
      leaveBacklog();
    });
  }

  async function run(line: string, gathering: Gathering, firstTurn?: Promise<Turn>) {
    try {
      if (!firstTurn) await gather(line, gathering);
      await go(line, gathering.entries, firstTurn);
    } catch (error) {
      for (const entry of gathering.entries) entry.resolve({ kind: "threw", error });
    }
  }

  /** Waits while more messages of the backlog may join, at most `gatherMs` from the first. */
  async function gather(line: string, gathering: Gathering) {
    await new Promise((resolve) => setImmediate(resolve));
    const until = gathering.openedAt + gatherMs;
    const now = () => rt.clock.now().getTime();
    while (
      open.get(line) === gathering &&
      gathering.entries.length < maxMessages &&
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

  /**
   * One request for the gathered messages: a bucket turn, then each slot claimed with its intent
   * in one write, the call, the answers.
   */
  async function go(line: string, entries: Entry[], firstTurn?: Promise<Turn>) {
    const { clock, timings, client, slots } = rt;
    // The tightest deadline bounds the wait for the turn; the leases start after it.
    const first = entries.reduce((a, b) => (a.ctx.deadline <= b.ctx.deadline ? a : b));
    // A copy may have read no outcome before another attempt settled its job: its outcome is read
    // again beside the bucket turn, and once more after a wait for the turn, right before the
    // claim (a copy whose own attempt let the slot go cannot claim it this way at all). A turn
    // that was free at once is no wait, even if the clock moved on meanwhile. A first turn was
    // booked beside the caller's own reads: they are the read beside it.
    const [turn, read] = firstTurn
      ? [await firstTurn, entries]
      : await Promise.all([
          rt.reserveTurn(
            clock.now().getTime() + timings.leaseMs,
            first.ctx,
            turnCostOf(entries.length),
          ),
          readOutcomes(entries),
        ]);
    if ("retryAfterMs" in turn) {
      const reason = "rate limit: the portal's bucket is booked";
      for (const entry of read) {
        entry.resolve({ kind: "not-sent", retryAfterMs: turn.retryAfterMs, reason });
      }
      return;
    }
    const claiming = turn.waited ? await readOutcomes(read) : read;
    // The claims with their intents: from these writes on each message may land, so nothing but
    // the latest-start check stands between them and the request.
    const sentAt = clock.now().getTime();
    const claims = await Promise.allSettled(
      claiming.map((entry) =>
        slots.claimSending(
          entry.key,
          { jobId: entry.job.jobId },
          new Date(sentAt),
          timings.leaseMs,
        ),
      ),
    );
    const held: Held[] = [];
    claims.forEach((claim, index) => {
      const entry = claiming[index] as Entry;
      if (claim.status === "rejected") entry.resolve({ kind: "threw", error: claim.reason });
      else if (!claim.value) entry.resolve({ kind: "claim-lost" });
      else held.push({ entry, attempt: claim.value });
    });
    const checked = await Promise.all(
      held.map(async (one) => {
        if (rt.mayStartUntil(one.attempt.leaseUntil.getTime(), one.entry.ctx)()) return one;
        const reason = "too late to start the request";
        return giveBack(one, { kind: "not-sent", retryAfterMs: 0, reason });
      }),
    );
    const going = checked.filter((one): one is Held => one !== undefined);
    if (going.length === 0) return;
    const signal = AbortSignal.any(
      going.map((one) => rt.untilLeaseEnds(one.attempt.leaseUntil.getTime())),
    );
    const mayStart = () =>
      going.every((one) => rt.mayStartUntil(one.attempt.leaseUntil.getTime(), one.entry.ctx)());
    const messages = going.map((one) => pendingOf(one.entry.job).message);
    let results: SendResult[];
    try {
      results =
        messages.length === 1 || !client.sendBatch
          ? [
              await client.sendNetworkMessage(
                line,
                messages[0] as RenderedMessage,
                signal,
                mayStart,
              ),
            ]
          : await client.sendBatch(line, messages, signal, mayStart);
    } catch (error) {
      // The client throws only before a request goes out: not landed.
      await Promise.all(going.map((one) => giveBack(one, { kind: "threw", error })));
      return;
    }
    const operating = client.operating?.();
    if (operating?.commandMs !== undefined && operating.commandMs > 0) {
      commandMs = operating.commandMs;
    }
    const now = clock.now();
    const states = going.map(
      (one): GuardedState => ({
        attempt: one.attempt,
        target: { alone: true, whenLimited: one.entry.job.whenLimited },
        sentAt,
        failures: turn.failures,
        now,
        timings,
      }),
    );
    const decision = batching
      ? decideBatch(
          {
            messages: states,
            operating,
            budget: batching.budget,
            headroomSeconds: (batching.maxMessages * commandMs) / 1000,
            now,
          },
          results,
        )
      : {
          portal: [],
          each: states.map((state, index) => decideGuarded(state, results[index] ?? NO_ANSWER)),
        };
    if (decision.portal.length > 0) {
      const portalOnly = { effects: decision.portal, next: { to: "done" } } as const;
      const scope = { targets: { events: [] }, ctx: first.ctx, giveUp: async () => done };
      await apply(rt, portalOnly, scope).catch((error: unknown) => {
        rt.log.warn("could not hold the portal back", { error: String(error) });
      });
    }
    going.forEach((one, index) => {
      const each = decision.each[index];
      one.entry.resolve(
        each
          ? { kind: "decided", decision: each, attempt: one.attempt }
          : { kind: "threw", error: new Error("no decision") },
      );
    });
  }

  /**
   * The entries whose job no outcome settles yet, in one read for them all; the others are told
   * (settled). A failed read fails them all (nothing is held yet).
   */
  async function readOutcomes(entries: readonly Entry[]): Promise<Entry[]> {
    let settled: Set<string>;
    try {
      settled = await rt.settledAmong(entries.map((entry) => entry.job));
    } catch (error) {
      for (const entry of entries) entry.resolve({ kind: "threw", error });
      return [];
    }
    return entries.filter((entry) => {
      if (!settled.has(entry.job.jobId)) return true;
      entry.resolve({ kind: "settled" });
      return false;
    });
  }

  /** Nothing was sent for it: the slot goes back (its intent with it), then its path settles. */
  async function giveBack(one: Held, outcome: BatchOutcome): Promise<undefined> {
    try {
      await rt.settleWrite(() => rt.slots.release(one.attempt, rt.clock.now()));
      one.entry.resolve(outcome);
    } catch (error) {
      one.entry.resolve({ kind: "threw", error });
    }
    return undefined;
  }

  return { expect, send, bookFirstTurn };
}

/** A gathered message whose slot the request's claim took. */
interface Held {
  entry: Entry;
  attempt: SlotAttempt;
}

/** A single request the client answered for no command (cannot happen; read as unanswered). */
const NO_ANSWER: SendResult = { kind: "ambiguous", code: "NO_COMMAND_ANSWER" };
