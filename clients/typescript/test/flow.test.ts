// The main flow against a live server (COUPON_BOOK_URL, COUPON_BOOK_TOKEN: an admin
// key), through the package as users import it. scripts/clients.sh test starts one.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import {
  CouponBookError,
  createCouponBookClient,
  isErrorBody,
  unwrap,
} from "coupon-book-client";
import type { ErrorCode, Event } from "coupon-book-client";

function setting(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} must name the server to test (scripts/clients.sh test sets it)`);
  }
  return value;
}

const client = createCouponBookClient({
  baseUrl: setting("COUPON_BOOK_URL"),
  token: setting("COUPON_BOOK_TOKEN"),
});

test("book, codes, assign, lock, redeem once, reverse, events", async () => {
  const run = randomUUID().slice(0, 8).toUpperCase();
  const user = `ts-user-${run}`;

  const book = unwrap(
    await client.POST("/v1/books", {
      body: { name: `TypeScript client ${run}`, status: "active", max_coupons_per_user: 1 },
    }),
  );
  assert.equal(book.status, "active");
  assert.equal(book.counts.total, 0);

  const added = unwrap(
    await client.POST("/v1/books/{book_id}/codes", {
      params: { path: { book_id: book.id } },
      body: { codes: [`ts-${run}-1`, `ts-${run}-2`, `ts-${run}-2`, "x"] },
    }),
  );
  assert.equal(added.inserted, 2);
  assert.equal(added.duplicates_in_file, 1);
  assert.equal(added.invalid, 1);

  const coupon = unwrap(
    await client.POST("/v1/books/{book_id}/assign", {
      params: { path: { book_id: book.id } },
      body: { user_id: user },
    }),
  );
  assert.equal(coupon.status, "assigned");
  assert.equal(coupon.assigned_to, user);
  assert.equal(coupon.code, `TS-${run}-1`, "codes are handed out in creation order, upper-cased");

  const lock = unwrap(
    await client.POST("/v1/coupons/{code}/lock", {
      params: { path: { code: coupon.code } },
      body: { user_id: user },
    }),
  );
  assert.equal(lock.code, coupon.code);
  assert.ok(Date.parse(lock.expires_at) > Date.now(), lock.expires_at);

  const orderKey = `order-${run}`;
  const redeem = () =>
    client.POST("/v1/coupons/{code}/redeem", {
      params: { path: { code: coupon.code }, header: { "Idempotency-Key": orderKey } },
      body: { user_id: user, lock_id: lock.lock_id, metadata: { order: orderKey } },
    });
  const first = await redeem();
  assert.equal(first.response.status, 201);
  const redemption = unwrap(first);
  assert.equal(redemption.status, "redeemed");
  assert.equal(redemption.code, coupon.code);
  assert.deepEqual(redemption.metadata, { order: orderKey });

  // A retry with the same key answers the first redemption again.
  const replay = unwrap(await redeem());
  assert.equal(replay.id, redemption.id);

  // A new redemption is refused with a typed error.
  const second = await client.POST("/v1/coupons/{code}/redeem", {
    params: { path: { code: coupon.code }, header: { "Idempotency-Key": `${orderKey}-again` } },
    body: { user_id: user },
  });
  assert.equal(second.data, undefined);
  assert.equal(second.response.status, 409);
  assert.ok(second.error, "the refusal has an error body");
  const code: ErrorCode = second.error.error.code;
  const expected: ErrorCode = "coupon_already_redeemed"; // a member of the generated union
  assert.equal(code, expected);
  assert.ok(isErrorBody(second.error, "coupon_already_redeemed"));
  assert.throws(
    () => unwrap(second),
    (err: unknown) =>
      err instanceof CouponBookError && err.status === 409 && err.code === "coupon_already_redeemed",
  );

  const reversed = unwrap(
    await client.POST("/v1/redemptions/{redemption_id}/reverse", {
      params: { path: { redemption_id: redemption.id } },
    }),
  );
  assert.equal(reversed.status, "reversed");
  assert.ok(reversed.reversed_at);

  const after = unwrap(
    await client.GET("/v1/coupons/{code}", { params: { path: { code: coupon.code } } }),
  );
  assert.equal(after.redemption_count, 0);

  // Every change is an event, in order; read them all, page by page.
  const events: Event[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const found = unwrap(
      await client.GET("/v1/events", { params: { query: { limit: 1000, after: cursor } } }),
    );
    events.push(...found.data);
    if (!found.next_cursor || found.data.length === 0) {
      break;
    }
    cursor = found.next_cursor;
  }
  const ours = events
    .filter((event) => event.data["code"] === coupon.code || event.data["id"] === book.id)
    .map((event) => event.type);
  for (const type of [
    "book.created",
    "coupon.assigned",
    "coupon.locked",
    "coupon.redeemed",
    "redemption.reversed",
  ]) {
    assert.ok(ours.includes(type), `${type} in ${ours.join(", ")}`);
  }
  assert.ok(
    ours.indexOf("coupon.redeemed") < ours.indexOf("redemption.reversed"),
    ours.join(", "),
  );
});

test("an unknown coupon is a typed 404 and a bad token a typed 401", async () => {
  const missing = await client.GET("/v1/coupons/{code}", {
    params: { path: { code: "NO-SUCH-CODE-404" } },
  });
  assert.equal(missing.response.status, 404);
  assert.equal(missing.error?.error.code, "coupon_not_found");

  const stranger = createCouponBookClient({
    baseUrl: setting("COUPON_BOOK_URL"),
    token: "not-a-key-of-this-server",
  });
  const refused = await stranger.GET("/v1/books", {});
  assert.equal(refused.response.status, 401);
  assert.equal(refused.error?.error.code, "unauthenticated");
});
