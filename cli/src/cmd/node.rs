//! The node itself: `up` runs it, `down` stops it; `status`, `peers`, `block`, `unblock` and
//! `sync` ask it about or steer its network; `store reindex` maintains its store while it is
//! stopped.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use cove_node::control::{offline, Client, Request};
use cove_node::data_dir::DataDir;
use cove_node::metrics::MetricsServer;
use cove_node::sync::{Progress as SyncProgress, Report as SyncReport};
use cove_node::{Input, Node, NodeError, PeerSummary, Status};
use cove_web::WebServer;

use super::Ctx;
use crate::args::{StoreCommand, UpArgs};
use crate::config::Settings;
use crate::output::short_peer;
use crate::secret::seed_passphrase;

/// `cove up`: runs the node in the foreground until Ctrl-C, `cove down`, or a failure of the
/// control socket, the metrics server or the web app.
pub(crate) async fn up(ctx: &Ctx, args: UpArgs) -> Result<()> {
    let data_dir = &ctx.data_dir;
    let settings = Settings::load(data_dir, &args)?;
    let mut config = settings.node_config(data_dir)?;
    // Checked (exit code 2) and bound before the node starts, so a bad or busy address costs
    // nothing; the passphrase is asked last, after every other setting was accepted.
    let metrics = match settings.metrics() {
        Some(addr) => Some(MetricsServer::bind(addr).await?),
        None => None,
    };
    let web = match settings.web() {
        Some(addr) => Some(WebServer::bind(addr).await.map_err(web_error)?),
        None => None,
    };
    config.passphrase = seed_passphrase(&DataDir::new(data_dir))?;
    let node = Node::start(config).await?;
    let status = node.status().await?;
    eprintln!(
        "cove node is up, in {} group network(s) (TCP only, one peer id each)",
        status.networks.len()
    );
    for n in &status.networks {
        for addr in &n.listen_addrs {
            eprintln!("  {}: listening on {addr}", n.name);
        }
    }
    eprintln!("  data dir {}  (Ctrl-C to stop)", data_dir.display());
    if let Some(metrics) = &metrics {
        eprintln!("  metrics on http://{}/metrics", metrics.local_addr());
    }
    if let Some(web) = &web {
        web.write_url_file(data_dir)?;
        // The token is a password: shown on a terminal, never written into a log file.
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            eprintln!("  web app on {}", web.url());
        } else {
            eprintln!("  web app on {}/ (`cove web` prints its URL)", web.origin());
        }
    }
    let control = cove_node::control::serve(node.clone(), data_dir);
    let metrics = {
        let node = node.clone();
        async move {
            match metrics {
                Some(metrics) => metrics.serve(node).await,
                None => std::future::pending().await,
            }
        }
    };
    let web = {
        let node = node.clone();
        async move {
            match web {
                Some(web) => web.serve(node).await,
                None => std::future::pending().await,
            }
        }
    };
    // The control server returns once the node has stopped (`cove down`, or a failure) and
    // its answers in flight are written.
    tokio::select! {
        result = control => result?,
        result = metrics => result?,
        result = web => result?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    let _ = node.shutdown().await;
    let _ = std::fs::remove_file(DataDir::new(data_dir).socket_path());
    cove_web::remove_url_file(data_dir);
    Ok(())
}

/// A non-loopback `--web` address is a usage error (exit code 2), like a `--metrics` one.
fn web_error(e: cove_web::WebError) -> anyhow::Error {
    if e.is_user_error() {
        NodeError::invalid(Input::Address, e.to_string()).into()
    } else {
        e.into()
    }
}

/// `cove down`.
pub(crate) async fn down(ctx: &Ctx) -> Result<()> {
    ctx.request(&Request::Shutdown).await?;
    ctx.out.message("node stopped");
    Ok(())
}

/// `cove web`: the URL of the running node's web app, which `up` wrote to `DATA_DIR/web.url`
/// (0600). Only a running node's: a file a crash left behind names a dead server. With a
/// desktop (or `--open`), also opens it: `xdg-open` gets the path of a private page that
/// sends the browser on to the URL, never the URL itself.
pub(crate) async fn web(ctx: &Ctx, open: bool, no_open: bool) -> Result<()> {
    Client::connect(&ctx.data_dir).await?;
    let url = cove_web::read_url_file(&ctx.data_dir)?
        .context("the running node serves no web app: start it with `cove up --web 127.0.0.1:0`")?;
    ctx.out.created("url", &url, "open the web app at");
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    if no_open || !(open || desktop) {
        return Ok(());
    }
    let page = cove_web::write_launcher(&ctx.data_dir, &url)?;
    let opened = std::process::Command::new("xdg-open")
        .arg(&page)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match opened {
        Ok(status) if status.success() => eprintln!("opened in your browser"),
        Ok(status) => eprintln!("note: xdg-open {status}; open the URL above yourself"),
        Err(e) => eprintln!("note: could not run xdg-open ({e}); open the URL above yourself"),
    }
    Ok(())
}

/// `cove status` (`--net`: connectivity only, explained).
pub(crate) async fn status(ctx: &Ctx, net: bool) -> Result<()> {
    let status: Status = ctx.view(&Request::Status).await?;
    if net {
        ctx.out.connectivity(&status);
    } else {
        ctx.out.status(&status);
    }
    Ok(())
}

/// `cove peers`.
pub(crate) async fn peers(ctx: &Ctx) -> Result<()> {
    let peers: Vec<PeerSummary> = ctx.view(&Request::Peers).await?;
    ctx.out.peers(&peers);
    Ok(())
}

/// `cove block PEER --for DURATION`, or with `None`, `cove unblock PEER`.
pub(crate) async fn block(ctx: &Ctx, peer: String, duration: Option<Duration>) -> Result<()> {
    let secs = duration.map(|d| d.as_secs().max(1));
    ctx.request(&Request::Block { peer, secs }).await?;
    ctx.out.message(if secs.is_some() {
        "blocked"
    } else {
        "unblocked"
    });
    Ok(())
}

/// `cove store reindex`.
pub(crate) async fn store(ctx: &Ctx, command: StoreCommand) -> Result<()> {
    match command {
        StoreCommand::Reindex => {
            // A running node holds the store's lock: opening it fails with advice to stop it.
            let indexed = offline::reindex(&ctx.data_dir).await?;
            ctx.out
                .created("messages", &indexed.to_string(), "messages indexed");
        }
    }
    Ok(())
}

/// `cove sync`: reconciles now, showing progress on stderr.
pub(crate) async fn sync(ctx: &Ctx, group: Option<String>) -> Result<()> {
    let reports = sync_with_progress(&ctx.data_dir, group).await?;
    ctx.out.sync(&reports);
    Ok(())
}

/// Runs `sync`, showing progress on stderr: a bar on a terminal, plain lines otherwise.
async fn sync_with_progress(data_dir: &Path, group: Option<String>) -> Result<Vec<SyncReport>> {
    use std::io::IsTerminal;
    let client = Client::connect(data_dir).await?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} messages")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let show = |p: SyncProgress| match &bar {
        Some(bar) => {
            bar.set_length(p.total as u64);
            bar.set_position(p.fetched as u64);
            bar.set_message(format!(
                "group {} from {}",
                &p.group[..8],
                short_peer(&p.peer)
            ));
        }
        None => eprintln!(
            "group {} from {}: {}/{} messages",
            &p.group[..8],
            short_peer(&p.peer),
            p.fetched,
            p.total
        ),
    };
    let value = client
        .request_with_progress(&Request::Sync { group }, show)
        .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(serde_json::from_value(value)?)
}
