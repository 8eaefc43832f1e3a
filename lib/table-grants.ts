/**
 * The ingest Lambda's actions on the table (without `dynamodb:`): receipts and the outcomes of
 * failed renders are put, never changed or removed; a duplicate reads its jobs' outcomes, and
 * reads asked for together go out as one BatchGetItem (`readItem`). Shared with the test that
 * runs ingest's duplicate path with nothing else allowed (test/integration/ingest.test.ts).
 */
export const INGEST_TABLE_ACTIONS = ["PutItem", "GetItem", "BatchGetItem"] as const;
