//! A small Chrome DevTools Protocol client for the browser tests: starts a
//! real headless Chromium with a fresh profile, attaches to one page over
//! the DevTools WebSocket and sends commands synchronously.

use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// The Chromium binary: $CHROMIUM or /usr/bin/chromium.
pub fn chromium_path() -> Option<PathBuf> {
    let p = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    p.exists().then_some(p)
}

/// A headless Chromium process, killed on drop.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    session: String,
    /// Events received while waiting for replies (method, params).
    pub events: Vec<(String, Value)>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_devtools_port(profile: &Path, timeout: Duration) -> (u16, String) {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                if let Ok(port) = port.trim().parse() {
                    return (port, path.trim().to_string());
                }
            }
        }
        assert!(Instant::now() < deadline, "Chromium wrote no {} within {timeout:?}", file.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Browser {
    /// Starts Chromium (headless, fresh `profile` dir) and opens a blank
    /// page of `width` x `height` CSS pixels.
    pub fn start(chromium: &Path, profile: &Path, width: u32, height: u32) -> Browser {
        Browser::start_with(chromium, profile, width, height, &[])
    }

    /// [`Browser::start`] with extra command-line switches.
    pub fn start_with(chromium: &Path, profile: &Path, width: u32, height: u32, extra: &[String]) -> Browser {
        std::fs::create_dir_all(profile).expect("profile dir");
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
            ])
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromium.display()));
        let (port, path) = read_devtools_port(profile, Duration::from_secs(30));
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the DevTools port");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
        let (ws, _) = tungstenite::client::client(format!("ws://127.0.0.1:{port}{path}"), stream).expect("DevTools WebSocket handshake");
        let mut b = Browser { child, ws, next_id: 0, session: String::new(), events: Vec::new() };
        let target = b.call_browser("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.call_browser("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
        b.session = attached["sessionId"].as_str().expect("sessionId").to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b.call("Log.enable", json!({}));
        b.call("Emulation.setDeviceMetricsOverride", json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }));
        b
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::Text(msg.to_string().into())).unwrap_or_else(|e| panic!("send {method}: {e}"));
        loop {
            let m = self.ws.read().unwrap_or_else(|e| panic!("no answer to {method}: {e}"));
            let text = match m {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                _ => continue,
            };
            let v: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    panic!("{method} failed: {err}");
                }
                return v["result"].clone();
            }
            if let Some(method) = v["method"].as_str() {
                self.events.push((method.to_string(), v["params"].clone()));
            }
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(s))
    }

    pub fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url }));
        assert!(r.get("errorText").is_none(), "navigate {url}: {r}");
    }

    /// Evaluates a JavaScript expression in the page; returns its value (JSON).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }));
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expr}: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is `true`; panics with `what` and the page text after `timeout`.
    pub fn wait_for(&mut self, expr: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(expr) == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.body ? document.body.innerText : ''");
                panic!("timed out waiting for {what}; the page shows:\n{}", text.as_str().unwrap_or(""));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the centre of the element matched by `selector`, as a user would.
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).expect("selector");
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (rect[0].as_f64().unwrap_or_else(|| panic!("no element {selector}")), rect[1].as_f64().unwrap_or(0.0));
        for kind in ["mousePressed", "mouseReleased"] {
            self.call("Input.dispatchMouseEvent", json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }));
        }
    }

    /// Focuses the element and types `text` into it, replacing what it held.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        let sel = serde_json::to_string(selector).expect("selector");
        self.eval(&format!("document.querySelector({sel}).select()"));
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().expect("screenshot data")).expect("screenshot base64")
    }

    /// Page errors seen so far: uncaught exceptions and error log entries
    /// (e.g. Content-Security-Policy violations).
    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(m, p)| match m.as_str() {
                "Runtime.exceptionThrown" => Some(format!("exception: {}", p["exceptionDetails"])),
                "Log.entryAdded" if p["entry"]["level"] == "error" => Some(format!("log: {}", p["entry"]["text"])),
                "Runtime.consoleAPICalled" if p["type"] == "error" => Some(format!("console: {}", p["args"])),
                _ => None,
            })
            .collect()
    }
}
