//! GraphQL over HTTP as the GraphQL-over-HTTP draft specifies it: the request read within
//! the body limit and checked field by field, the response's media type chosen from
//! `Accept`, and every answer, refusals included, a GraphQL JSON body with a stable code.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The media type a response is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: request errors answer 4xx.
    GraphqlResponse,
    /// `application/json`, for clients that do not ask for the other: always 200 once the
    /// request could be read.
    Json,
}

impl Media {
    /// `application/graphql-response+json` when the client accepts it, else
    /// `application/json` (also for `*/*` and a missing `Accept`).
    pub fn negotiate(headers: &HeaderMap) -> Media {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .unwrap_or("");
        if accept
            .split(',')
            .any(|part| media_type(part) == "application/graphql-response+json")
        {
            Media::GraphqlResponse
        } else {
            Media::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        })
    }
}

/// The bare media type of a header value part: `application/json; charset=utf-8` gives
/// `application/json`.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A refusal before execution: the HTTP status, the stable code and what is wrong.
#[derive(Debug)]
pub struct Refusal {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// `extensions.code`.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// Extra headers (`WWW-Authenticate`, `Allow`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Refusal {
    /// A refusal with no extra headers.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// A malformed request (400 `BAD_REQUEST`).
    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// Adds a header to the answer.
    pub fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Refusal {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// The answer, as GraphQL JSON in the negotiated media type.
    pub fn into_response(self, media: Media) -> Response {
        let body = json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }]
        });
        let mut response = json_response(self.status, media, &body);
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON body with the media type's content type.
pub fn json_response(status: StatusCode, media: Media, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// Reads a POST body: `application/json` only, at most `limit` bytes, refused before it is
/// read whole when `Content-Length` already says it is larger.
pub async fn read_post_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Value, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "a POST needs Content-Type: application/json",
            )
        })?;
    let mut parts = content_type.split(';');
    let charset_ok = parts.all(|p| {
        let p = p.trim().to_ascii_lowercase();
        !p.starts_with("charset=") || p == "charset=utf-8" || p == "charset=\"utf-8\""
    });
    if media_type(content_type) != "application/json" || !charset_ok {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Content-Type {content_type:?} is not accepted; send application/json"),
        ));
    }
    let bytes = read_bytes(headers, body, limit).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Refusal::bad_request(format!("the body is not JSON: {e}")))
}

/// A request body of at most `limit` bytes, refused with 413 as soon as its declared
/// length, or what has arrived of it, is over the limit; an empty one is refused too.
pub(crate) async fn read_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    if bytes.is_empty() {
        return Err(Refusal::bad_request("the request body is empty"));
    }
    Ok(bytes)
}

/// The parameters of a GET request, each a string as the query string carries them, turned
/// into the JSON shape of a POST body (`variables` and `extensions` are JSON texts).
pub fn get_params(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<Option<Value>, Refusal> {
    let mut params = serde_json::Map::new();
    for (key, value) in pairs {
        let value = match key.as_str() {
            "variables" | "extensions" if !value.is_empty() => serde_json::from_str(&value)
                .map_err(|e| Refusal::bad_request(format!("{key}: not JSON: {e}")))?,
            "query" | "operationName" | "variables" | "extensions" => Value::String(value),
            _ => continue,
        };
        params.insert(key, value);
    }
    if params.is_empty() {
        return Ok(None);
    }
    // An empty variables or extensions parameter means none.
    for key in ["variables", "extensions"] {
        if params.get(key) == Some(&Value::String(String::new())) {
            params.remove(key);
        }
    }
    Ok(Some(Value::Object(params)))
}

/// Checks the request parameters' types (a string `query`, an object `variables`, ...) and
/// builds the request.
pub fn request_from(params: Value) -> Result<async_graphql::Request, Refusal> {
    let mut params = match params {
        Value::Object(map) => map,
        Value::Array(_) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "BATCH_NOT_SUPPORTED",
                "batched requests are not supported; send one operation per request",
            ));
        }
        _ => return Err(Refusal::bad_request("the body must be a JSON object")),
    };
    match params.get("query") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(Refusal::bad_request("query: must be a string")),
        None => {
            return Err(Refusal::bad_request(
                "query: a GraphQL document is required",
            ));
        }
    }
    for (key, want_object) in [
        ("operationName", false),
        ("variables", true),
        ("extensions", true),
    ] {
        match params.get(key) {
            None | Some(Value::Null) => {
                params.remove(key);
            }
            Some(Value::String(_)) if !want_object => {}
            Some(Value::Object(_)) if want_object => {}
            Some(_) => {
                let want = if want_object { "an object" } else { "a string" };
                return Err(Refusal::bad_request(format!("{key}: must be {want}")));
            }
        }
    }
    serde_json::from_value(Value::Object(params))
        .map_err(|e| Refusal::bad_request(format!("the request parameters: {e}")))
}

/// The answer to an executed request. A request refused before execution (parse,
/// validation, input coercion, limits) carries no `data` and answers 400 under
/// `application/graphql-response+json`, 200 under `application/json`.
pub fn graphql_response(media: Media, response: async_graphql::Response) -> Response {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| {
            e.path.is_empty()
                && e.extensions
                    .as_ref()
                    .and_then(|x| x.get("code"))
                    .is_some_and(|c| match c {
                        async_graphql::Value::String(c) => {
                            crate::checks::REQUEST_ERROR_CODES.contains(&c.as_str())
                        }
                        _ => false,
                    })
        });
    let mut body = match serde_json::to_value(&response) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "response not serialisable");
            return Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
            .into_response(media);
        }
    };
    if request_error && let Some(map) = body.as_object_mut() {
        map.remove("data");
    }
    // A client past its budget is told so in HTTP terms too, whatever it accepts.
    let retry_after = response.errors.first().and_then(|e| {
        let x = e.extensions.as_ref()?;
        match (x.get("code"), x.get("retryAfter")) {
            (Some(async_graphql::Value::String(c)), Some(async_graphql::Value::Number(n)))
                if c == "RATE_LIMITED" =>
            {
                n.as_u64()
            }
            _ => None,
        }
    });
    if let Some(seconds) = retry_after {
        let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, media, &body);
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // The store refusing writes is the server's state, not the request's fault: 503, so
    // that clients and proxies retry elsewhere or later.
    let storage_down = response.errors.iter().any(|e| {
        let code = e.extensions.as_ref().and_then(|x| x.get("code"));
        ["STORAGE_UNAVAILABLE", "OUTCOME_UNKNOWN"]
            .iter()
            .any(|c| code == Some(&async_graphql::Value::from(*c)))
    });
    let status = if storage_down {
        StatusCode::SERVICE_UNAVAILABLE
    } else if request_error && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    json_response(status, media, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Media {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        Media::negotiate(&h)
    }

    #[test]
    fn the_media_type_follows_accept() {
        assert_eq!(
            accept("application/graphql-response+json"),
            Media::GraphqlResponse
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.9"),
            Media::GraphqlResponse
        );
        assert_eq!(accept("application/json"), Media::Json);
        assert_eq!(accept("*/*"), Media::Json);
        assert_eq!(Media::negotiate(&HeaderMap::new()), Media::Json);
    }

    #[test]
    fn parameters_of_the_wrong_type_are_refused_by_name() {
        let e = request_from(json!({"query": {"a": 1}})).unwrap_err();
        assert!(e.message.starts_with("query:"), "{}", e.message);
        let e = request_from(json!({"query": "{a}", "variables": "x"})).unwrap_err();
        assert!(e.message.starts_with("variables:"), "{}", e.message);
        let e = request_from(json!({"query": "{a}", "operationName": 3})).unwrap_err();
        assert!(e.message.starts_with("operationName:"), "{}", e.message);
        assert_eq!(
            request_from(json!([{"query": "{a}"}])).unwrap_err().code,
            "BATCH_NOT_SUPPORTED"
        );
        let ok = request_from(json!({"query": "{a}", "variables": null, "extensions": {}}));
        assert!(ok.is_ok());
    }

    #[test]
    fn get_parameters_carry_json_texts() {
        let p = get_params([
            ("query".to_owned(), "{a}".to_owned()),
            ("variables".to_owned(), "{\"x\":1}".to_owned()),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(p["variables"]["x"], 1);
        assert!(get_params([("variables".to_owned(), "{".to_owned())]).is_err());
        assert!(get_params(Vec::new()).unwrap().is_none());
    }
}
