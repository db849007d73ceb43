//! Conditional reads (RFC 7232 as S3 applies it): If-Match and If-Unmodified-Since give
//! 412, If-None-Match and If-Modified-Since give 304. An ETag condition takes precedence
//! over the date condition of the same kind. A 304 carries the object's ETag and
//! Last-Modified, as RFC 7232 asks and S3 does (clients revalidating a cache read them).

use s3s::dto::{ETagCondition, Timestamp};
use s3s::{s3_error, S3Error};

pub struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

fn unix_seconds(ts: &Timestamp) -> i64 {
    time::OffsetDateTime::from(ts.clone()).unix_timestamp()
}

impl ReadConditions<'_> {
    /// `last_modified` is in whole seconds, as the Last-Modified header carries it.
    pub fn check(&self, etag: &str, last_modified: i64) -> Result<(), S3Error> {
        match self.if_match {
            Some(cond) if !matches(cond, etag) => return Err(precondition_failed()),
            Some(_) => {}
            None => {
                if let Some(since) = self.if_unmodified_since {
                    if last_modified > unix_seconds(since) {
                        return Err(precondition_failed());
                    }
                }
            }
        }
        match self.if_none_match {
            Some(cond) if matches(cond, etag) => return Err(not_modified(etag, last_modified)),
            Some(_) => {}
            None => {
                if let Some(since) = self.if_modified_since {
                    if last_modified <= unix_seconds(since) {
                        return Err(not_modified(etag, last_modified));
                    }
                }
            }
        }
        Ok(())
    }
}

fn not_modified(etag: &str, last_modified: i64) -> S3Error {
    let mut e = s3_error!(NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(http::header::ETAG, value);
    }
    let date = time::OffsetDateTime::from_unix_timestamp(last_modified).ok().map(Timestamp::from);
    if let Some(value) = date.as_ref().and_then(super::put::http_date).and_then(|d| d.parse().ok()) {
        headers.insert(http::header::LAST_MODIFIED, value);
    }
    e.set_headers(headers);
    e
}

fn precondition_failed() -> S3Error {
    s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
}

#[cfg(test)]
mod tests {
    use s3s::dto::ETag;

    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).unwrap())
    }

    #[test]
    fn not_modified_names_the_etag_and_last_modified() {
        let hit = ETagCondition::ETag(ETag::Strong("abc".into()));
        let none = ReadConditions {
            if_match: None,
            if_none_match: Some(&hit),
            if_modified_since: None,
            if_unmodified_since: None,
        };
        let e = none.check("abc", 1_000_000_000).unwrap_err();
        let headers = e.headers().unwrap();
        assert_eq!(headers[http::header::ETAG], "\"abc\"");
        assert_eq!(headers[http::header::LAST_MODIFIED], "Sun, 09 Sep 2001 01:46:40 GMT");
    }

    fn check(c: ReadConditions<'_>) -> &'static str {
        match c.check("abc", 1000) {
            Ok(()) => "ok",
            Err(e) if e.code() == &s3s::S3ErrorCode::PreconditionFailed => "412",
            Err(e) if e.code() == &s3s::S3ErrorCode::NotModified => "304",
            Err(_) => "other",
        }
    }

    #[test]
    fn precedence_follows_s3() {
        let hit = ETagCondition::ETag(ETag::Strong("abc".into()));
        let miss = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let none = ReadConditions {
            if_match: None,
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: None,
        };
        assert_eq!(check(ReadConditions { ..none }), "ok");
        assert_eq!(check(ReadConditions { if_match: Some(&hit), ..none }), "ok");
        assert_eq!(check(ReadConditions { if_match: Some(&miss), ..none }), "412");
        assert_eq!(check(ReadConditions { if_match: Some(&ETagCondition::Any), ..none }), "ok");
        assert_eq!(check(ReadConditions { if_none_match: Some(&hit), ..none }), "304");
        assert_eq!(check(ReadConditions { if_none_match: Some(&miss), ..none }), "ok");
        let early = ts(500);
        let late = ts(2000);
        assert_eq!(check(ReadConditions { if_unmodified_since: Some(&early), ..none }), "412");
        assert_eq!(check(ReadConditions { if_unmodified_since: Some(&late), ..none }), "ok");
        assert_eq!(check(ReadConditions { if_modified_since: Some(&late), ..none }), "304");
        assert_eq!(check(ReadConditions { if_modified_since: Some(&early), ..none }), "ok");
        // An ETag match overrides a failing date of the same kind.
        assert_eq!(
            check(ReadConditions { if_match: Some(&hit), if_unmodified_since: Some(&early), ..none }),
            "ok"
        );
        assert_eq!(
            check(ReadConditions { if_none_match: Some(&miss), if_modified_since: Some(&late), ..none }),
            "ok"
        );
    }
}
