//! GraphiQL, served offline: the page and every file it loads are embedded in the binary
//! (vendored at pinned versions, see `assets/graphiql/README.md`) and served under
//! `/graphiql/`, so a browser needs no network beyond this server.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const INDEX: &str = include_str!("../assets/graphiql/index.html");

/// Name, content type and bytes of each file the page loads.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "start.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/start.js"),
    ),
];

/// The GraphiQL page.
pub fn page() -> Response {
    Html(INDEX).into_response()
}

/// One of the page's files, or 404.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The files change only with the binary.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `src` and `href` of the page, in order.
    fn references(html: &str) -> Vec<&str> {
        let mut found = Vec::new();
        for attr in ["src=\"", "href=\""] {
            let mut rest = html;
            while let Some(i) = rest.find(attr) {
                rest = &rest[i + attr.len()..];
                let end = rest.find('"').unwrap_or(rest.len());
                found.push(&rest[..end]);
            }
        }
        found
    }

    #[test]
    fn the_page_loads_only_files_this_server_serves() {
        let refs = references(INDEX);
        assert!(refs.len() >= 4, "{refs:?}");
        for r in refs {
            let name = r
                .strip_prefix("/graphiql/")
                .unwrap_or_else(|| panic!("{r} is not served by the server"));
            assert!(
                FILES.iter().any(|(n, _, _)| *n == name),
                "{name} is not embedded"
            );
        }
    }

    #[test]
    fn the_stylesheet_pulls_in_nothing_from_outside() {
        let css = FILES
            .iter()
            .find(|(n, _, _)| *n == "graphiql.min.css")
            .unwrap()
            .2;
        let css = String::from_utf8_lossy(css);
        for (i, _) in css.match_indices("url(") {
            let target = css[i + 4..].trim_start_matches(['"', '\'']);
            assert!(target.starts_with("data:"), "{}", &css[i..i + 60]);
        }
        assert!(!css.contains("@import"));
    }
}
