import assert from "node:assert/strict";
import { bytesOf, concat, lacing, oggPage } from "../../relay/_testing.ts";
import { oggPackets, oggPages } from "./_testing.ts";
import {
  FLAG_BOS,
  FLAG_CONTINUED,
  FLAG_EOS,
  isPageIntact,
  NO_GRANULE,
  OggPager,
  PAGE_HEADER_BYTES,
  type PageHead,
  pageHead,
  sealPage,
  setPageFields,
} from "./_ogg_pages.ts";

function head(page: Uint8Array): PageHead {
  const h = pageHead(page, 0);
  assert.ok(typeof h === "object");
  return h;
}

Deno.test("pageHead() reads a page's fields and says when its header is short or absent", () => {
  const page = oggPage({
    flags: FLAG_BOS,
    granule: 1234n,
    serial: 77,
    seq: 5,
    body: bytesOf("hello"),
  });
  assert.deepEqual(head(page), {
    pageBytes: PAGE_HEADER_BYTES + 1 + 5,
    flags: FLAG_BOS,
    granule: 1234n,
    serial: 77,
    seq: 5,
    segments: 1,
  });
  assert.equal(pageHead(page.subarray(0, 20), 0), "short");
  assert.equal(pageHead(bytesOf("OggX" + "\0".repeat(40)), 0), undefined);
  const v1 = page.slice();
  v1[4] = 1;
  assert.equal(pageHead(v1, 0), undefined);
});

Deno.test("isPageIntact() and sealPage() agree with an independent Ogg CRC", () => {
  const page = oggPage({ granule: 99n, serial: 1, seq: 2, body: new Uint8Array(3000).fill(7) });
  assert.ok(isPageIntact(page));
  const copy = page.slice();
  copy[100] ^= 1;
  assert.ok(!isPageIntact(copy));
  // Rewriting the fields and sealing gives the page the reference builder makes.
  const rewritten = page.slice();
  setPageFields(rewritten, { serial: 0xfeedbeef, seq: 41, flags: FLAG_EOS });
  sealPage(rewritten);
  const expected = oggPage({
    flags: FLAG_EOS,
    granule: 99n,
    serial: 0xfeedbeef,
    seq: 41,
    body: new Uint8Array(3000).fill(7),
  });
  assert.deepEqual(rewritten, expected);
});

Deno.test("OggPager packs packets into valid pages: lacing, continuation, granules, BOS and EOS", () => {
  const pager = new OggPager(4242);
  const sizes = [100, 255, 510, 0, 140_000, 30, 20_000];
  const packets = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
  const pages: Uint8Array[] = [];
  let granule = 0n;
  for (const packet of packets) {
    granule += 1000n;
    pages.push(...pager.add(packet, granule));
  }
  pages.push(pager.flush({ eos: true })!);
  assert.equal(pager.flush(), undefined);
  assert.equal(pager.pageCount, pages.length);
  assert.deepEqual(oggPackets(oggPages(concat(...pages))), packets);
  for (const [i, page] of pages.entries()) {
    const h = head(page);
    assert.ok(isPageIntact(page), `page ${i} CRC`);
    assert.equal(h.pageBytes, page.length);
    assert.equal(h.serial, 4242);
    assert.equal(h.seq, i);
    assert.equal((h.flags & FLAG_BOS) !== 0, i === 0);
    assert.equal((h.flags & FLAG_EOS) !== 0, i === pages.length - 1);
    const lace = [...page.subarray(PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + h.segments)];
    // No packet ends on a page whose lacing values are all 255: it has no granule.
    if (lace.every((n) => n === 255)) assert.equal(h.granule, NO_GRANULE);
    else assert.ok(h.granule > 0n);
    if (i > 0) {
      const prev = pages[i - 1];
      const prevLast = prev[PAGE_HEADER_BYTES + prev[26] - 1];
      assert.equal((h.flags & FLAG_CONTINUED) !== 0, prevLast === 255, `page ${i} continued`);
    }
  }
  // The 510-byte packet needs a closing 0 lacing value; the 140000-byte one fills a page whole.
  assert.deepEqual(lacing([packets[2]]), [255, 255, 0]);
  assert.ok(pages.some((p) => head(p).granule === NO_GRANULE));
  assert.equal(head(pages.at(-1)!).granule, granule);
});
