//! A real browser for the console's test: Debian's `chromium`, headless, driven
//! through `chromedriver` with the W3C WebDriver protocol (JSON over HTTP on
//! loopback, spoken with [`crate::http`]: a WebDriver crate would bring a second
//! HTTP stack and TLS for a conversation with a local process).
//!
//! [`Browser::start`] is `None` when chromium or chromedriver is not installed,
//! after saying so loudly, unless `FENLIU_REQUIRE_BROWSER` is set (as
//! `scripts/test`, CI's command, sets it): then a missing browser fails the test.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::http;

/// How long one WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// The key of an element reference in WebDriver's JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process of this test and one headless chromium session.
#[derive(Debug)]
pub struct Browser {
    /// The chromedriver process; killed when the browser is dropped.
    driver: Child,
    /// Where chromedriver listens.
    address: SocketAddr,
    /// The session's path prefix, `/session/<id>`.
    session: String,
}

fn on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

impl Browser {
    /// A headless chromium at `width`×`height`, or `None` (said loudly) when
    /// it is not installed and not required.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
        let driver = on_path("chromedriver");
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var_os("FENLIU_REQUIRE_BROWSER").is_some() {
                panic!(
                    "FENLIU_REQUIRE_BROWSER is set but chromium or chromedriver is missing: run scripts/install-deps"
                );
            }
            eprintln!(
                "\n\n!!!!!!!! SKIPPED: the console's browser test needs chromium and chromedriver \
                 (Debian: chromium, chromium-driver; scripts/install-deps installs them) !!!!!!!!\n\n"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut browser = Browser {
            driver: child,
            address,
            session: String::new(),
        };
        browser.await_driver().await;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
                         "--force-device-scale-factor=1"],
            },
        }}});
        let created = browser.command("POST", "/session", &capabilities).await;
        let id = created["sessionId"]
            .as_str()
            .expect("a WebDriver session id");
        browser.session = format!("/session/{id}");
        Some(browser)
    }

    async fn await_driver(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ready = tokio::net::TcpStream::connect(self.address).await.is_ok();
            if ready {
                let status = http(self.address, "GET", "/status", &[], b"", COMMAND_TIMEOUT).await;
                if status.json()["value"]["ready"] == true {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not get ready within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver command; its `value`. Panics on an error answer.
    async fn command(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "POST" {
            body.to_string().into_bytes()
        } else {
            Vec::new()
        };
        let answer = http(self.address, method, path, &[], &body, COMMAND_TIMEOUT).await;
        let mut value = answer.json();
        assert!(
            answer.status == 200,
            "WebDriver {method} {path}: {} {value}",
            answer.status
        );
        value["value"].take()
    }

    async fn session_command(&self, method: &str, path: &str, body: &Value) -> Value {
        self.command(method, &format!("{}{path}", self.session), body)
            .await
    }

    pub async fn open(&self, url: &str) {
        self.session_command("POST", "/url", &json!({"url": url}))
            .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.session_command(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": args}),
        )
        .await
    }

    /// The WebDriver reference of the first element `css` selects.
    async fn find(&self, css: &str) -> String {
        let query = json!({"using": "css selector", "value": css});
        let found = self.session_command("POST", "/element", &query).await;
        found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Runs `script` (a function body; its last argument is the callback that
    /// hands back its result) and waits for that result.
    pub async fn run_async(&self, script: &str, args: Value) -> Value {
        self.session_command(
            "POST",
            "/execute/async",
            &json!({"script": script, "args": args}),
        )
        .await
    }

    /// Clicks the first element `css` selects, as a user would. An element
    /// redrawn between finding and clicking it (a snapshot came) is found again.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            let element = self.find(css).await;
            let path = format!("{}/element/{element}/click", self.session);
            let answer = http(self.address, "POST", &path, &[], b"{}", COMMAND_TIMEOUT).await;
            if answer.status == 200 {
                return;
            }
            let error = answer.json();
            assert_eq!(
                error["value"]["error"], "stale element reference",
                "WebDriver click on {css}: {error}"
            );
        }
        panic!("{css} was redrawn under every click");
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.session_command(
            "POST",
            &format!("/element/{element}/value"),
            &json!({"text": text}),
        )
        .await;
    }

    /// Waits until `script` returns `true` in the page, within `limit`; panics
    /// naming `what` and what the script last returned.
    pub async fn wait_until(&self, what: &str, limit: Duration, script: &str) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let shown = self.run(script, json!([])).await;
            if shown == true {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let page = self
                    .run("return document.body.innerText.slice(0, 3000);", json!([]))
                    .await;
                panic!(
                    "the page did not show {what} within {limit:?} (got {shown}); it shows:\n{page}"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Resizes the browser window (the page's viewport follows).
    pub async fn resize(&self, width: u32, height: u32) {
        let rect = json!({"width": width, "height": height});
        self.session_command("POST", "/window/rect", &rect).await;
    }

    /// The page as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.session_command("GET", "/screenshot", &json!({})).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 PNG"))
            .expect("a PNG")
    }
}

impl Drop for Browser {
    /// Ends the browser session first (chromedriver then ends its chromium
    /// processes, which would outlive a killed chromedriver), also when a test
    /// panicked; then chromedriver. Blocking: a drop cannot wait on a future.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if !self.session.is_empty()
            && let Ok(mut stream) =
                std::net::TcpStream::connect_timeout(&self.address, Duration::from_secs(2))
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.session, self.address
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                // Its answer comes once the browser is gone.
                let _ = stream.read(&mut [0u8; 1024]);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
