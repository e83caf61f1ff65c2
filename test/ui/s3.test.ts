import assert from 'node:assert/strict';
import { test } from 'node:test';
import { s3Unavailable } from '../helpers/s3.ts';
import { startS3Registry } from '../helpers/s3-registry.ts';
import { Browser, chromiumSkipReason, type Page } from './browser.ts';
import { pushFixture } from './fixtures.ts';

/**
 * The web UI on the s3 driver. The page reads manifests, tags and referrers from the registry
 * either way. Image configs are blobs: with redirects (the s3 default) a blob GET is a 307 to the
 * bucket, which the page's CSP (connect-src 'self') refuses, so what only the config says
 * (created, an image's platform) is shown as unknown, with the reason; with
 * storage.redirect.disable the registry streams them and the page shows everything.
 */

const skip = s3Unavailable || (await chromiumSkipReason());

async function waitReady(page: Page, hash: string): Promise<void> {
  const state = await page.waitFor<string>(`(() => { const v = document.getElementById('view'); return v && v.dataset.route === ${JSON.stringify(hash)} && v.dataset.state !== 'loading' ? v.dataset.state : ''; })()`);
  assert.equal(state, 'ready', await page.evaluate<string>('document.body.innerText'));
}

for (const redirects of [false, true]) {
  test(`web UI on s3 (${redirects ? 'blob GETs redirected to the bucket' : 'storage.redirect.disable'}): tags, platforms, referrers and layers${redirects ? '; config unreadable, and said so' : ' and config'}`, { skip, timeout: 240_000 }, async (t) => {
    const { url } = await startS3Registry(t, { redirects });
    const fixture = await pushFixture(url);
    const browser = await Browser.launch();
    t.after(() => browser.close());
    const page = await browser.newPage();

    const tagsHash = `#/${fixture.repo}`;
    await page.navigate(`${url}/ui/${tagsHash}`);
    await waitReady(page, tagsHash);
    const row = await page.evaluate<{ platforms: string[]; created: string; referrers: string; bytes: string }>(`(() => {
      const td = document.querySelector('#tags tbody tr[data-tag="v1"]').querySelectorAll('td');
      return { platforms: [...td[3].querySelectorAll('.platform')].map((p) => p.textContent), created: td[5].textContent, referrers: td[6].textContent, bytes: td[4].querySelector('[data-bytes]').dataset.bytes };
    })()`);
    assert.deepEqual(row, { platforms: ['linux/amd64', 'linux/arm64/v8'], created: redirects ? '—' : '2024-03-02 11:30:00 UTC', referrers: '2', bytes: String(fixture.indexSize) });
    await page.screenshot(`s3-${redirects ? 'redirect' : 'streamed'}-tags`);

    const amd64 = fixture.images[0];
    assert.ok(amd64);
    const imageHash = `#/${fixture.repo}@${amd64.manifest.digest}`;
    await page.evaluate(`location.hash = ${JSON.stringify(imageHash)}`);
    await waitReady(page, imageHash);
    assert.deepEqual(await page.evaluate<string[]>(`[...document.querySelectorAll('#layers tbody tr')].map((tr) => tr.dataset.layer)`), amd64.layers.map((l) => l.digest));
    const config = await page.evaluate<string>(`document.getElementById('config').innerText`);
    if (redirects) assert.match(config, /not readable from the browser/);
    else assert.match(config, /2024-03-01 10:00:00 UTC/);
    // Whatever the CSP refused was never fetched: every request went to the registry.
    assert.deepEqual(page.requests.filter((u) => !u.startsWith(`${url}/`)), []);
    await page.screenshot(`s3-${redirects ? 'redirect' : 'streamed'}-image`);
  });
}
