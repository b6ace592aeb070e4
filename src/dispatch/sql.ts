/** Query results as plain rows: knex's types lose selected columns once count() is added to a query. */
export type Row = Record<string, unknown>;

export async function rowsOf(q: PromiseLike<unknown>): Promise<Row[]> {
  return (await q) as Row[];
}
