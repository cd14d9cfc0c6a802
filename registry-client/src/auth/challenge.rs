//! `WWW-Authenticate` challenges, as registries send them on `401`.
//!
//! A registry says how to authenticate in its 401: `Basic realm="..."` means send the
//! credentials directly; `Bearer realm="...",service="...",scope="..."` means fetch a token
//! from `realm` (the distribution token spec) and send that instead.

use std::collections::HashMap;

/// One parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Send `Authorization: Basic` with the user's credentials.
    Basic {
        /// The protection space, informational only.
        realm: Option<String>,
    },
    /// Fetch a token from `realm` and send `Authorization: Bearer`.
    Bearer {
        /// The token endpoint URL.
        realm: String,
        /// The `service` parameter to pass to the token endpoint.
        service: Option<String>,
        /// The scope the registry asked for (`repository:name:pull`), if it said.
        scope: Option<String>,
        /// `insufficient_scope` and friends: the token we sent was not good enough.
        error: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value into its challenges, skipping schemes we do
/// not understand.
///
/// The grammar (RFC 7235) is `scheme param=value, param="quoted, value", ...`; several
/// challenges may share one header, separated by commas before the next scheme token.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let scheme_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        let scheme = &rest[..scheme_end];
        if scheme.contains('=') || scheme.contains(',') {
            // Not a scheme token: skip to the next comma and retry.
            rest = rest
                .find(',')
                .map(|i| rest[i + 1..].trim_start())
                .unwrap_or("");
            continue;
        }
        rest = rest[scheme_end..].trim_start();
        let (params, remaining) = parse_params(rest);
        rest = remaining;
        let get = |k: &str| params.get(k).cloned();
        if scheme.eq_ignore_ascii_case("bearer") {
            if let Some(realm) = get("realm") {
                out.push(Challenge::Bearer {
                    realm,
                    service: get("service"),
                    scope: get("scope"),
                    error: get("error"),
                });
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            out.push(Challenge::Basic {
                realm: get("realm"),
            });
        }
    }
    out
}

/// Parses `k=v, k="v"` pairs until a token that is not followed by `=` (the next scheme).
fn parse_params(mut s: &str) -> (HashMap<String, String>, &str) {
    let mut params = HashMap::new();
    loop {
        s = s.trim_start_matches([',', ' ', '\t']);
        let Some(eq) = s.find('=') else {
            return (params, s);
        };
        let key = &s[..eq];
        if key.is_empty() || key.contains([' ', ',', '\t', '"']) {
            return (params, s);
        }
        let after = &s[eq + 1..];
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find([',', ' ', '\t']).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        params.insert(key.to_ascii_lowercase(), value);
        s = remaining;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
        assert_eq!(
            parse_challenges(h),
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
                error: None,
            }]
        );
    }

    #[test]
    fn scope_with_commas_and_error() {
        let h = r#"Bearer realm="http://127.0.0.1:1/token",service="svc",scope="repository:a/b:pull,push",error="insufficient_scope""#;
        let parsed = parse_challenges(h);
        let [Challenge::Bearer { scope, error, .. }] = parsed.as_slice() else {
            panic!("{parsed:?}")
        };
        assert_eq!(scope.as_deref(), Some("repository:a/b:pull,push"));
        assert_eq!(error.as_deref(), Some("insufficient_scope"));
    }

    #[test]
    fn basic_and_case_and_unquoted() {
        assert_eq!(
            parse_challenges(r#"Basic realm="Registry Realm""#),
            vec![Challenge::Basic {
                realm: Some("Registry Realm".into())
            }]
        );
        assert_eq!(
            parse_challenges("bearer realm=http://x/token, service=s"),
            vec![Challenge::Bearer {
                realm: "http://x/token".into(),
                service: Some("s".into()),
                scope: None,
                error: None
            }]
        );
    }

    #[test]
    fn multiple_challenges_and_unknown_schemes() {
        let h = r#"Negotiate, Basic realm="r", Bearer realm="https://t/x",service="s""#;
        let c = parse_challenges(h);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(matches!(c[0], Challenge::Basic { .. }));
        assert!(matches!(c[1], Challenge::Bearer { .. }));
    }

    #[test]
    fn escaped_quotes_and_garbage() {
        let c = parse_challenges(r#"Bearer realm="a\"b""#);
        assert!(matches!(&c[0], Challenge::Bearer { realm, .. } if realm == "a\"b"));
        assert!(parse_challenges("").is_empty());
        assert!(
            parse_challenges("Bearer service=x").is_empty(),
            "no realm, no challenge"
        );
        assert!(parse_challenges("=,,=").is_empty());
    }
}
