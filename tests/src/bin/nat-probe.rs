//! `nat-probe`: a libp2p node that is not a member of any Cove group dials the addresses it
//! is given and reports what it reached. The NAT test (`tests/it/nat.rs`) runs it inside a
//! network namespace, with a member's address through the group's relay, to show that the
//! relay gives no circuit to a non-member.
//!
//! ```text
//! nat-probe [--wait SECONDS] MULTIADDR...
//! ```
//!
//! It runs the same swarm as a member (`cove_gossip`), on a private network whose key is
//! random: the key of no group, as anyone without an invite has. It prints one JSON line,
//! `{"connected": [PEER ID, ...]}`, the peers it reached within the wait, and exits 0.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use cove_gossip::{Config, Event, Gossip, Keypair, Multiaddr};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let mut wait = Duration::from_secs(10);
    let mut addrs: Vec<Multiaddr> = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--wait" {
            let secs: u64 = args
                .next()
                .context("--wait needs a number of seconds")?
                .parse()
                .context("--wait needs a number of seconds")?;
            wait = Duration::from_secs(secs);
        } else {
            addrs.push(
                arg.parse()
                    .with_context(|| format!("{arg:?} is not a multiaddr"))?,
            );
        }
    }
    if addrs.is_empty() {
        bail!("usage: nat-probe [--wait SECONDS] MULTIADDR...");
    }
    let mut config = Config::new(Keypair::generate_ed25519());
    config.listen = vec!["/ip4/0.0.0.0/tcp/0".parse()?];
    config.mdns = false;
    config.discovery = false;
    config.psk = Some(rand::random());
    let (gossip, mut events) = Gossip::spawn(config).await?;
    for addr in addrs {
        if let Err(e) = gossip.dial(addr.clone()).await {
            eprintln!("cannot dial {addr}: {e}");
        }
    }
    let mut connected = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let Event::PeerConnected(peer) = event {
            connected.push(peer.to_string());
        }
    }
    println!("{}", serde_json::json!({ "connected": connected }));
    gossip.shutdown().await?;
    Ok(())
}
