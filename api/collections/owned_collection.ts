import { AppError, type CollectionRow, type Queryable } from "@semantik/shared";

/** Whose collection to read. */
export interface OwnedCollectionOptions {
  /** The user who must own the collection. */
  userId: string;
  /** The collection's id. */
  collectionId: string;
}

/** The collection if it exists and belongs to `userId`: 404 when missing, 403 when not theirs. */
export async function getOwnedCollection(
  db: Queryable,
  { userId, collectionId: id }: OwnedCollectionOptions,
): Promise<CollectionRow> {
  const [row] = await db.query<CollectionRow>("select * from collections where id = $1", [id]);
  if (!row) throw new AppError("not_found", `Collection ${id} does not exist`);
  if (row.owner_id !== userId) {
    throw new AppError("forbidden", `Collection ${id} belongs to another user`);
  }
  return row;
}
