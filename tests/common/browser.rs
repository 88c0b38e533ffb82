//! A real headless Chromium, driven through ChromeDriver's W3C WebDriver protocol (plain HTTP
//! and JSON), for the report tests: console messages, network requests, DOM queries and a
//! screenshot.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What a loaded page did and showed.
#[derive(Debug)]
pub struct Visit {
    /// Console messages at level SEVERE (errors, CSP violations, failed loads).
    pub console_errors: Vec<String>,
    /// URLs the page asked for, other than the page itself.
    pub requests: Vec<String>,
    /// What `script` returned.
    pub probe: Value,
    /// Share of screenshot pixels that are not (near) white.
    pub inked: f64,
    /// Distinct colours in the screenshot.
    pub colours: usize,
}

/// A ChromeDriver process and one browser session, ended on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

fn chromium() -> PathBuf {
    std::env::var_os("BURNFIT_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

fn chromedriver() -> PathBuf {
    std::env::var_os("BURNFIT_CHROMEDRIVER")
        .map_or_else(|| "/usr/bin/chromedriver".into(), PathBuf::from)
}

/// A browser, or `None` with the reason printed when Chromium or ChromeDriver is missing;
/// with `BURNFIT_REQUIRE_BROWSER` set (CI), a missing browser is a failure instead.
pub fn browser_or_skip(test: &str) -> Option<Browser> {
    let (c, d) = (chromium(), chromedriver());
    if c.is_file() && d.is_file() {
        return Some(Browser::start(&c, &d));
    }
    if std::env::var_os("BURNFIT_REQUIRE_BROWSER").is_some() {
        panic!(
            "BURNFIT_REQUIRE_BROWSER is set but {} or {} is missing",
            c.display(),
            d.display()
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipping {test}: no headless browser (install Debian's chromium and chromium-driver; \
         set BURNFIT_REQUIRE_BROWSER=1 to make this a failure)"
    );
    None
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let req = ureq::request(method, url).timeout(Duration::from_secs(60));
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match resp {
        Ok(r) => r.into_json().expect("WebDriver answers JSON"),
        Err(ureq::Error::Status(code, r)) => {
            panic!(
                "WebDriver {method} {url}: HTTP {code}: {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => panic!("WebDriver {method} {url}: {e}"),
    }
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = ureq::get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::TempDir::new().unwrap();
        // The flags that keep Chromium from reaching out on its own (updates, sync, field
        // trials): any request left is the page's.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let session = call(
            "POST",
            &format!("{base}/session"),
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args},
                "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
            }}})),
        );
        let session = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        Self {
            driver,
            base,
            session,
            _profile: profile,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}/{path}", self.base, self.session)
    }

    fn log(&self, kind: &str) -> Vec<Value> {
        call("POST", &self.url("se/log"), Some(json!({"type": kind})))["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Loads `page`, runs `script` (a function body that returns a value) and takes a
    /// screenshot.
    pub fn visit(&self, page: &Path, script: &str) -> Visit {
        // Earlier pages' entries out of the way.
        self.log("browser");
        self.log("performance");
        let page_url = format!("file://{}", page.canonicalize().unwrap().display());
        call("POST", &self.url("url"), Some(json!({"url": page_url})));
        let probe = call(
            "POST",
            &self.url("execute/sync"),
            Some(json!({"script": script, "args": []})),
        )["value"]
            .clone();
        let shot = call("GET", &self.url("screenshot"), None)["value"]
            .as_str()
            .expect("a screenshot")
            .to_string();
        let (inked, colours) = ink(&shot);
        let console_errors = self
            .log("browser")
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect();
        // The requests this page's document made (the browser's own start page may still be
        // loading its resources in another document when the session begins).
        let requests = self
            .log("performance")
            .into_iter()
            .filter_map(|e| {
                let m: Value = serde_json::from_str(e["message"].as_str()?).ok()?;
                let params = &m["message"]["params"];
                let ours = m["message"]["method"] == "Network.requestWillBeSent"
                    && params["documentURL"] == page_url.as_str();
                ours.then(|| params["request"]["url"].as_str().map(String::from))
                    .flatten()
            })
            .filter(|u| *u != page_url)
            .collect();
        Visit {
            console_errors,
            requests,
            probe,
            inked,
            colours,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The share of non-white pixels and the number of distinct colours in a base64 PNG.
fn ink(base64_png: &str) -> (f64, usize) {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_png)
        .expect("base64 screenshot");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    let n = pixels.len() / channels;
    for px in pixels.chunks(channels) {
        if px[..3].iter().any(|&c| c < 235) {
            inked += 1;
        }
        colours.insert([px[0], px[1], px[2]]);
    }
    (inked as f64 / n.max(1) as f64, colours.len())
}
