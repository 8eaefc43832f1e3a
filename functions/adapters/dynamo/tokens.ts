import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { StoredTokens, TokenStore } from "../../core/ports";
import { applied, type Item, keys, num, str } from "./table";

/**
 * OAuth tokens as one `TOKEN#<portal>` item per portal: `accessToken`, `accessExpiresAt`,
 * `refreshToken`, `version`, `refreshedAt`; `refreshHolder` and `refreshUntil` while one worker
 * refreshes; `lastError` and `failingSince` while refreshing fails. No TTL: the refresh token is
 * the portal's only way in. Tokens are secrets: never logged, never returned in an error.
 *
 * @example const tokens = makeDynamoTokenStore(client, "hookline");
 */
export function makeDynamoTokenStore(client: DynamoDBClient, tableName: string): TokenStore {
  const key = (portal: string) => keys.token(portal);

  const conditional = (command: UpdateItemCommand | PutItemCommand) => applied(client, command);

  return {
    async read(portal) {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: key(portal), ConsistentRead: true }),
      );
      return Item ? fromItem(Item) : undefined;
    },

    async seed(portal, refreshToken, now) {
      await conditional(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            ...key(portal),
            accessToken: str(""),
            accessExpiresAt: num(0),
            refreshToken: str(refreshToken),
            version: num(0),
            refreshedAt: num(0),
            seededAt: num(now.getTime()),
          },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
    },

    takeRefresh(portal, version, holder, now, leaseMs) {
      return conditional(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key(portal),
          UpdateExpression: "SET refreshHolder = :holder, refreshUntil = :until",
          ConditionExpression:
            "version = :version AND (attribute_not_exists(refreshUntil) OR refreshUntil <= :now)",
          ExpressionAttributeValues: {
            ":holder": str(holder),
            ":until": num(now.getTime() + leaseMs),
            ":version": num(version),
            ":now": num(now.getTime()),
          },
        }),
      );
    },

    commitRefresh(portal, version, tokens, now) {
      return conditional(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key(portal),
          // Both tokens in the one write: a rotated refresh token is never stored without its
          // access token, nor the other way round.
          UpdateExpression:
            "SET accessToken = :access, refreshToken = :refresh, accessExpiresAt = :expires, " +
            "refreshedAt = :now, version = version + :one " +
            "REMOVE refreshHolder, refreshUntil, lastError, failingSince",
          // Fenced by the version whose refresh token was spent, not by the lease: a slow
          // holder's rotated token is the only live one and is always kept.
          ConditionExpression: "version = :version",
          ExpressionAttributeValues: {
            ":access": str(tokens.accessToken),
            ":refresh": str(tokens.refreshToken),
            ":expires": num(tokens.accessExpiresAt),
            ":now": num(now.getTime()),
            ":one": num(1),
            ":version": num(version),
          },
        }),
      );
    },

    async failRefresh(portal, holder, error, now) {
      await conditional(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key(portal),
          UpdateExpression:
            "SET lastError = :error, failingSince = if_not_exists(failingSince, :now) " +
            "REMOVE refreshHolder, refreshUntil",
          ConditionExpression: "refreshHolder = :holder",
          ExpressionAttributeValues: {
            ":error": str(error.slice(0, 100)),
            ":now": num(now.getTime()),
            ":holder": str(holder),
          },
        }),
      );
    },

    async replace(portal, tokens, now) {
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key(portal),
          UpdateExpression:
            "SET accessToken = :access, refreshToken = :refresh, accessExpiresAt = :expires, " +
            "refreshedAt = :now, version = if_not_exists(version, :zero) + :one " +
            "REMOVE refreshHolder, refreshUntil, lastError, failingSince",
          ExpressionAttributeValues: {
            ":access": str(tokens.accessToken ?? ""),
            ":refresh": str(tokens.refreshToken),
            ":expires": num(tokens.accessExpiresAt ?? 0),
            ":now": num(now.getTime()),
            ":zero": num(0),
            ":one": num(1),
          },
        }),
      );
    },
  };
}

function fromItem(item: Item): StoredTokens {
  const tokens: StoredTokens = {
    accessToken: item.accessToken?.S ?? "",
    accessExpiresAt: Number(item.accessExpiresAt?.N ?? 0),
    refreshToken: item.refreshToken?.S ?? "",
    version: Number(item.version?.N ?? 0),
    refreshedAt: Number(item.refreshedAt?.N ?? 0),
  };
  const holder = item.refreshHolder?.S;
  if (holder) tokens.refreshing = { holder, until: Number(item.refreshUntil?.N ?? 0) };
  if (item.lastError?.S) tokens.lastError = item.lastError.S;
  if (item.failingSince?.N) tokens.failingSince = Number(item.failingSince.N);
  return tokens;
}
