/**
 * What the browser page (`page.ts`) leaves on `window.__roam` for `browser.test.ts` to read:
 * plain JSON, so it crosses from the page to Node unchanged (bigints are written as strings).
 */

/** One thing the page checked. */
export interface PageCheck {
  readonly name: string;
  readonly ok: boolean;
  /** What was seen, or what went wrong. */
  readonly detail: string;
}

/** The page's whole run. */
export interface PageResult {
  /** Every check passed and nothing threw. */
  readonly ok: boolean;
  readonly checks: readonly PageCheck[];
  /** What threw out of the run, if anything did. */
  readonly error?: string;
}

/** The global the page writes its result to. */
export const RESULT_GLOBAL = "__roam";
