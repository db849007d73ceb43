//! Browser uploads (POST object with a form) as S3 takes them, where s3s does otherwise:
//! - `${filename}` in the `key` field becomes the file's own name, before the policy's
//!   conditions are checked (s3s checks them against the literal text);
//! - a policy document S3 cannot read is 400 (an expiration that is not ISO 8601, `EXPIRATION`
//!   or `CONDITIONS` in other cases, an empty condition, a content-length-range that is not
//!   two numbers from 0), as is a form with a policy but no signature;
//! - a checksum field (`x-amz-checksum-<algorithm>`) needs no condition of its own in the
//!   policy (s3s wants one for every field); the handler verifies it;
//! - the ETag s3s adds to a `success_action_redirect` URL is quoted, as S3's is;
//! - a `tagging` field (a Tagging document) tags the object (s3s reads only an
//!   `x-amz-tagging` field, in the header's form);
//! - a form that names a field twice is 400 (s3s would take the last, this layer the
//!   first: no two readings of one form).
//!
//! Only the form's fields (before the file part, as S3 requires) are read here, at most
//! [`MAX_FIELDS`] bytes of them; the file streams on untouched.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt as _;

/// The most form bytes read before the file part.
const MAX_FIELDS: usize = 1 << 20;
/// The most fields read before the file part (s3s takes at most 1,000 parts).
const MAX_FORM_FIELDS: usize = 1000;

/// A checksum the form sent, for the handler to verify: (`x-amz-checksum-<algorithm>`,
/// its value).
#[derive(Clone, Debug)]
pub struct PostChecksum(pub String, pub String);

/// The form's `tagging` field (a Tagging document, which s3s does not read), for the
/// handler to parse.
#[derive(Clone, Debug)]
pub struct PostTagging(pub Vec<u8>);

/// One field of the form: its lowercase name and where its value lies in the bytes read.
struct Field {
    name: String,
    name_at: std::ops::Range<usize>,
    value_at: std::ops::Range<usize>,
}

/// The fields before the file part, and where the file part's own headers end.
struct Form {
    fields: Vec<Field>,
    filename: Option<String>,
}

fn boundary(request: &Request) -> Option<String> {
    let content_type = request.headers().get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary").then(|| v.trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// A Content-Disposition parameter (`name`, `filename`), unquoted, from the part's last
/// Content-Disposition (as s3s reads it).
fn disposition_param(headers: &str, param: &str) -> Option<String> {
    let line = headers.lines().rfind(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case(param).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The next delimiter line at or after `from`: `\r\n--<boundary>` followed by CRLF (or by
/// `--`, the last one), as the multipart grammar (and s3s) reads it.
fn next_delimiter(bytes: &[u8], delimiter: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let found = find(bytes, delimiter, at)?;
        let after = bytes.get(found + delimiter.len()..found + delimiter.len() + 2)?;
        if after == b"\r\n" || after == b"--" {
            return Some(found);
        }
        at = found + 1;
    }
}

/// Parses the fields in `bytes` up to the file part; `None` until the file part's headers
/// are all there (or when the form is not one this layer reads).
fn parse(bytes: &[u8], boundary: &str) -> Option<Form> {
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter may open the body without the CRLF before it.
    let first = format!("--{boundary}\r\n");
    let mut at = if bytes.starts_with(first.as_bytes()) {
        first.len() - 2
    } else {
        next_delimiter(bytes, delimiter.as_bytes(), 0)? + delimiter.len()
    };
    let mut fields = Vec::new();
    loop {
        // After a delimiter: CRLF, then the part's headers up to a blank line.
        let headers_start = at + 2;
        let headers_end = find(bytes, b"\r\n\r\n", headers_start)?;
        let raw_headers = &bytes[headers_start..headers_end];
        let headers = std::str::from_utf8(raw_headers).ok()?;
        let name = disposition_param(headers, "name").unwrap_or_default();
        let body_start = headers_end + 4;
        // The file is the part named `file` (as s3s finds it).
        if name.eq_ignore_ascii_case("file") {
            return Some(Form { fields, filename: disposition_param(headers, "filename") });
        }
        let next = next_delimiter(bytes, delimiter.as_bytes(), body_start)?;
        // The name as this part's Content-Disposition gives it (quoted, or after `=`).
        let within = |needle: String| find(raw_headers, needle.as_bytes(), 0).map(|i| headers_start + i + 1);
        let name_at = within(format!("\"{name}\"")).or_else(|| within(format!("={name}")))?;
        if fields.len() == MAX_FORM_FIELDS {
            return None; // more than s3s takes: it answers for the form
        }
        fields.push(Field {
            name: name.to_ascii_lowercase(),
            name_at: name_at..name_at + name.len(),
            value_at: body_start..next,
        });
        at = next + delimiter.len();
    }
}

fn bad(code: &str, message: &str) -> Response {
    crate::http::xml_error(http::StatusCode::BAD_REQUEST, code, message, "")
}

/// Why a policy document is not one S3 reads, if it is not.
fn unreadable_policy(policy_b64: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.decode(policy_b64.trim_ascii()).ok()?;
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return None; // s3s says why it cannot read it
    };
    let Some(expiration) = doc.get("expiration") else {
        return Some("Invalid Policy: Policy missing expiration.".into());
    };
    let iso = expiration.as_str().is_some_and(|e| {
        time::OffsetDateTime::parse(e, &time::format_description::well_known::Iso8601::DEFAULT).is_ok()
            && e.len() >= 20
            && e.as_bytes()[10] == b'T'
            && e.ends_with('Z')
    });
    if !iso {
        return Some(format!("Invalid Policy: Invalid 'expiration' value: {expiration}"));
    }
    let Some(serde_json::Value::Array(conditions)) = doc.get("conditions") else {
        return Some("Invalid Policy: Policy missing conditions.".into());
    };
    for condition in conditions {
        let fine = match condition {
            serde_json::Value::Object(map) => !map.is_empty(),
            serde_json::Value::Array(items) => {
                match items.first().and_then(|v| v.as_str()).map(str::to_ascii_lowercase).as_deref() {
                    Some("content-length-range") => {
                        items.len() == 3 && items[1..].iter().all(|v| v.as_u64().is_some())
                    }
                    _ => items.len() == 3,
                }
            }
            _ => false,
        };
        if !fine {
            return Some(format!("Invalid Policy: Invalid Condition: {condition}"));
        }
    }
    None
}

/// Whether some condition of the policy names the field (`$name` or `{"name": ...}`).
fn policy_names(policy_b64: &[u8], field: &str) -> bool {
    use base64::Engine as _;
    let Ok(text) = base64::engine::general_purpose::STANDARD.decode(policy_b64.trim_ascii()) else {
        return true;
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&text) else { return true };
    let Some(conditions) = doc.get("conditions").and_then(|c| c.as_array()) else { return true };
    conditions.iter().any(|c| match c {
        serde_json::Value::Object(map) => map.keys().any(|k| k.eq_ignore_ascii_case(field)),
        serde_json::Value::Array(items) => items
            .get(1)
            .and_then(|v| v.as_str())
            .is_some_and(|v| v.strip_prefix('$').is_some_and(|n| n.eq_ignore_ascii_case(field))),
        _ => false,
    })
}

pub async fn layer(request: Request, next: Next) -> Response {
    let to_bucket = request.method() == http::Method::POST && request.uri().query().is_none_or(str::is_empty);
    let Some(boundary) = boundary(&request).filter(|_| to_bucket) else { return next.run(request).await };
    let (mut parts, body) = request.into_parts();
    let mut body = body.into_data_stream();
    let mut read = Vec::new();
    // A part's headers end with a blank line: the fields are parsed again only when one
    // may have ended, or every 4 KiB, so a form sent a byte at a time costs little.
    let (mut parsed_at, mut searched) = (usize::MAX, 0usize);
    let form = loop {
        // Only the bytes not searched yet (and the 3 before, for a blank line cut in two).
        let ends_headers = find(&read, b"\r\n\r\n", searched.saturating_sub(3)).is_some();
        searched = read.len();
        if parsed_at == usize::MAX || ends_headers || read.len() >= parsed_at + 4096 {
            parsed_at = read.len();
            if let Some(form) = parse(&read, &boundary) {
                break Some(form);
            }
        }
        if read.len() > MAX_FIELDS {
            break None;
        }
        match body.next().await {
            Some(Ok(chunk)) => read.extend_from_slice(&chunk),
            // The body ended or broke: s3s answers for it.
            Some(Err(e)) => {
                let rest = futures::stream::iter([Ok(Bytes::from(read)), Err(e)]);
                return next.run(Request::from_parts(parts, Body::from_stream(rest))).await;
            }
            None => break None,
        }
    };
    let Some(form) = form else {
        let rest = futures::stream::iter([Ok::<_, axum::Error>(Bytes::from(read))]).chain(body);
        return next.run(Request::from_parts(parts, Body::from_stream(rest))).await;
    };
    for (i, field) in form.fields.iter().enumerate() {
        if form.fields[..i].iter().any(|f| f.name == field.name) {
            return bad(
                "InvalidArgument",
                &format!("The form names the field {} more than once.", field.name),
            );
        }
    }
    let value = |name: &str| form.fields.iter().find(|f| f.name == name).map(|f| &read[f.value_at.clone()]);
    if let Some(policy) = value("policy") {
        if let Some(why) = unreadable_policy(policy) {
            return bad("InvalidPolicyDocument", &why);
        }
        if value("signature").is_none() && value("x-amz-signature").is_none() {
            return bad("InvalidArgument", "Bucket POST must contain a field named 'Signature'.");
        }
    }
    if let Some(tagging) = value("tagging") {
        parts.extensions.insert(PostTagging(tagging.to_vec()));
    }
    // Edits to the bytes read, from the last to the first so that ranges stay valid.
    let mut edits: Vec<(std::ops::Range<usize>, Vec<u8>)> = Vec::new();
    if let (Some(key), Some(filename)) = (form.fields.iter().find(|f| f.name == "key"), &form.filename) {
        let text = String::from_utf8_lossy(&read[key.value_at.clone()]).into_owned();
        if text.contains("${filename}") {
            edits.push((key.value_at.clone(), text.replace("${filename}", filename).into_bytes()));
        }
    }
    let checksums: Vec<&Field> = form
        .fields
        .iter()
        .filter(|f| f.name.starts_with("x-amz-checksum-") && f.name != "x-amz-checksum-algorithm")
        .collect();
    if checksums.len() > 1 {
        return bad("InvalidRequest", "Expecting a single x-amz-checksum- field in the form.");
    }
    for field in checksums {
        if !value("policy").is_some_and(|p| policy_names(p, &field.name)) {
            let sent = String::from_utf8_lossy(&read[field.value_at.clone()]).into_owned();
            parts.extensions.insert(PostChecksum(field.name.clone(), sent));
            edits.push((field.name_at.clone(), format!("x-ignore-rucket-{}", field.name).into_bytes()));
        }
    }
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let before = read.len();
    for (range, replacement) in edits {
        read.splice(range, replacement);
    }
    if let Some(length) = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
        if let Ok(length) = length.parse::<i64>() {
            let adjusted = length + read.len() as i64 - before as i64;
            parts.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(adjusted.max(0)));
        }
    }
    let rest = futures::stream::iter([Ok::<_, axum::Error>(Bytes::from(read))]).chain(body);
    let response = next.run(Request::from_parts(parts, Body::from_stream(rest))).await;
    if response.status() == http::StatusCode::SEE_OTHER {
        return quoted_etag(response);
    }
    response
}

/// s3s's 303 (to the redirect URL the policy allowed) adds the ETag unquoted; S3 quotes it.
/// s3s appends `bucket`, `key` and `etag` last; only `etag`'s value changes.
fn quoted_etag(mut response: Response) -> Response {
    let Some(location) = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return response;
    };
    let Some((before, etag)) = location.rsplit_once("&etag=") else { return response };
    if etag.contains('&') || etag.starts_with("%22") {
        return response;
    }
    if let Ok(value) = http::HeaderValue::from_str(&format!("{before}&etag=%22{etag}%22")) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_before_the_file_are_found_with_the_files_name() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n--XX\r\n\
Content-Disposition: form-data; name=\"Policy\"\r\n\r\nabc\r\n--XX\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\nContent-Type: text/plain\r\n\r\nDATA";
        let form = parse(body, "XX").unwrap();
        assert_eq!(form.filename.as_deref(), Some("a b.txt"));
        let names: Vec<_> = form.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["key", "policy"]);
        assert_eq!(&body[form.fields[0].value_at.clone()], b"up/${filename}");
        assert_eq!(&body[form.fields[1].name_at.clone()], b"Policy");
        // Not all there yet: the file part's headers are cut.
        assert!(parse(&body[..body.len() - 30], "XX").is_none());
        // A line that starts like the delimiter but goes on is part of the value.
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"x-amz-meta-a\"\r\n\r\none\r\n--XXZZ\r\nContent-Disposition: form-data; name=\"success_action_redirect\"\r\n\r\nhttp://evil/\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nDATA";
        let form = parse(body, "XX").unwrap();
        assert_eq!(form.fields.len(), 1);
        assert!(body[form.fields[0].value_at.clone()].ends_with(b"http://evil/"));
        // Headers that are not UTF-8, or a name not found in them, are not a form read here.
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"x-amz-checksum-\xff\"\r\n\r\nv\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nDATA";
        assert!(parse(body, "XX").is_none());
    }

    #[test]
    fn the_redirect_etag_is_quoted() {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = http::StatusCode::SEE_OTHER;
        let location = "http://x/done?a=1&bucket=b&key=k&etag=abc";
        response.headers_mut().insert(http::header::LOCATION, http::HeaderValue::from_static(location));
        let response = quoted_etag(response);
        assert_eq!(
            response.headers()[http::header::LOCATION],
            "http://x/done?a=1&bucket=b&key=k&etag=%22abc%22"
        );
    }

    #[test]
    fn policies_s3_cannot_read() {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::STANDARD.encode(v.to_string());
        let fine = serde_json::json!({"expiration": "2030-01-01T00:00:00.000Z", "conditions": [
            {"bucket": "b"}, ["starts-with", "$key", ""], ["content-length-range", 0, 10]]});
        assert_eq!(unreadable_policy(b64(fine).as_bytes()), None);
        for bad in [
            serde_json::json!({"expiration": "2030-01-01 00:00:00+00:00", "conditions": []}),
            serde_json::json!({"EXPIRATION": "2030-01-01T00:00:00Z", "conditions": []}),
            serde_json::json!({"expiration": "2030-01-01T00:00:00Z", "CONDITIONS": []}),
            serde_json::json!({"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]}),
            serde_json::json!({"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 0]]}),
            serde_json::json!({"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 0]]}),
        ] {
            assert!(unreadable_policy(b64(bad.clone()).as_bytes()).is_some(), "{bad}");
        }
    }
}
