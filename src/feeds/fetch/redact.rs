//! Feed URLs as they may be shown in logs, errors, metrics and stored issuances: userinfo,
//! fragments and the values of secret query parameters removed.

use std::fmt::Write as _;

use super::config::DEFAULT_SECRET_QUERY_PARAMS;

/// [`url_redacted_by`] with [`DEFAULT_SECRET_QUERY_PARAMS`]; where the configuration is at
/// hand, use
/// [`HttpConfig::redact`](super::HttpConfig::redact) or
/// [`Fetcher::redacted`](super::Fetcher::redacted) instead.
pub fn url_redacted(url: &str) -> String {
    url_redacted_by(url, &DEFAULT_SECRET_QUERY_PARAMS)
}

/// The URL as it may appear in logs, errors and metrics: userinfo (`user:pass@`) dropped, the
/// values of query parameters whose names contain one of `secret_params` (see
/// [`HttpConfig::secret_query_params`](super::HttpConfig::secret_query_params)) replaced by `REDACTED`, the fragment dropped. Works
/// on unparsable strings too (it is plain text surgery, so the rest of the URL stays
/// byte-for-byte as given). Secrets inside the path cannot be recognised: do not put them
/// there.
pub fn url_redacted_by<S: AsRef<str>>(url: &str, secret_params: &[S]) -> String {
    let url = url.trim();
    let no_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let (base, query) = match no_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (no_fragment, None),
    };
    // Userinfo sits between "scheme://" and the first '@' before the path.
    let mut out = String::with_capacity(url.len());
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let _ = write!(out, "{scheme}://{host}{path}");
        }
        None => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        for (i, pair) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_name(name, secret_params) => {
                    let _ = write!(out, "{name}=REDACTED");
                }
                _ => out.push_str(pair),
            }
        }
    }
    out
}

/// Lower-cased, letters and digits only.
pub(super) fn normalised_param(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn is_secret_name<S: AsRef<str>>(name: &str, secret_params: &[S]) -> bool {
    let norm = normalised_param(name);
    secret_params.iter().any(|p| {
        let p = normalised_param(p.as_ref());
        !p.is_empty() && norm.contains(&p)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_userinfo_fragment_and_secret_query_values() {
        let u = "https://bob:hunter2@data.example.org:8443/path/x.json?apikey=abc123&basin=SWI&X-Amz-Signature=deadbeef&access_token=t0k#frag";
        let r = url_redacted(u);
        assert_eq!(
            r,
            "https://data.example.org:8443/path/x.json?apikey=REDACTED&basin=SWI&X-Amz-Signature=REDACTED&access_token=REDACTED"
        );
        for secret in ["bob", "hunter2", "abc123", "deadbeef", "t0k", "frag"] {
            assert!(!r.contains(secret), "{secret} leaked in {r}");
        }
    }

    #[test]
    fn redaction_leaves_plain_urls_alone_and_copes_with_garbage() {
        let plain = "https://www.gdacs.org/xml/rss.xml?profile=archive&eventid=1000643";
        assert_eq!(url_redacted(plain), plain);
        assert_eq!(
            url_redacted("not a url?token=x"),
            "not a url?token=REDACTED"
        );
        // An '@' in the path is not userinfo.
        assert_eq!(
            url_redacted("http://h.example/a@b/c"),
            "http://h.example/a@b/c"
        );
    }
}
