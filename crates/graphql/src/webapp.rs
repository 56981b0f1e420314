//! The analyst's web app (the `web/` folder of the repository), embedded in the binary and
//! served at `/` and `/app/…`: the page needs no network beyond this server and talks to it
//! only through `/graphql`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! web {
    ($path:literal, $type:expr) => {
        (
            $path,
            $type,
            include_bytes!(concat!("../../../web/", $path)) as &[u8],
        )
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Path under `/app/`, content type and bytes of every file of the app.
pub const FILES: &[(&str, &str, &[u8])] = &[
    web!("app.css", "text/css; charset=utf-8"),
    web!("js/app.js", JS),
    web!("js/core.js", JS),
    web!("js/i18n.js", JS),
    web!("js/analyses.js", JS),
    web!("js/records.js", JS),
    web!("vendor/chart.js/chart.umd.min.js", JS),
];

const INDEX: &[u8] = include_bytes!("../../../web/index.html");

/// What the app's pages may load and connect to: this server only.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn with_headers(
    mut response: Response,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The app's page.
pub async fn index() -> Response {
    // The page names the files; a new binary may bring new ones, so it is not cached long.
    with_headers(
        INDEX.into_response(),
        "text/html; charset=utf-8",
        "no-cache",
    )
}

/// One of the app's files, or 404.
pub async fn asset(Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, bytes)) => {
            with_headers(bytes.into_response(), content_type, "public, max-age=300")
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `import … from './x.js'` and `src=`/`href=` reference in the app's files.
    fn references() -> Vec<String> {
        let mut found = Vec::new();
        let index = String::from_utf8_lossy(INDEX);
        for attr in ["src=\"", "href=\""] {
            for part in index.split(attr).skip(1) {
                found.push(part[..part.find('"').unwrap_or(part.len())].to_owned());
            }
        }
        for (path, _, bytes) in FILES.iter().filter(|(p, _, _)| p.starts_with("js/")) {
            let text = String::from_utf8_lossy(bytes);
            for part in text.split("from './").skip(1) {
                let name = &part[..part.find('\'').unwrap_or(part.len())];
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                found.push(format!("/app/{dir}/{name}"));
            }
        }
        found
    }

    #[test]
    fn the_app_loads_only_files_this_server_embeds() {
        let refs = references();
        assert!(refs.len() >= 8, "{refs:?}");
        for r in refs {
            let path = r
                .strip_prefix("/app/")
                .unwrap_or_else(|| panic!("{r} is not under /app/"));
            assert!(
                FILES.iter().any(|(p, _, _)| *p == path),
                "{r} is not embedded"
            );
        }
    }
}
