//! The web UI: static files built into the binary (console/src/web/),
//! plain HTML, CSS and JavaScript without external resources. The page
//! talks to the JSON API only.

use super::http::HttpResponse;

const INDEX: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");
const FAVICON: &str = include_str!("../web/favicon.svg");

/// The static file at `path`, if there is one.
pub fn asset(path: &str) -> Option<HttpResponse> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX),
        "/app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "/app.css" => ("text/css; charset=utf-8", APP_CSS),
        "/favicon.svg" => ("image/svg+xml", FAVICON),
        _ => return None,
    };
    Some(HttpResponse { status: 200, content_type, body: body.as_bytes().to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_self_contained() {
        let index = asset("/").unwrap();
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        let html = String::from_utf8(index.body).unwrap();
        assert!(html.contains("src=\"/app.js\"") && html.contains("href=\"/app.css\""));
        // No inline script or style (the CSP forbids them), nothing from elsewhere.
        assert!(!html.contains("<script>") && !html.contains("style="), "inline script or style in index.html");
        // The only URL allowed is the SVG namespace name (not fetched).
        for text in [html.as_str(), APP_JS, APP_CSS, FAVICON] {
            let cleaned = text.replace("http://www.w3.org/2000/svg", "");
            assert!(!cleaned.contains("http://") && !cleaned.contains("https://") && !cleaned.contains("//cdn"), "external URL in an asset");
        }
        assert!(!APP_JS.contains("innerHTML"), "app.js builds the DOM with createElement only");
        assert!(asset("/app.js").is_some() && asset("/app.css").is_some() && asset("/favicon.svg").is_some());
        assert!(asset("/etc/passwd").is_none() && asset("/app.js/").is_none());
    }
}
