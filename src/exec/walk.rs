//! Listing a whole bucket page by page: what the `list` workload does and what `check-list` judges.

use crate::driver::Op;
use crate::exec::Ctx;
use crate::journal::{Assertion, PageEntry, Request};

/// Pages per listing at most, whatever the object count (pages stay small, down to one entry, only in small
/// buckets: each page is a request, and a server may well walk its whole index for each).
const MAX_PAGES: u64 = 24;

/// Pages one walk follows at most: a server that answers "truncated" forever must not keep it going forever.
const MAX_WALK_PAGES: u64 = 20_000;

/// Small pages, but never more than [`MAX_PAGES`] of them.
pub fn page_size(drawn: u64, entries: u64) -> u32 {
    drawn.max(entries.div_ceil(MAX_PAGES)).min(1000) as u32
}

/// Most entries S3 puts on one listing page, and what it sends when no `max-keys` is asked for.
pub const S3_MAX_PAGE: usize = 1000;

/// What the listing page `answered` (starting at entry `start` of `expected`, never past its end) must hold: exactly `page` entries when
/// a page size was asked for, else as many as the server sent up to [`S3_MAX_PAGE`] (S3 promises at most that many,
/// not exactly that many); truncated exactly while entries remain. Returns it and where the next page starts.
pub fn expected_page(
    expected: &[PageEntry],
    start: usize,
    page: Option<u32>,
    answered: &crate::journal::Outcome,
) -> (Assertion, usize) {
    let take = match page {
        Some(page) => page as usize,
        None => answered.listing.as_ref().map_or(0, |l| l.entries.len()).min(S3_MAX_PAGE),
    };
    let end = (start + take).min(expected.len());
    (Assertion::Page { entries: expected[start..end].to_vec(), truncated: end < expected.len() }, end)
}

/// Lists a whole bucket page by page (ListObjectVersions when `versions`, else ListObjectsV2), following the
/// server's continuation; every page must succeed. `page`: the `max-keys` to ask for; `None` asks for none, as most
/// clients do, and takes the server's own page size. Returns the page ops.
pub async fn walk(ctx: &Ctx<'_>, bucket: &str, page: Option<u32>, versions: bool) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut after_op = None;
    for _ in 0..MAX_WALK_PAGES {
        let request = if versions {
            Request::ListObjectVersions { bucket: bucket.to_string(), prefix: None, max_keys: page, after_op }
        } else {
            Request::ListObjectsV2 {
                bucket: bucket.to_string(),
                prefix: None,
                delimiter: None,
                max_keys: page,
                start_after: None,
                after_op,
                url: false,
                fetch_owner: false,
            }
        };
        let op = ctx.call(request).await;
        let ok = ctx.judge(&op, bucket, Assertion::Succeeded).await;
        let more = ok && op.outcome.listing.as_ref().is_some_and(|l| l.truncated) && op.outcome.next_page.is_some();
        after_op = Some(op.index);
        ops.push(op);
        if !more {
            break;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::page_size;

    #[test]
    fn pages_stay_small_but_bounded_in_number() {
        assert_eq!(page_size(3, 10), 3);
        assert_eq!(page_size(3, 12_000), 500);
        assert_eq!(page_size(3, 10_000_000), 1000);
    }
}
