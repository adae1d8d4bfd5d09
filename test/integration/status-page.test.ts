/**
 * The status page (GET /_kccr/ui) in a real browser: Debian's Chromium, driven by playwright-core, against the
 * control service listening on a port, with a real extractor and applier replicating on the plain stack. The page
 * signs in with a read token, shows the replication with its per-shard lag and a throughput chart with points, and
 * shows it STALE once the applier stops reporting. Screenshots go to .test-artifacts/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetClusters, READER_TOKEN, registerPlainClusters, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { bulkLines, startHarness, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName } from '../support/stack.js';

const CHROMIUM = process.env.KCCR_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '..', '..', '.test-artifacts');
/** The applier's report interval here: the page must show STALE within 3 of them, plus its own refresh period. */
const REPORT_MS = 1000;
const PAGE_REFRESH_MS = 2000;

describe('the status page in headless Chromium (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  let browser: Browser;
  let page: Page;
  let base: string;
  const leaderIndex = uniqueName('ui-leader');
  const followerIndex = uniqueName('ui-follower');
  const card = () => page.locator(`article[data-follower-index="${followerIndex}"]`);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (.ci/run does), or set KCCR_CHROMIUM to a Chromium executable`);
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await startHarness(loadStack('plain'), 'ui', { env: { KCCR_STATUS_INTERVAL_MS: String(REPORT_MS) } });
    control = await startControl(h.stack, {
      followerCluster: h.names.followerCluster,
      env: { ...process.env, KCCR_CONTROL_HISTORY_INTERVAL_MS: '500' },
    });
    await registerPlainClusters(control, h.stack, h.names);
    base = await control.app.listen({ host: '127.0.0.1', port: 0 });
    // The flags a closed network needs: no background connections, no first-run work, a fresh profile.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    // A phone-sized window: the page must read there too.
    page = await browser.newPage({ viewport: { width: 412, height: 915 } });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
  });

  it('asks for a credential, refuses a wrong one, and holds no data before', async () => {
    await page.goto(`${base}/_kccr/ui`);
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('article').count()).toBe(0);
    await page.fill('#token', 'kccr_not-a-token');
    await page.click('#login button[type=submit]');
    await page.locator('#error').filter({ hasText: 'did not accept' }).waitFor();
    await page.locator('#login').waitFor({ state: 'visible' });
  });

  it('shows the replication, its per-shard lag and a throughput chart with points', async () => {
    await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
    const start = await control.call('PUT', `/_plugins/_replication/${followerIndex}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: leaderIndex,
    });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    await page.fill('#token', READER_TOKEN);
    await page.click('#login button[type=submit]');
    // Writes over a few seconds, so that the history has several samples with a rate.
    const expected: Record<string, unknown> = {};
    for (let round = 0; round < 8; round++) {
      const docs = Array.from({ length: 25 }, (_, i) => ({ id: `r${round}-${i}`, source: { round, i } }));
      for (const d of docs) expected[d.id] = d.source;
      await h.leader.bulk(bulkLines(leaderIndex, docs), { refresh: true });
      await new Promise((r) => setTimeout(r, 500));
    }
    await waitForDocuments(h.follower, followerIndex, expected);
    await card().and(page.locator('[data-status="SYNCING"]')).waitFor({ timeout: 30_000 });
    expect(await card().locator('table.shards tbody tr').count()).toBe(2);
    await expect
      .poll(async () => Number(await card().locator('svg.chart').getAttribute('data-points')), { timeout: 20_000, interval: 500 })
      .toBeGreaterThanOrEqual(2);
    expect(await card().locator('svg.chart polyline').count()).toBe(1);
    // Caught up: the page's lag per shard is what _status says, 0.
    await expect
      .poll(async () => (await card().locator('table.shards td.lag-operations').allTextContents()).join(','), { timeout: 20_000, interval: 500 })
      .toBe('0,0');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-syncing.png'), fullPage: true });
  });

  it('shows the replication STALE within 3 report intervals of the applier going quiet', async () => {
    // Its last report is written as it stops: from there the row ages.
    await h.applier.stop();
    const stoppedAt = Date.now();
    await card()
      .and(page.locator('[data-status="STALE"]'))
      .waitFor({ timeout: 3 * REPORT_MS + PAGE_REFRESH_MS + 10_000 });
    const seenAfter = Date.now() - stoppedAt;
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-stale.png'), fullPage: true });
    // STALE is declared 3 intervals (at least 3 s) after the last report; the page shows it at its next refresh.
    expect(seenAfter).toBeLessThanOrEqual(Math.max(3 * REPORT_MS, 3000) + PAGE_REFRESH_MS + 2000);
    expect(await card().locator('.status').textContent()).toBe('STALE');
  });
});
