//! Request authentication (Kinesis and the Lambda API on the same port), in Kinesis' order
//! and wording (kinesis-behaviour §10.1).
//!
//! By default a request must *carry* SigV4 authentication (an `Authorization` header with
//! `Credential`, `SignedHeaders` and `Signature`, plus `X-Amz-Date` or `Date`; or the
//! `X-Amz-*` query parameters of a presigned request), which is not verified — any
//! credentials work, as with other local emulators. With `--verify-sigv4` the header
//! signature is verified against the configured key pair (AWS Signature Version 4,
//! `AWS4-HMAC-SHA256`, service `kinesis` or `lambda`, the server's region, at most 15 minutes
//! of clock skew either way); presigned query-string requests are refused in that mode.
//!
//! Verification binds everything a replay could change: the expected signature is computed
//! by the `aws-sigv4` crate (the SDK's own signer, not a second canonicaliser) over the
//! headers the client listed as signed and the SHA-256 of the body *as received*. `host`
//! (or `:authority` on HTTP/2), `x-amz-date` and, for Kinesis, `x-amz-target` (which names
//! the operation; the Lambda API names it in the signed path) must be among the signed
//! headers (`IncompleteSignatureException`); an `x-amz-content-sha256` header must be the
//! body's real hash, and `UNSIGNED-PAYLOAD` (or a streaming payload) is refused
//! (`InvalidSignatureException`). All signature errors are HTTP 400 with a JSON `__type` in
//! the request's codec (the content type is known by then).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::protocol::errors::ApiError;

/// The key pair requests must be signed with (`--verify-sigv4`).
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// The region the credential scope must name.
    pub region: String,
}

/// Largest accepted clock skew of a signed request.
const MAX_SKEW_SECS: i64 = 15 * 60;

/// A request as authentication sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The service the credential scope must name when verifying (`kinesis`, `lambda`).
    pub service: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The request path.
    pub path: &'a str,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The authority (`Host` header, or the HTTP/2 `:authority`): a signature over `host` or
    /// over the `:authority` pseudo-header (as the AWS SDK for JavaScript v3 signs HTTP/2
    /// requests) is checked against it.
    pub host: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The body as received.
    pub body: &'a [u8],
}

/// Check the authentication of `req`, verifying its signature when `verifier` is given.
pub fn check(req: &Request<'_>, verifier: Option<&Verifier>) -> Result<(), ApiError> {
    let Request { query, headers, .. } = *req;
    let auth = headers.get(http::header::AUTHORIZATION).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let params = query.map(parse_query).unwrap_or_default();
    let has_query_auth = params.iter().any(|(k, _)| k == "X-Amz-Algorithm");
    match (&auth, has_query_auth) {
        (Some(_), true) => {
            return Err(ApiError::invalid_signature(
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
            ))
        }
        (None, false) => return Err(ApiError::missing_authentication_token()),
        _ => {}
    }
    let Some(auth) = auth else {
        let mut msg = String::new();
        for p in ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"] {
            if !params.iter().any(|(k, v)| k == p && !v.is_empty()) {
                msg.push_str(&format!("AWS query-string parameters must include '{p}'. "));
            }
        }
        if !msg.is_empty() {
            msg.push_str("Re-examine the query-string parameters.");
            return Err(ApiError::incomplete_signature(msg));
        }
        if verifier.is_some() {
            return Err(ApiError::invalid_signature(
                "This endpoint verifies signatures in the Authorization header only; sign the request with a header.",
            ));
        }
        return Ok(());
    };
    let parsed = AuthHeader::parse(&auth);
    let mut msg = String::new();
    for (name, v) in [
        ("Credential", &parsed.credential),
        ("Signature", &parsed.signature),
        ("SignedHeaders", &parsed.signed_headers),
    ] {
        if v.as_deref().is_none_or(str::is_empty) {
            msg.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    let amz_date = header_str(headers, "x-amz-date");
    if amz_date.is_none() && header_str(headers, "date").is_none() {
        msg.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
    }
    if !msg.is_empty() {
        msg.push_str(&format!("Authorization={auth}"));
        return Err(ApiError::incomplete_signature(msg));
    }
    let Some(v) = verifier else { return Ok(()) };
    verify(v, req, &parsed, amz_date.as_deref())
}

/// The parameters of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` header.
#[derive(Debug, Default)]
struct AuthHeader {
    algorithm: String,
    credential: Option<String>,
    signed_headers: Option<String>,
    signature: Option<String>,
}

impl AuthHeader {
    fn parse(h: &str) -> AuthHeader {
        let mut parts = h.split([',', ' ']).filter(|s| !s.is_empty());
        let mut out = AuthHeader { algorithm: parts.next().unwrap_or("").to_string(), ..AuthHeader::default() };
        for p in parts {
            let (k, v) = p.trim().split_once('=').unwrap_or((p, ""));
            match k {
                "Credential" => out.credential = Some(v.to_string()),
                "SignedHeaders" => out.signed_headers = Some(v.to_string()),
                "Signature" => out.signature = Some(v.to_string()),
                _ => {}
            }
        }
        out
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Headers every verified signature must cover, with the name AWS uses in its message:
/// without them a signature could be replayed with another operation (`x-amz-target`), at
/// another time (`x-amz-date`) or against another endpoint (`host`).
const REQUIRED_SIGNED: [(&str, &str); 3] =
    [("host", "'Host' or ':authority'"), ("x-amz-date", "'X-Amz-Date'"), ("x-amz-target", "'X-Amz-Target'")];

/// `x-amz-content-sha256` values that do not bind the body; refused when verifying (the
/// body is always hashed as received).
const UNBOUND_PAYLOADS: [&str; 4] = [
    "UNSIGNED-PAYLOAD",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
];

/// Verify a header signature: the scope and the clock skew first (AWS' messages), then the
/// signature the `aws-sigv4` crate computes over the headers the client listed as signed
/// (which must include `host`, `x-amz-date` and `x-amz-target`) and the SHA-256 of the body
/// as received — never a hash the client supplies.
fn verify(v: &Verifier, req: &Request<'_>, auth: &AuthHeader, amz_date: Option<&str>) -> Result<(), ApiError> {
    let Request { service: expected_service, headers, body, .. } = *req;
    if auth.algorithm != "AWS4-HMAC-SHA256" {
        return Err(ApiError::incomplete_signature(format!("Unsupported AWS 'algorithm': '{}'.", auth.algorithm)));
    }
    let credential = auth.credential.as_deref().unwrap_or("");
    let scope: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = scope.as_slice() else {
        return Err(ApiError::incomplete_signature(format!(
            "Credential should have 5 slash-separated parts: Credential={credential}"
        )));
    };
    if *akid != v.access_key {
        return Err(ApiError::unrecognized_client());
    }
    let signed_headers = auth.signed_headers.as_deref().unwrap_or("");
    let signed: Vec<&str> = signed_headers.split(';').collect();
    for (name, shown) in REQUIRED_SIGNED {
        // Over HTTP/2 the AWS SDK for JavaScript v3 signs `:authority` instead of `host`;
        // the Lambda API has no target header (its operation is in the signed path).
        let covered = signed.contains(&name)
            || (name == "host" && signed.contains(&":authority"))
            || (name == "x-amz-target" && expected_service != "kinesis");
        if !covered {
            return Err(ApiError::incomplete_signature(format!(
                "{shown} must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    let Some(amz_date) = amz_date else {
        return Err(ApiError::incomplete_signature("Signature verification needs an 'X-Amz-Date' header."));
    };
    let Some(signed_at) = parse_amz_date(amz_date) else {
        return Err(ApiError::incomplete_signature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    if amz_date.get(..8) != Some(*date) {
        return Err(ApiError::invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.",
            amz_date.get(..8).unwrap_or("")
        )));
    }
    if *region != v.region {
        return Err(ApiError::invalid_signature(format!(
            "Credential should be scoped to a valid region, not '{region}'. "
        )));
    }
    if *service != expected_service {
        return Err(ApiError::invalid_signature(format!(
            "Credential should be scoped to correct service: '{expected_service}'. "
        )));
    }
    if *terminator != "aws4_request" {
        return Err(ApiError::invalid_signature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    if signed_at < now - MAX_SKEW_SECS {
        return Err(ApiError::invalid_signature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if signed_at > now + MAX_SKEW_SECS {
        return Err(ApiError::invalid_signature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(now + MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if let Some(claimed) = headers.get("x-amz-content-sha256") {
        let claimed = String::from_utf8_lossy(claimed.as_bytes());
        if UNBOUND_PAYLOADS.iter().any(|u| claimed.eq_ignore_ascii_case(u)) {
            return Err(ApiError::invalid_signature(format!(
                "x-amz-content-sha256 '{claimed}' is not accepted: this endpoint verifies signatures over the \
                 SHA-256 of the request body."
            )));
        }
        if !claimed.eq_ignore_ascii_case(&hex(&Sha256::digest(body))) {
            return Err(ApiError::invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }
    let expected = expected_signature(v, req, &signed, signed_at)?;
    let given = auth.signature.as_deref().unwrap_or("");
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(ApiError::invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
             Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

/// The signature `aws-sigv4` computes for this request with the client's signed headers:
/// only the listed headers are handed to the signer (nothing excluded), `host` from the
/// `Host` header or the HTTP/2 `:authority`, the time from `x-amz-date`, and the body's own
/// SHA-256. A signed-header list that the signer would not reproduce exactly (unsorted,
/// naming a header the request lacks, a header value that is not text) cannot match.
fn expected_signature(v: &Verifier, req: &Request<'_>, signed: &[&str], signed_at: i64) -> Result<String, ApiError> {
    let Request { service, method, path, query, host, headers, body } = *req;
    let mismatch = || {
        ApiError::invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
             Access Key and signing method. Consult the service documentation for details.",
        )
    };
    let mut sorted = signed.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted != signed || signed.iter().any(|n| n.is_empty() || *n == "authorization") {
        return Err(mismatch());
    }
    if signed.iter().any(|n| n.starts_with(':')) {
        return pseudo_header_signature(v, req, signed, signed_at).ok_or_else(mismatch);
    }
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(signed.len());
    for &name in signed {
        if name == "x-amz-date" {
            // The signer writes it from the signing time (parsed from this very header).
            continue;
        }
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        match (values.is_empty(), name) {
            (true, "host") => pairs.extend(host.map(|h| ("host", h))),
            (true, _) => return Err(mismatch()),
            (false, _) => pairs.extend(values.into_iter().map(|v| (name, v))),
        }
    }
    if !pairs.iter().any(|(n, _)| *n == "host") {
        return Err(mismatch());
    }
    let uri = match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    let time = UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(signed_at).map_err(|_| mismatch())?);
    let identity = Identity::from(Credentials::new(&v.access_key, &v.secret_key, None, None, "shardlog-verify"));
    let mut settings = SigningSettings::default();
    // Only the client's signed headers are passed in, so none is left out.
    settings.excluded_headers = Some(Vec::new());
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(&v.region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|_| ApiError::internal())?
        .into();
    let signable =
        SignableRequest::new(method, uri, pairs.into_iter(), SignableBody::Bytes(body)).map_err(|_| mismatch())?;
    let (_, signature) = sign(signable, &params).map_err(|_| mismatch())?.into_parts();
    Ok(signature)
}

/// The signature of a request whose signed headers include an HTTP/2 pseudo-header (the
/// AWS SDK for JavaScript v3 signs `:authority` over HTTP/2), which `aws-sigv4` cannot take
/// as a header name. The canonical request is written here in SigV4's form — the form the
/// crate writes, which `the_pseudo_header_form_matches_aws_sigv4` checks header for header —
/// with `:authority` standing for the request's authority; the crate derives the key and
/// computes the HMAC. Only the root path without a query string (Kinesis' form) is accepted.
fn pseudo_header_signature(v: &Verifier, req: &Request<'_>, signed: &[&str], signed_at: i64) -> Option<String> {
    let Request { service, method, path, query, host, headers, body } = *req;
    if !matches!(path, "" | "/") || query.is_some_and(|q| !q.is_empty()) {
        return None;
    }
    let amz_date = format_amz_date(signed_at);
    let mut canonical = format!("{method}\n/\n\n");
    for &name in signed {
        let values: Vec<String> = match name {
            ":authority" | "host" if !headers.contains_key("host") => vec![host?.to_string()],
            ":authority" => vec![host?.to_string()],
            "x-amz-date" => vec![amz_date.clone()],
            n if n.starts_with(':') => return None,
            n => headers
                .get_all(n)
                .iter()
                .map(|v| v.to_str().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")))
                .collect::<Result<_, _>>()
                .ok()?,
        };
        if values.is_empty() {
            return None;
        }
        canonical.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    canonical.push_str(&format!("\n{}\n{}", signed.join(";"), hex(&Sha256::digest(body))));
    let time = UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(signed_at).ok()?);
    let date = amz_date.get(..8)?;
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{}/{service}/aws4_request\n{}",
        v.region,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = v4::generate_signing_key(&v.secret_key, time, &v.region, service);
    Some(v4::calculate_signature(key, string_to_sign.as_bytes()))
}

/// Equality of two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Split a raw query string into percent-decoded pairs.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hexpair =
            b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hexpair) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `yyyyMMddTHHmmssZ` → epoch seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num =
        |r: std::ops::Range<usize>| s.get(r).filter(|x| x.bytes().all(|c| c.is_ascii_digit()))?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(4..6)?, num(6..8)?, num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Epoch seconds → `yyyyMMddTHHmmssZ`.
fn format_amz_date(secs: i64) -> String {
    let (y, m, d) = shardlog::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Kinesis `POST /` with these headers and body, no query string, the authority taken
    /// from the `Host` header.
    fn kinesis<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> Request<'a> {
        Request { service: "kinesis", method: "POST", path: "/", query: None, host: None, headers, body }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn presence_checks_in_kinesis_wording() {
        let e = check(&kinesis(&headers(&[]), b""), None).unwrap_err();
        assert_eq!(e.code, "MissingAuthenticationTokenException");
        let h = headers(&[("authorization", "AWS4-HMAC-SHA256 Credential=a/b")]);
        let e = check(&kinesis(&h, b""), None).unwrap_err();
        assert_eq!(e.code, "IncompleteSignatureException");
        assert_eq!(
            e.message.as_deref(),
            Some(
                "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
                 parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
                 Authorization=AWS4-HMAC-SHA256 Credential=a/b"
            )
        );
        let h = headers(&[
            ("authorization", "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00"),
            ("x-amz-date", "20150830T123600Z"),
        ]);
        check(&kinesis(&h, b""), None).unwrap();
        let e = check(&Request { query: Some("X-Amz-Algorithm=x"), ..kinesis(&h, b"") }, None).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
    }

    /// `get-vanilla` and `post-vanilla` of the AWS SigV4 test suite: the signer reproduces
    /// the published signatures from the request's own signed headers.
    #[test]
    fn expected_signatures_match_the_aws_test_suite() {
        let v = Verifier {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        };
        let h = headers(&[("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z")]);
        let at = parse_amz_date("20150830T123600Z").unwrap();
        let signed = ["host", "x-amz-date"];
        let get =
            expected_signature(&v, &Request { service: "service", method: "GET", ..kinesis(&h, b"") }, &signed, at)
                .unwrap();
        assert_eq!(get, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        let post =
            expected_signature(&v, &Request { service: "service", method: "POST", ..kinesis(&h, b"") }, &signed, at)
                .unwrap();
        assert_eq!(post, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
        // The HTTP/2 authority stands in for a missing Host header.
        let h2 = headers(&[("x-amz-date", "20150830T123600Z")]);
        let via_authority = expected_signature(
            &v,
            &Request { service: "service", method: "GET", host: Some("example.amazonaws.com"), ..kinesis(&h2, b"") },
            &signed,
            at,
        )
        .unwrap();
        assert_eq!(via_authority, get);
        // Unsorted signed headers, or one the request lacks, cannot match.
        let unsorted = ["x-amz-date", "host"];
        assert!(expected_signature(
            &v,
            &Request { service: "service", method: "GET", ..kinesis(&h, b"") },
            &unsorted,
            at
        )
        .is_err());
        let with_target = ["host", "x-amz-date", "x-amz-target"];
        assert!(expected_signature(
            &v,
            &Request { service: "service", method: "GET", ..kinesis(&h, b"") },
            &with_target,
            at
        )
        .is_err());
    }

    /// Headers of a request signed by the SDK's signer (`aws-sigv4`), leaving `exclude` out
    /// of the signed headers.
    fn signed_request(v: &Verifier, target: &str, body: &[u8], exclude: &[&'static str]) -> HeaderMap {
        let now = SystemTime::now();
        let h = headers(&[
            ("host", "127.0.0.1:4567"),
            ("x-amz-target", target),
            ("content-type", "application/x-amz-json-1.1"),
        ]);
        let identity = Identity::from(Credentials::new(&v.access_key, &v.secret_key, None, None, "test"));
        let mut settings = SigningSettings::default();
        if let Some(ex) = settings.excluded_headers.as_mut() {
            ex.extend(exclude.iter().map(|e| std::borrow::Cow::Borrowed(*e)));
        }
        let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region(&v.region)
            .name("kinesis")
            .time(now)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let pairs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())).collect();
        let signable = SignableRequest::new("POST", "/", pairs.into_iter(), SignableBody::Bytes(body)).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = http::Request::builder().method("POST").uri("/").body(()).unwrap();
        *req.headers_mut() = h;
        instructions.apply_to_request_http1x(&mut req);
        req.headers().clone()
    }

    fn verifier() -> Verifier {
        Verifier { access_key: "AKID".into(), secret_key: "secret".into(), region: "us-east-1".into() }
    }

    /// A request signed by the SDK's own signer verifies; the body, the target, the key id
    /// and the secret cannot be changed after signing.
    #[test]
    fn verification_binds_the_body_the_target_and_the_key() {
        let v = verifier();
        let body = br#"{"StreamName":"s"}"#;
        let h = signed_request(&v, "Kinesis_20131202.DescribeStreamSummary", body, &[]);
        let check_with = |h: &HeaderMap, body: &[u8]| check(&kinesis(h, body), Some(&v));
        check_with(&h, body).unwrap();
        assert_eq!(check_with(&h, b"{}").unwrap_err().code, "InvalidSignatureException");
        let mut replay = h.clone();
        replay.insert("x-amz-target", "Kinesis_20131202.DeleteStream".parse().unwrap());
        assert_eq!(check_with(&replay, body).unwrap_err().code, "InvalidSignatureException");
        let other = Verifier { access_key: "OTHER".into(), ..v.clone() };
        assert_eq!(check(&kinesis(&h, body), Some(&other)).unwrap_err().code, "UnrecognizedClientException");
        let wrong_secret = Verifier { secret_key: "other".into(), ..v.clone() };
        assert_eq!(check(&kinesis(&h, body), Some(&wrong_secret)).unwrap_err().code, "InvalidSignatureException");
    }

    /// The AWS SDK for JavaScript v3 signs HTTP/2 requests over `:authority` (and sends no
    /// `host`): such a signature verifies against the request's authority, and the canonical
    /// form written for it is the one `aws-sigv4` writes (same signature with `host`).
    #[test]
    fn signatures_over_the_http2_authority_verify() {
        let v = verifier();
        let body = br#"{}"#;
        // Signed by the crate with `host`; `:authority` sorts first, as `host` does here.
        let h = signed_request(&v, "Kinesis_20131202.ListStreams", body, &["content-type"]);
        let auth = h.get("authorization").unwrap().to_str().unwrap().to_string();
        assert!(auth.contains("SignedHeaders=host;x-amz-date;x-amz-target"), "{auth}");
        let amz = h.get("x-amz-date").unwrap().to_str().unwrap().to_string();
        let at = parse_amz_date(&amz).unwrap();
        let by_crate = auth.rsplit("Signature=").next().unwrap().to_string();
        let mine =
            pseudo_header_signature(&v, &kinesis(&h, body), &["host", "x-amz-date", "x-amz-target"], at).unwrap();
        assert_eq!(mine, by_crate, "the pseudo-header path writes the crate's canonical form");
        // The same request signed over `:authority`, sent without `host`.
        let mut no_host = h.clone();
        no_host.remove("host");
        let authority = Request { host: Some("127.0.0.1:4567"), ..kinesis(&no_host, body) };
        let sig = pseudo_header_signature(&v, &authority, &[":authority", "x-amz-date", "x-amz-target"], at).unwrap();
        let auth = auth
            .replace("SignedHeaders=host;", "SignedHeaders=:authority;")
            .replace(&format!("Signature={by_crate}"), &format!("Signature={sig}"));
        no_host.insert("authorization", auth.parse().unwrap());
        check(&Request { host: Some("127.0.0.1:4567"), ..kinesis(&no_host, body) }, Some(&v)).unwrap();
        // Another authority, or another body, does not verify.
        let e = check(&Request { host: Some("evil:4567"), ..kinesis(&no_host, body) }, Some(&v)).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        let e = check(&Request { host: Some("127.0.0.1:4567"), ..kinesis(&no_host, b"{ }") }, Some(&v)).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
    }

    #[test]
    fn a_client_supplied_payload_hash_never_replaces_the_body_hash() {
        let v = verifier();
        let body = br#"{"StreamName":"s"}"#;
        let h = signed_request(&v, "Kinesis_20131202.DescribeStreamSummary", body, &[]);
        // An unsigned header holding the original body's hash does not let a new body in.
        let mut swapped = h.clone();
        swapped.insert("x-amz-content-sha256", hex(&Sha256::digest(body)).parse().unwrap());
        let e = check(&kinesis(&swapped, br#"{"StreamName":"t"}"#), Some(&v)).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        // With the body unchanged the correct hash is harmless.
        check(&kinesis(&swapped, body), Some(&v)).unwrap();
        for unbound in ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"] {
            let mut u = h.clone();
            u.insert("x-amz-content-sha256", unbound.parse().unwrap());
            let e = check(&kinesis(&u, body), Some(&v)).unwrap_err();
            assert_eq!(e.code, "InvalidSignatureException");
            assert!(e.message.unwrap().contains(unbound));
        }
    }

    #[test]
    fn host_date_and_target_must_be_signed() {
        let v = verifier();
        let body = br#"{"StreamName":"s"}"#;
        for (excluded, shown) in [
            (&["x-amz-target"][..], "'X-Amz-Target' must be a 'SignedHeader'"),
            (&["host"][..], "'Host' or ':authority' must be a 'SignedHeader'"),
        ] {
            let h = signed_request(&v, "Kinesis_20131202.DescribeStreamSummary", body, excluded);
            let e = check(&kinesis(&h, body), Some(&v)).unwrap_err();
            assert_eq!(e.code, "IncompleteSignatureException", "{excluded:?}");
            assert!(e.message.as_deref().unwrap().starts_with(shown), "{e:?}");
        }
        // `SignedHeaders=x-amz-date` alone, however the signature was made.
        let mut h = signed_request(&v, "Kinesis_20131202.DescribeStreamSummary", body, &[]);
        let auth = h.get("authorization").unwrap().to_str().unwrap().to_string();
        let start = auth.find("SignedHeaders=").unwrap();
        let end = start + auth[start..].find(',').unwrap();
        let only_date = format!("{}SignedHeaders=x-amz-date{}", &auth[..start], &auth[end..]);
        h.insert("authorization", only_date.parse().unwrap());
        let e = check(&kinesis(&h, body), Some(&v)).unwrap_err();
        assert_eq!(e.code, "IncompleteSignatureException");
    }

    #[test]
    fn the_clock_skew_limit_is_fifteen_minutes_each_way() {
        let v = verifier();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        for (offset, words) in [(-16 * 60, "Signature expired"), (16 * 60, "Signature not yet current")] {
            let amz_date = format_amz_date(now + offset);
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential=AKID/{}/us-east-1/kinesis/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
                &amz_date[..8]
            );
            let h = headers(&[
                ("authorization", &auth),
                ("host", "h"),
                ("x-amz-date", &amz_date),
                ("x-amz-target", "Kinesis_20131202.ListStreams"),
            ]);
            let e = check(&kinesis(&h, b"{}"), Some(&v)).unwrap_err();
            assert_eq!(e.code, "InvalidSignatureException");
            assert!(e.message.as_deref().unwrap().starts_with(words), "{e:?}");
        }
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    }
}
