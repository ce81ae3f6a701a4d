//! Helpers for the web app's HTTP tests: ant's node serving the app, and a raw HTTP/1.1
//! client that sends exactly the headers a test gives (a foreign `Host` included).
#![allow(dead_code, unreachable_pub)]

use anyhow::{Context, Result};
use cove_tests::{TestNode, TEST_TIMEOUT};
use cove_web::WebServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// ant's node with one group, and its web app serving in the background.
pub struct App {
    pub ant: TestNode,
    pub group: String,
    pub host: String,
    pub token: String,
    pub cookie: String,
}

pub async fn app() -> Result<App> {
    let ant = TestNode::start("ant").await?;
    let group = ant.create_group("club").await?.to_string();
    let web = WebServer::bind("127.0.0.1:0".parse()?).await?;
    let host = web.local_addr().to_string();
    let url = web.url();
    let token = url.split("token=").nth(1).context("no token")?.to_string();
    let cookie = format!("cove_{}={token}", web.local_addr().port());
    tokio::spawn(web.serve(ant.node.clone()));
    Ok(App {
        ant,
        group,
        host,
        token,
        cookie,
    })
}

/// One answer: status, headers (names lowercase) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request exactly as given (the `Host` header included, so a test can
/// send a foreign one) and reads the answer to the end.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Answer> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str("Content-Type: application/json\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of head")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .context("no status line")?
        .parse()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

impl App {
    /// A request to the app's own address, with the cookie and any further headers.
    pub async fn signed_in(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Answer> {
        let mut headers = vec![("Host", self.host.as_str()), ("Cookie", &self.cookie)];
        headers.extend_from_slice(extra);
        http(&self.host, method, path, &headers, body).await
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.host)
    }

    /// A request as the page makes it (cookie, and the app's Origin on state changes) that
    /// must succeed; its JSON answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let origin = self.origin();
        let body = body.map(|b| b.to_string());
        let answer = self
            .signed_in(method, path, &[("Origin", &origin)], body.as_deref())
            .await?;
        anyhow::ensure!(
            answer.status == 200,
            "{method} {path}: {} {}",
            answer.status,
            answer.body
        );
        serde_json::from_str(&answer.body).with_context(|| format!("{method} {path}: JSON"))
    }
}

pub async fn within<T>(test: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .context("test timed out")?
}
