import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/** What a test sees of a command: its class name and input. */
export interface SentCommand {
  name: string;
  input: { ConditionExpression?: string; UpdateExpression?: string };
}

/**
 * A DynamoDB client whose SDK "retries" a write that had applied: the first command that
 * `matches` is sent twice (the first answer lost, as after a timeout or a reset on the way back),
 * and the caller sees only the second answer, typically `ConditionalCheckFailedException` for a
 * conditional write. Every other command passes through.
 */
export function resendingApplied(
  client: DynamoDBClient,
  matches: (command: SentCommand) => boolean,
  times = 1,
): DynamoDBClient {
  let left = times;
  return new Proxy(client, {
    get(target, name, receiver) {
      if (name !== "send") return Reflect.get(target, name, receiver);
      return async (command: { constructor: { name: string }; input: SentCommand["input"] }) => {
        const seen: SentCommand = { name: command.constructor.name, input: command.input };
        // biome-ignore lint/suspicious/noExplicitAny: the SDK's overloaded `send` takes any command
        const send = (c: unknown) => target.send(c as any);
        if (left > 0 && matches(seen)) {
          left--;
          await send(command);
        }
        return send(command);
      };
    },
  });
}

/** The weekly slot's fresh claim (`SlotStore.claim`), as the slot store writes it. */
export const isSlotClaim = (command: SentCommand): boolean =>
  command.name === "UpdateItemCommand" &&
  (command.input.ConditionExpression ?? "").includes("attribute_not_exists(#state)");

/** A partner portal's in-flight marker (`OutcomeStore.begin`). */
export const isInFlightMarker = (command: SentCommand): boolean =>
  command.name === "UpdateItemCommand" &&
  (command.input.ConditionExpression ?? "").includes("attribute_not_exists(attemptToken)");
