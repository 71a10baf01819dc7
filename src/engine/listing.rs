//! Listing resources that belong to streams (ListChannels, ListQueues): the request checks
//! AWS makes (MaxResults 1–10,000, StreamFilter 1–10,000 entries of stream ARNs), the
//! `StreamFilter` match (a resource is listed if its stream matches any entry: the ARN and,
//! when given, the stream's creation time, which tells a re-created stream from its
//! predecessor) and paging by the resource's uid with a signed `NextToken` that resumes after
//! the last uid listed.
//!
//! Invariants: pages hold at most 100 resources, in ascending uid order; a token names its
//! kind (`"<kind>:<uid>"`), so a ListQueues token is refused by ListChannels and the other
//! way round; a resource whose stream is gone never matches a filter.

use crate::engine::EngineInner;
use crate::error::Result;
use crate::kinesis::{messages, names, Constraint, NextToken, ResumeAt, ValidationErrors};

/// The pattern of a `StreamARN` member in the service model.
pub(crate) const STREAM_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";

/// Most resources on one page, whatever MaxResults asks for.
const PAGE_MAX: usize = 100;

/// One `StreamFilter` entry: the stream's ARN and, optionally, its creation time (ms).
pub(crate) type StreamFilterEntry = (String, Option<i64>);

/// A checked list request, ready to page resources of one kind.
pub(crate) struct ByStreamPager<'a> {
    inner: &'a EngineInner,
    kind: &'static str,
    max: usize,
    after: Option<u64>,
    wanted: Option<Vec<StreamFilterEntry>>,
    now: i64,
}

impl<'a> ByStreamPager<'a> {
    /// Check MaxResults and StreamFilter (every violation in one `ValidationException`),
    /// run `settle` (completing status transitions that are due, before anything is listed),
    /// then decode `next_token`, which must be one this kind issued and not expired.
    pub(crate) fn new(
        inner: &'a EngineInner,
        kind: &'static str,
        max_results: Option<u32>,
        stream_filter: Option<Vec<StreamFilterEntry>>,
        next_token: Option<&str>,
        settle: impl FnOnce() -> Result<()>,
    ) -> Result<ByStreamPager<'a>> {
        let max = max_results.unwrap_or(PAGE_MAX as u32);
        let mut e = ValidationErrors::new();
        e.range("maxResults", i128::from(max), 1, 10_000);
        if let Some(f) = &stream_filter {
            if f.is_empty() || f.len() > 10_000 {
                let c = if f.is_empty() { Constraint::MinLength(1) } else { Constraint::MaxLength(10_000) };
                e.push("streamFilter", format!("[{} entries]", f.len()), c);
            }
            for (i, (arn, _)) in f.iter().enumerate() {
                if names::parse_stream_arn(arn).is_none() {
                    e.pattern(&format!("streamFilter.{}.member.streamARN", i + 1), arn, STREAM_ARN_PATTERN);
                }
            }
        }
        e.into_result()?;
        settle()?;
        let now = inner.now_ms();
        let after = match next_token {
            Some(t) => {
                let tok = NextToken::decode(t, &inner.token_key)?;
                tok.check_age(now)?;
                match tok.resume {
                    ResumeAt::Key(k) if tok.stream_uid == 0 => Some(
                        k.strip_prefix(kind)
                            .and_then(|rest| rest.strip_prefix(':'))
                            .and_then(|n| n.parse().ok())
                            .ok_or_else(messages::invalid_next_token)?,
                    ),
                    _ => return Err(messages::invalid_next_token()),
                }
            }
            None => None,
        };
        let max = usize::try_from(max).unwrap_or(PAGE_MAX).min(PAGE_MAX);
        Ok(ByStreamPager { inner, kind, max, after, wanted: stream_filter, now })
    }

    /// The page of `items` (ascending by `uid`) after the token's uid whose streams match the
    /// filter, and the token for the next page if more match.
    pub(crate) fn page<'i, T>(
        &self,
        items: &'i [T],
        uid: impl Fn(&T) -> u64,
        stream_uid: impl Fn(&T) -> u64,
    ) -> Result<(Vec<&'i T>, Option<String>)> {
        debug_assert!(items.windows(2).all(|w| matches!(w, [a, b] if uid(a) < uid(b))), "items ascend by uid");
        let mut page = Vec::new();
        let mut more = false;
        for item in items.iter().filter(|i| self.after.is_none_or(|a| uid(i) > a)) {
            if !self.stream_matches(stream_uid(item)) {
                continue;
            }
            if page.len() == self.max {
                more = true;
                break;
            }
            page.push(item);
        }
        let next_token = match (more, page.last()) {
            (true, Some(last)) => Some(
                NextToken {
                    stream_uid: 0,
                    resume: ResumeAt::Key(format!("{}:{}", self.kind, uid(last))),
                    issued_ms: self.now,
                }
                .encode(&self.inner.token_key)?,
            ),
            _ => None,
        };
        Ok((page, next_token))
    }

    /// True without a filter; with one, if the stream still exists and matches an entry.
    fn stream_matches(&self, stream_uid: u64) -> bool {
        let Some(wanted) = &self.wanted else { return true };
        let Some(h) = self.inner.streams.read().by_uid.get(&stream_uid).cloned() else { return false };
        let created = h.topo.read().meta.created_ms;
        wanted.iter().any(|(arn, ts)| *arn == h.arn && ts.is_none_or(|t| t == created))
    }
}
