import { startTestApp, type TestApp } from '../helpers/test-app';
import { claim, codesNamed, createCampaign, createUniqueList, sleep } from '../helpers/fixtures';


/**
 * A claim batch cut off in the middle of its writes (its connection killed after the assignment
 * insert, during the list's counter update) leaves nothing behind; the claim is run again on a
 * fresh connection and answered once, with exactly the rows its answer names.
 */
describe('a claim batch aborted between its writes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { ROLE: 'api' } });
  });
  afterAll(async () => {
    await t.app.dataSource.query('DROP TRIGGER IF EXISTS claim_move_pause').catch(() => undefined);
    await t.destroy();
  });

  it('commits nothing of the aborted attempt and answers the retried one', async () => {
    const listId = await createUniqueList(t, 'aborted', codesNamed('AB', 10));
    const campaignId = await createCampaign(t, [listId]);
    // The list's counter update (the write after the assignment insert) pauses for this list, so the batch can be cut off there.
    await t.app.dataSource.query(
      `CREATE TRIGGER claim_move_pause BEFORE UPDATE ON coupon_lists FOR EACH ROW
         BEGIN IF OLD.id = ${Number(listId)} AND NEW.assigned_codes <> OLD.assigned_codes THEN DO SLEEP(2); END IF; END`,
    );
    const answer = claim(t, { campaignId, userId: 'cut-off' });
    let killed = false;
    for (let i = 0; i < 200 && !killed; i++) {
      const rows: Array<{ id: string }> = await t.app.dataSource.query(
        `SELECT id FROM information_schema.processlist WHERE (info LIKE 'UPDATE coupon_lists SET claim_cursor%' OR state = 'User sleep') AND db = DATABASE() AND id <> CONNECTION_ID()`,
      );
      if (rows.length > 0) {
        // The attempt inserted its assignment already; it has not committed.
        await t.app.dataSource.query(`KILL CONNECTION ${Number(rows[0].id)}`);
        killed = true;
      } else {
        await sleep(20);
      }
    }
    expect(killed).toBe(true);
    const response = await answer;
    expect(response.errors).toBeUndefined();
    const assignment = response.data.claimCoupon;
    const rows: Array<{ id: string; code: string }> = await t.app.dataSource.query('SELECT id, code FROM coupon_assignments WHERE list_id = ?', [listId]);
    expect(rows).toEqual([{ id: assignment.id, code: assignment.code }]);
    const [list] = await t.app.dataSource.query('SELECT claim_cursor, assigned_codes FROM coupon_lists WHERE id = ?', [listId]);
    expect({ cursor: Number(list.claim_cursor), assigned: Number(list.assigned_codes) }).toEqual({ cursor: 1, assigned: 1 });
    // Operators see the retry and its cause.
    const retries = await t.app.metrics.transactionRetries.get();
    expect(retries.values.find((value) => value.labels.reason === 'connection_lost')?.value).toBeGreaterThanOrEqual(1);
    // The trigger has done its part; the stored assignment is the user's window: claiming again hands it back.
    await t.app.dataSource.query('DROP TRIGGER IF EXISTS claim_move_pause');
    const again = (await claim(t, { campaignId, userId: 'cut-off' })).data.claimCoupon;
    expect({ id: again.id, reused: again.reused }).toEqual({ id: assignment.id, reused: true });
  }, 30_000);
});
