//! The URL → internet-password attributes rule every format shares: which
//! URL text names a site, and its server, protocol, port and path.

use url::Url;

/// The internet-password attributes one URL gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    /// The host, lowercased (international names in `xn--` form).
    pub server: String,
    /// The scheme (`https` when the text had none).
    pub protocol: String,
    /// An explicit port that is not the scheme's default.
    pub port: Option<u16>,
    /// The path, or `""` when it is empty or `/`.
    pub path: String,
}

/// The site `text` names, if it is a URL with a host.
///
/// Text without a scheme (`example.com/login`, `example.com:8443`) is read
/// again as `https://` + text, as long as what comes before the first `/`
/// looks like a host name: it has a dot (or is `localhost`) and no `@`
/// (`alice@example.com` is an e-mail address, not a site).
pub(crate) fn site(text: &str) -> Option<Site> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(url) = Url::parse(text)
        && let Some(site) = from_url(&url)
    {
        return Some(site);
    }
    if text.contains("://") || !looks_like_host(text) {
        return None;
    }
    let url = Url::parse(&format!("https://{text}")).ok()?;
    from_url(&url)
}

fn from_url(url: &Url) -> Option<Site> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let path = match url.path() {
        "" | "/" => String::new(),
        p => p.to_owned(),
    };
    Some(Site {
        server: host.to_lowercase(),
        protocol: url.scheme().to_owned(),
        port: url.port(),
        path,
    })
}

/// Whether scheme-less `text` starts with something like a host name.
fn looks_like_host(text: &str) -> bool {
    let authority = text.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') || authority.chars().any(char::is_whitespace) {
        return false;
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    host.eq_ignore_ascii_case("localhost")
        || (host.contains('.') && !host.starts_with('.') && !host.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(server: &str, protocol: &str, port: Option<u16>, path: &str) -> Option<Site> {
        Some(Site {
            server: server.into(),
            protocol: protocol.into(),
            port,
            path: path.into(),
        })
    }

    #[test]
    fn urls_with_a_scheme() {
        assert_eq!(
            site("https://Example.COM/"),
            s("example.com", "https", None, "")
        );
        assert_eq!(
            site("https://example.com"),
            s("example.com", "https", None, "")
        );
        assert_eq!(
            site("https://example.com:8443/a/b?q=1#f"),
            s("example.com", "https", Some(8443), "/a/b")
        );
        // The scheme's default port is not a port attribute.
        assert_eq!(
            site("https://example.com:443/x"),
            s("example.com", "https", None, "/x")
        );
        assert_eq!(
            site("ftp://files.example.org/pub"),
            s("files.example.org", "ftp", None, "/pub")
        );
        assert_eq!(
            site("http://192.168.1.1:8080/admin"),
            s("192.168.1.1", "http", Some(8080), "/admin")
        );
        assert_eq!(site("ssh://[::1]:2222"), s("[::1]", "ssh", Some(2222), ""));
    }

    #[test]
    fn app_uris_have_hosts() {
        assert_eq!(
            site("androidapp://com.Foo.App"),
            s("com.foo.app", "androidapp", None, "")
        );
        assert_eq!(
            site("android://hash==@com.foo.app/"),
            s("com.foo.app", "android", None, "")
        );
    }

    #[test]
    fn no_scheme_means_https() {
        assert_eq!(
            site("example.com/login"),
            s("example.com", "https", None, "/login")
        );
        assert_eq!(
            site("example.com:8443/x"),
            s("example.com", "https", Some(8443), "/x")
        );
        assert_eq!(
            site(" localhost:3000 "),
            s("localhost", "https", Some(3000), "")
        );
        assert_eq!(
            site("www.example.com"),
            s("www.example.com", "https", None, "")
        );
    }

    #[test]
    fn not_sites() {
        for text in [
            "",
            "   ",
            "just some words",
            "alice@example.com",
            "mailto:alice@example.com",
            "urn:isbn:0451450523",
            "file:///etc/passwd",
            "nodots",
            "cmd://",
        ] {
            assert_eq!(site(text), None, "{text}");
        }
    }
}
