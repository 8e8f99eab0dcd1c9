//! The Conversations REST API and media service, as the source contract describes them, plus a
//! fault switch the test harness flips (`PUT /_sim/faults`).

use crate::media;
use crate::store::{self, Tables};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Service token the REST API expects.
    pub token: String,
    /// re:amaze's public key (PEM) for cert JWTs.
    pub media_public_key_pem: String,
    /// Expected `iss` of cert JWTs.
    pub media_issuer: String,
    /// Tables.
    pub tables: Tables,
    /// DynamoDB endpoint.
    pub dynamo_endpoint: String,
    /// Region.
    pub region: String,
}

/// Faults injected by tests. `failures_left = None` with a status set: fail until cleared.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Status the REST endpoints answer instead of working.
    #[serde(default)]
    pub rest_status: Option<u16>,
    /// How many REST requests still fail (None = all while `rest_status` is set).
    #[serde(default)]
    pub rest_failures_left: Option<u32>,
    /// Delay before answering REST requests.
    #[serde(default)]
    pub rest_delay_ms: u64,
    /// Status the media service answers instead of working.
    #[serde(default)]
    pub media_status: Option<u16>,
    /// Every Nth media request answers 503 (0 = never): 2 fails half of them.
    #[serde(default)]
    pub media_fail_every: u64,
    /// Status configs-migration answers (after the token check) instead of working.
    #[serde(default)]
    pub configs_status: Option<u16>,
    /// The media service's clock, in seconds relative to ours (negative: behind), as it checks
    /// a cert JWT's `iat` (not in its future) and `exp` (not in its past).
    #[serde(default)]
    pub media_clock_offset_secs: i64,
    /// Leeway of those checks (`None`: 5 s); `Some(0)` checks as strictly as common JWT
    /// libraries do by default.
    #[serde(default)]
    pub media_leeway_secs: Option<u64>,
}

/// Calls the simulator served, for assertions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// `GET /v1/accounts/{id}/migration` calls.
    pub eligibility_calls: u64,
    /// `POST /v1/configs-migration` calls that reached the data.
    pub configs_calls: u64,
    /// Media downloads served (200).
    pub media_served: u64,
    /// Media requests received.
    pub media_requests: u64,
    /// Media requests failed by `media_fail_every`.
    pub media_injected_failures: u64,
}

struct State {
    cfg: SimConfig,
    dynamo: aws_sdk_dynamodb::Client,
    key: DecodingKey,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
}

type Shared = web::Data<Arc<State>>;

fn err(status: u16, code: &str) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    )
    .json(json!({ "error": code }))
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Applies the REST fault switch and the token check; `Some` is the answer to send instead.
async fn gate(st: &State, req: &HttpRequest) -> Option<HttpResponse> {
    let (status, delay) = {
        let mut f = st.faults.lock().expect("faults lock");
        let status = match (f.rest_status, f.rest_failures_left) {
            (Some(s), None) => Some(s),
            (Some(s), Some(n)) if n > 0 => {
                f.rest_failures_left = Some(n - 1);
                Some(s)
            }
            _ => None,
        };
        (status, f.rest_delay_ms)
    };
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if let Some(s) = status {
        return Some(err(s, "injected_fault"));
    }
    if bearer(req) != Some(st.cfg.token.as_str()) {
        return Some(err(401, "unauthorized"));
    }
    None
}

async fn eligibility(st: Shared, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Some(r) = gate(&st, &req).await {
        return r;
    }
    st.stats.lock().expect("stats lock").eligibility_calls += 1;
    match store::load_state(&st.dynamo, &st.cfg.tables, &path).await {
        Ok(Some((needs, count, _))) => HttpResponse::Ok().json(json!({
            "shopper_id": path.as_str(), "needs_migration": needs, "thread_count": count
        })),
        Ok(None) => err(404, "not_found"),
        Err(e) => {
            tracing::error!(error = %e, "state read failed");
            err(503, "unavailable")
        }
    }
}

#[derive(Deserialize)]
struct ConfigsBody {
    shopper_id: String,
}

async fn configs(st: Shared, req: HttpRequest, body: web::Json<ConfigsBody>) -> HttpResponse {
    if let Some(r) = gate(&st, &req).await {
        return r;
    }
    if let Some(s) = st.faults.lock().expect("faults lock").configs_status {
        return err(s, "injected_fault");
    }
    st.stats.lock().expect("stats lock").configs_calls += 1;
    match store::load_state(&st.dynamo, &st.cfg.tables, &body.shopper_id).await {
        Ok(Some((_, _, configs))) => HttpResponse::Ok().json(configs),
        Ok(None) => err(404, "not_found"),
        Err(e) => {
            tracing::error!(error = %e, "state read failed");
            err(503, "unavailable")
        }
    }
}

#[derive(Deserialize)]
struct CertClaims {
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct MediaQuery {
    size: Option<usize>,
}

async fn media_get(
    st: Shared,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<MediaQuery>,
) -> HttpResponse {
    let (status, every, offset, leeway) = {
        let f = st.faults.lock().expect("faults lock");
        let leeway = f.media_leeway_secs.unwrap_or(5) as i64;
        (
            f.media_status,
            f.media_fail_every,
            f.media_clock_offset_secs,
            leeway,
        )
    };
    if let Some(s) = status {
        return err(s, "injected_fault");
    }
    let n = {
        let mut stats = st.stats.lock().expect("stats lock");
        stats.media_requests += 1;
        stats.media_requests
    };
    if every > 0 && n % every == 0 {
        st.stats.lock().expect("stats lock").media_injected_failures += 1;
        return err(503, "injected_fault");
    }
    let Some(token) = bearer(&req) else {
        return err(401, "missing_cert_jwt");
    };
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["conversations-media"]);
    v.set_issuer(&[st.cfg.media_issuer.as_str()]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    // iat and exp are checked below against this service's own clock
    v.validate_exp = false;
    let claims = match jsonwebtoken::decode::<CertClaims>(token, &st.key, &v) {
        Ok(d) => d.claims,
        Err(_) => return err(401, "bad_cert_jwt"),
    };
    if claims.exp < claims.iat || claims.exp - claims.iat > 300 {
        return err(401, "cert_jwt_lifetime_too_long");
    }
    let now = chrono::Utc::now().timestamp() + offset;
    if claims.iat as i64 > now + leeway {
        return err(401, "cert_jwt_issued_in_the_future");
    }
    if (claims.exp as i64) <= now - leeway {
        return err(401, "cert_jwt_expired");
    }
    if media::is_gone(&path) {
        return err(404, "gone");
    }
    if media::is_forbidden(&path) {
        return err(403, "forbidden");
    }
    // size is derived from the id's attachment entry; the seeder records it in the file name
    let size = q.size.unwrap_or_else(|| media::size_for(&path));
    st.stats.lock().expect("stats lock").media_served += 1;
    HttpResponse::Ok()
        .content_type("image/png")
        .body(media::bytes_for(&path, size))
}

async fn put_faults(st: Shared, body: web::Json<Faults>) -> HttpResponse {
    *st.faults.lock().expect("faults lock") = body.into_inner();
    HttpResponse::NoContent().finish()
}

async fn get_stats(st: Shared) -> HttpResponse {
    let s = st.stats.lock().expect("stats lock").clone();
    HttpResponse::Ok().json(s)
}

async fn get_faults(st: Shared) -> HttpResponse {
    let f = st.faults.lock().expect("faults lock").clone();
    HttpResponse::Ok().json(f)
}

/// A running simulator.
pub struct RunningSim {
    /// Its base URL.
    pub base_url: String,
    /// Stops it.
    pub handle: actix_web::dev::ServerHandle,
}

/// Binds `listen` (port 0 for any) and serves in the background.
pub async fn start(cfg: SimConfig, listen: &str) -> anyhow::Result<RunningSim> {
    let dynamo = store::client(&cfg.dynamo_endpoint, &cfg.region).await;
    store::create_tables(&dynamo, &cfg.tables).await?;
    let key = DecodingKey::from_rsa_pem(cfg.media_public_key_pem.as_bytes())?;
    let state = Arc::new(State {
        cfg,
        dynamo,
        key,
        faults: Mutex::new(Faults::default()),
        stats: Mutex::new(Stats::default()),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route(
                "/v1/accounts/{shopper_id}/migration",
                web::get().to(eligibility),
            )
            .route("/v1/configs-migration", web::post().to(configs))
            .route("/media/{media_id}", web::get().to(media_get))
            .route("/_sim/faults", web::put().to(put_faults))
            .route("/_sim/faults", web::get().to(get_faults))
            .route("/_sim/stats", web::get().to(get_stats))
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
            )
    })
    .workers(2)
    .disable_signals()
    .bind(listen)?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(RunningSim {
        base_url: format!("http://{addr}"),
        handle,
    })
}
