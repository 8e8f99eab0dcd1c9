//! The browser the console's tests drive: Debian's chromium through chromedriver (fantoccini),
//! headless at 1280 px wide, and the few moves they make (read, click, type, wait for a URL,
//! screenshot into `var/console/`).

#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use migrator_testkit::workspace;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver on a free port, killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromedriver() -> Driver {
    let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} is missing: scripts/services.sh installs Debian's chromium and chromium-driver"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

pub async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1400"],
        }),
    );
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(http)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// The text of the first element matching `css`, waiting up to 10 s for one to appear.
pub async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
        .trim()
        .to_string()
}

/// Clicks the element matching `css`.
pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Types `keys` into the field matching `css`.
pub async fn type_in(c: &Client, css: &str, keys: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(keys)
        .await
        .unwrap();
}

/// Waits (up to 10 s) until the browser is at a URL whose path and query start with `want`
/// (a click's navigation is not awaited by the click).
pub async fn at(c: &Client, want: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let u = c.current_url().await.unwrap();
        let here = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        };
        if here.starts_with(want) {
            return;
        }
        assert!(Instant::now() < end, "at {here}, never at {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn shot(c: &Client, name: &str) {
    let dir = workspace().join("var/console");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// A screenshot of the whole page, its `<details>` closed (the window grown to its height,
/// then put back).
pub async fn shot_full(c: &Client, name: &str) {
    let h: serde_json::Value = c
        .execute(
            "document.querySelectorAll('details').forEach(d => d.open = false); \
             return document.documentElement.scrollHeight",
            vec![],
        )
        .await
        .unwrap();
    let h = h.as_u64().unwrap_or(1400).clamp(600, 8000) as u32;
    c.set_window_size(1280, h).await.unwrap();
    shot(c, name).await;
    c.set_window_size(1280, 1400).await.unwrap();
}

/// Signs in at `console` with `token` and waits for the overview.
pub async fn sign_in(c: &Client, console: &str, token: &str) {
    c.goto(&format!("{console}/sign-in")).await.unwrap();
    type_in(c, "#token", token).await;
    click(c, "#sign-in").await;
    at(c, "/console/").await;
}

/// The rows of the table matching `css` (its cells' text), opening the `<details>` around it.
pub async fn table_rows(c: &Client, css: &str) -> Vec<Vec<String>> {
    let v: serde_json::Value = c
        .execute(
            "const t = document.querySelector(arguments[0]); \
             if (!t) return null; \
             const d = t.closest('details'); if (d) d.open = true; \
             return [...t.querySelectorAll('tbody tr')].map(r => \
               [...r.querySelectorAll('td')].map(td => td.innerText.trim()));",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{css}: no table ({e})"))
}
