//! A fault-injecting proxy in front of the DynamoDB emulator (or moto's S3): the test harness
//! points the worker at it and throttles, fails or counts requests; the product has no fault
//! code paths of its own.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the proxy does to requests.
#[derive(Debug, Clone, Default)]
pub struct ProxyFaults {
    /// Every Nth request answers `ProvisionedThroughputExceededException` (0 = never).
    pub throttle_every: u64,
    /// Requests whose body contains all of these answer 500 (None = never).
    pub fail_when_body_has: Option<Vec<String>>,
    /// ... unless the body also contains this.
    pub except_body_has: Option<String>,
    /// Every request waits this long before it is forwarded (a slow source).
    pub delay_ms: u64,
    /// Requests that arrive before this instant never get an answer (a half-open partition:
    /// their connections hang forever); later ones are forwarded.
    pub hang_until: Option<std::time::Instant>,
    /// Requests whose body contains this are counted ([`DynamoProxy::watched`]).
    pub watch_body_has: Option<String>,
    /// Requests of this HTTP method answer 503 `SlowDown` (S3's throttling; None = never).
    pub slow_down_method: Option<String>,
}

struct State {
    upstream: String,
    http: reqwest::Client,
    faults: Mutex<ProxyFaults>,
    seen: AtomicU64,
    throttled: AtomicU64,
    failed: AtomicU64,
    hung: AtomicU64,
    watched: AtomicU64,
}

/// A running proxy.
pub struct DynamoProxy {
    /// Point `dynamodb.endpoint` here.
    pub url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl DynamoProxy {
    /// Starts a proxy to `upstream`.
    pub async fn start(upstream: &str) -> Self {
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            faults: Mutex::new(ProxyFaults::default()),
            seen: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            hung: AtomicU64::new(0),
            watched: AtomicU64::new(0),
        });
        let st = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(st.clone()))
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(forward))
        })
        .workers(2)
        // hung requests never finish: do not wait for them at stop
        .shutdown_timeout(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind proxy");
        let url = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, state, handle }
    }

    /// Replaces the faults.
    pub fn set(&self, f: ProxyFaults) {
        *self.state.faults.lock().unwrap() = f;
    }

    /// (requests seen, throttled, failed).
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.state.seen.load(Ordering::Relaxed),
            self.state.throttled.load(Ordering::Relaxed),
            self.state.failed.load(Ordering::Relaxed),
        )
    }

    /// Requests whose body had [`ProxyFaults::watch_body_has`] in it.
    pub fn watched(&self) -> u64 {
        self.state.watched.load(Ordering::Relaxed)
    }

    /// Requests left hanging.
    pub fn hung(&self) -> u64 {
        self.state.hung.load(Ordering::Relaxed)
    }

    /// Stops it.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

fn amz_error(status: u16, kind: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/x-amz-json-1.0")
        .insert_header(("x-amzn-ErrorType", kind))
        .body(format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"injected by the test proxy"}}"#))
}

async fn forward(st: web::Data<Arc<State>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let n = st.seen.fetch_add(1, Ordering::Relaxed) + 1;
    let faults = st.faults.lock().unwrap().clone();
    if faults
        .hang_until
        .is_some_and(|t| std::time::Instant::now() < t)
    {
        st.hung.fetch_add(1, Ordering::Relaxed);
        std::future::pending::<()>().await;
    }
    if faults.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.delay_ms)).await;
    }
    if faults.slow_down_method.as_deref() == Some(req.method().as_str()) {
        st.throttled.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::ServiceUnavailable()
            .content_type("application/xml")
            .body(
                "<Error><Code>SlowDown</Code><Message>injected by the test proxy</Message></Error>",
            );
    }
    let text = String::from_utf8_lossy(&body);
    if faults
        .watch_body_has
        .as_deref()
        .is_some_and(|w| text.contains(w))
    {
        st.watched.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(needles) = &faults.fail_when_body_has {
        let except = faults
            .except_body_has
            .as_deref()
            .is_some_and(|e| text.contains(e));
        if !except && needles.iter().all(|x| text.contains(x.as_str())) {
            st.failed.fetch_add(1, Ordering::Relaxed);
            return amz_error(500, "InternalServerError");
        }
    }
    if faults.throttle_every > 0 && n.is_multiple_of(faults.throttle_every) {
        st.throttled.fetch_add(1, Ordering::Relaxed);
        return amz_error(400, "ProvisionedThroughputExceededException");
    }
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).expect("method");
    let mut out = st
        .http
        .request(method, format!("{}{}", st.upstream, req.uri()));
    for (k, v) in req.headers() {
        if k != "host" && k != "content-length" {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    match out.body(body).send().await {
        Ok(resp) => {
            let status =
                actix_web::http::StatusCode::from_u16(resp.status().as_u16()).expect("status");
            let mut b = HttpResponse::build(status);
            for (k, v) in resp.headers() {
                if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                    b.insert_header((k.as_str(), v.as_bytes()));
                }
            }
            b.body(resp.bytes().await.unwrap_or_default())
        }
        Err(_) => amz_error(503, "ServiceUnavailable"),
    }
}
