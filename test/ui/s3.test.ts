import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from '../helpers/oci-client.ts';
import { s3Unavailable } from '../helpers/s3.ts';
import { startS3Registry } from '../helpers/s3-registry.ts';
import { Browser, chromiumSkipReason, type Page } from './browser.ts';
import { pushFixture } from './fixtures.ts';

/**
 * The web UI on the s3 driver. Image configs are blobs: with redirects (the s3 default) a blob
 * GET is a 307 to the bucket, which the page's CSP (connect-src 'self') would refuse. The
 * registry answers the page's own fetches (Sec-Fetch-Site: same-origin, set by the browser)
 * with the bytes instead, so the page shows everything either way, and every other client is
 * still redirected.
 */

const skip = s3Unavailable || (await chromiumSkipReason());

async function waitReady(page: Page, hash: string): Promise<void> {
  const state = await page.waitFor<string>(`(() => { const v = document.getElementById('view'); return v && v.dataset.route === ${JSON.stringify(hash)} && v.dataset.state !== 'loading' ? v.dataset.state : ''; })()`);
  assert.equal(state, 'ready', await page.evaluate<string>('document.body.innerText'));
}

for (const redirects of [false, true]) {
  test(`web UI on s3 (${redirects ? 'blob GETs redirected to the bucket' : 'storage.redirect.disable'}): tags, platforms, referrers, layers and config`, { skip, timeout: 240_000 }, async (t) => {
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
    assert.deepEqual(row, { platforms: ['linux/amd64', 'linux/arm64/v8'], created: '2024-03-02 11:30:00 UTC', referrers: '2', bytes: String(fixture.indexSize) });
    await page.screenshot(`s3-${redirects ? 'redirect' : 'streamed'}-tags`);

    const amd64 = fixture.images[0];
    assert.ok(amd64);
    const imageHash = `#/${fixture.repo}@${amd64.manifest.digest}`;
    await page.evaluate(`location.hash = ${JSON.stringify(imageHash)}`);
    await waitReady(page, imageHash);
    assert.deepEqual(await page.evaluate<string[]>(`[...document.querySelectorAll('#layers tbody tr')].map((tr) => tr.dataset.layer)`), amd64.layers.map((l) => l.digest));
    const config = await page.evaluate<string>(`document.getElementById('config').innerText`);
    assert.match(config, /2024-03-01 10:00:00 UTC/);
    // Whatever the CSP refused was never fetched: every request went to the registry.
    assert.deepEqual(page.requests.filter((u) => !u.startsWith(`${url}/`)), []);
    await page.screenshot(`s3-${redirects ? 'redirect' : 'streamed'}-image`);

    // The same blob GET from any other client (no Fetch Metadata, or another site's page) is redirected.
    const configPath = `/v2/${fixture.repo}/blobs/${amd64.config.digest}`;
    for (const headers of [{}, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
      const reply = await send(url, configPath, { headers });
      assert.equal(reply.status, redirects ? 307 : 200, JSON.stringify(headers));
    }
    const own = await send(url, configPath, { headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(own.status, 200);
    assert.deepEqual(own.body, amd64.config.bytes);
  });
}
