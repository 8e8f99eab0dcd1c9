//! A media server written as an attacker would write one, for tests of what the worker fetches
//! and stores: redirects elsewhere, bodies larger than declared, endless bodies, HTML and SVG.
//! It counts every request it gets and whether a cert JWT came with it.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Requests seen, by path: (count, with an Authorization header).
pub type Seen = Arc<Mutex<BTreeMap<String, (u64, u64)>>>;

/// A running hostile server.
pub struct Hostile {
    /// `http://127.0.0.1:port`.
    pub url: String,
    seen: Seen,
    handle: actix_web::dev::ServerHandle,
}

/// One MiB of zeros, streamed `n` times (`None`: for ever).
fn zeros(n: Option<usize>) -> impl futures::Stream<Item = Result<web::Bytes, std::io::Error>> {
    let chunk = web::Bytes::from(vec![0u8; 1 << 20]);
    let total = n.unwrap_or(usize::MAX);
    futures::stream::iter((0..total).map(move |_| Ok(chunk.clone())))
}

async fn serve(req: HttpRequest, st: web::Data<(Seen, String)>) -> HttpResponse {
    let path = req.path().to_string();
    {
        let mut seen = st.0.lock().unwrap();
        let e = seen.entry(path.clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(req.headers().contains_key("authorization"));
    }
    match path.as_str() {
        // to another origin, where the cert JWT must never go
        "/redirect" => HttpResponse::Found()
            .insert_header(("location", st.1.clone()))
            .finish(),
        // says 30 MiB up front
        "/big" => HttpResponse::Ok()
            .content_type("image/png")
            .no_chunking(30 << 20)
            .streaming(zeros(Some(30))),
        // no length; 64 MiB behind an item that declares a few bytes
        "/liar" => HttpResponse::Ok()
            .content_type("image/png")
            .streaming(zeros(Some(64))),
        "/endless" => HttpResponse::Ok()
            .content_type("image/png")
            .streaming(zeros(None)),
        "/page.html" => HttpResponse::Ok()
            .content_type("text/html")
            .body("<script>document.cookie</script>"),
        "/image.svg" => HttpResponse::Ok()
            .content_type("image/svg+xml")
            .body("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
        "/ok.png" => HttpResponse::Ok()
            .content_type("image/png")
            .body(vec![1u8; 64]),
        _ => HttpResponse::NotFound().finish(),
    }
}

impl Hostile {
    /// Starts a server whose redirects point at `elsewhere`.
    pub async fn start(elsewhere: &str) -> Self {
        let seen: Seen = Arc::default();
        let data = web::Data::new((seen.clone(), elsewhere.to_string()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(serve))
        })
        .workers(1)
        .shutdown_timeout(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind hostile server");
        let url = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, seen, handle }
    }

    /// (requests, requests with an Authorization header) seen on `path`.
    pub fn seen(&self, path: &str) -> (u64, u64) {
        self.seen
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or((0, 0))
    }

    /// Requests seen in all.
    pub fn total(&self) -> u64 {
        self.seen.lock().unwrap().values().map(|v| v.0).sum()
    }

    /// Stops it.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
