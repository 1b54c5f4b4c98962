import type { Client, ClientOptions } from "openapi-fetch";
import type { ErrorBody, ErrorCode, paths } from "./schema.js";
export type * from "./schema.js";
/** A client of every route in the OpenAPI document, typed by path and method. */
export type CouponBookClient = Client<paths>;
export interface CouponBookOptions extends ClientOptions {
    /** Where the service answers, e.g. `http://127.0.0.1:8080` (no trailing path). */
    baseUrl: string;
    /** An API key or a JWT, sent as `Authorization: Bearer <token>`. */
    token?: string;
}
/**
 * A client for one coupon-book service. Every call resolves to `{ data, error,
 * response }`: `data` on a 2xx answer, else `error`, typed as the ErrorBody whose
 * `error.code` is one of the documented ErrorCode values.
 */
export declare function createCouponBookClient(options: CouponBookOptions): CouponBookClient;
/** A failed request as an exception: the answer's status and its typed error body. */
export declare class CouponBookError extends Error {
    readonly status: number;
    readonly code: ErrorCode;
    /** JSON path of the request field at fault, when one is. */
    readonly field: string | null;
    readonly body: ErrorBody;
    constructor(status: number, body: ErrorBody);
}
/** Whether a value is an error body of the service (optionally: with this code). */
export declare function isErrorBody(value: unknown, code?: ErrorCode): value is ErrorBody;
/** What `unwrap` returns: the success body, or `undefined` for a body-less answer (204). */
export type Unwrapped<T> = [
    Exclude<T, undefined>
] extends [never] ? undefined : Exclude<T, undefined>;
/**
 * The data of a successful call, or a thrown CouponBookError (for an answer that is
 * not the service's error body, a CouponBookError with code `internal`).
 */
export declare function unwrap<T>(result: {
    data?: T;
    error?: unknown;
    response: Response;
}): Unwrapped<T>;
