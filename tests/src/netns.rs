//! Real NATs on one machine: network namespaces, veth pairs and nftables masquerade.
//!
//! [`Internet::build`] makes this topology, every namespace named with a prefix unique to
//! the run, and removes all of it when dropped (also when the test fails or panics):
//!
//! ```text
//!                       ┌──────────── PREFIX-net: bridge "br0" ("the internet") ───────────┐
//!   PREFIX-relay ───────┤ 203.0.113.10                                                     │
//!   PREFIX-eve ─────────┤ 203.0.113.40   (not a member)                                    │
//!   PREFIX-away ────────┤ 203.0.113.30   (a host with a public address)                    │
//!                       │ 203.0.113.1                            203.0.113.2               │
//!                       └───── wan ─┬─ PREFIX-rtra              ── wan ─┬─ PREFIX-rtrb ────┘
//!                        NAT (masquerade)                     NAT (masquerade, or symmetric)
//!                            lan 10.0.1.1                          lan 10.0.2.1
//!                           PREFIX-ant 10.0.1.2                   PREFIX-bat 10.0.2.2
//! ```
//!
//! Addresses are documentation and private ranges, used only inside these namespaces: the
//! namespaces have no link to the host's interfaces, so nothing leaves the machine. The
//! routers drop unsolicited inbound packets (as home routers do) rather than answering them
//! with a reset, which is what lets TCP hole punching work where the mapping allows it.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

/// How a home router maps its LAN's connections to its public address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    /// Linux masquerade: the source port is kept, so one inside port maps to one outside port
    /// whatever the destination (endpoint-independent mapping). Hole punching works.
    EndpointIndependent,
    /// Masquerade with a random port per connection (`fully-random`): every destination sees
    /// another outside port (a symmetric NAT). Hole punching cannot work; the relay stays.
    Symmetric,
}

/// The public address of the relay host.
pub const RELAY_IP: &str = "203.0.113.10";
/// The public address of ant's router.
pub const RTR_A_IP: &str = "203.0.113.1";
/// The public address of bat's router.
pub const RTR_B_IP: &str = "203.0.113.2";
/// The host with a public address of its own (where bat goes when it moves).
pub const AWAY_IP: &str = "203.0.113.30";
/// The non-member's host.
pub const EVE_IP: &str = "203.0.113.40";

/// The namespaces of one topology; dropping it deletes them.
#[derive(Debug)]
pub struct Internet {
    prefix: String,
    created: Vec<String>,
}

/// Runs `ip ARGS`, failing with its stderr.
fn ip(args: &[&str]) -> Result<()> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Why network namespaces cannot be made here, if they cannot (not root, no `ip`, a
/// sandbox without the capability). Creates and deletes one namespace to find out.
pub fn unavailable() -> Option<String> {
    let name = format!("cove-probe-{}", std::process::id());
    match ip(&["netns", "add", &name]) {
        Ok(()) => {
            let _ = ip(&["netns", "del", &name]);
            None
        }
        Err(e) => Some(format!("{e:#}")),
    }
}

impl Internet {
    /// Builds the topology with bat's router of kind `bat_nat` (ant's is endpoint-independent).
    pub fn build(bat_nat: NatKind) -> Result<Internet> {
        static RUN: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "cove{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Internet {
            prefix,
            created: Vec::new(),
        };
        net.setup(bat_nat)?;
        Ok(net)
    }

    /// The full name of the namespace `short` (`relay`, `ant`, ...).
    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    fn add(&mut self, short: &str) -> Result<String> {
        let name = self.ns(short);
        ip(&["netns", "add", &name])?;
        self.created.push(name.clone());
        self.exec(short, &["ip", "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// Runs `ARGS` inside namespace `short`, failing with its stderr.
    pub fn exec(&self, short: &str, args: &[&str]) -> Result<()> {
        let ns = self.ns(short);
        let mut all = vec!["netns", "exec", ns.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A veth pair: `a_if` in `a`, `b_if` in `b`.
    fn link(&self, a: &str, a_if: &str, b: &str, b_if: &str) -> Result<()> {
        let (a_ns, b_ns) = (self.ns(a), self.ns(b));
        ip(&[
            "-n", &a_ns, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b_ns,
        ])?;
        ip(&["-n", &a_ns, "link", "set", a_if, "up"])?;
        ip(&["-n", &b_ns, "link", "set", b_if, "up"])
    }

    /// A host `short` on the public bridge at `addr`.
    fn public_host(&mut self, short: &str, port: &str, addr: &str) -> Result<()> {
        self.add(short)?;
        self.link(short, "eth0", "net", port)?;
        ip(&["-n", &self.ns("net"), "link", "set", port, "master", "br0"])?;
        ip(&[
            "-n",
            &self.ns(short),
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])
    }

    /// A home network: router `rtr` at `public` on the bridge, host `host` at 10.0.`n`.2
    /// behind it.
    fn home(&mut self, rtr: &str, host: &str, n: u8, public: &str, kind: NatKind) -> Result<()> {
        self.public_host(rtr, &format!("{rtr}0"), public)?;
        // The router's public side is "wan", whatever `public_host` called it.
        let r = self.ns(rtr);
        ip(&["-n", &r, "link", "set", "eth0", "down"])?;
        ip(&["-n", &r, "link", "set", "eth0", "name", "wan"])?;
        ip(&["-n", &r, "link", "set", "wan", "up"])?;
        self.add(host)?;
        self.link(rtr, "lan", host, "eth0")?;
        let h = self.ns(host);
        ip(&[
            "-n",
            &r,
            "addr",
            "add",
            &format!("10.0.{n}.1/24"),
            "dev",
            "lan",
        ])?;
        ip(&[
            "-n",
            &h,
            "addr",
            "add",
            &format!("10.0.{n}.2/24"),
            "dev",
            "eth0",
        ])?;
        ip(&[
            "-n",
            &h,
            "route",
            "add",
            "default",
            "via",
            &format!("10.0.{n}.1"),
        ])?;
        self.exec(rtr, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
        let masquerade = match kind {
            NatKind::EndpointIndependent => "masquerade",
            NatKind::Symmetric => "masquerade fully-random",
        };
        let rules = format!(
            "table ip nat {{\n\
               chain postrouting {{ type nat hook postrouting priority srcnat; policy accept;\n\
                 oifname \"wan\" {masquerade}\n\
               }}\n\
             }}\n\
             table inet filter {{\n\
               chain input {{ type filter hook input priority filter; policy accept;\n\
                 iifname \"wan\" ct state established,related accept\n\
                 iifname \"wan\" drop\n\
               }}\n\
               chain forward {{ type filter hook forward priority filter; policy accept;\n\
                 iifname \"wan\" ct state established,related accept\n\
                 iifname \"wan\" drop\n\
               }}\n\
             }}\n"
        );
        let file = std::env::temp_dir().join(format!("{}-{rtr}.nft", self.prefix));
        std::fs::write(&file, rules)?;
        let applied = self.exec(rtr, &["nft", "-f", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        applied.context("nftables rules (is the `nftables` package installed?)")
    }

    fn setup(&mut self, bat_nat: NatKind) -> Result<()> {
        self.add("net")?;
        ip(&[
            "-n",
            &self.ns("net"),
            "link",
            "add",
            "br0",
            "type",
            "bridge",
        ])?;
        ip(&["-n", &self.ns("net"), "link", "set", "br0", "up"])?;
        self.public_host("relay", "relay0", RELAY_IP)?;
        self.public_host("eve", "eve0", EVE_IP)?;
        self.public_host("away", "away0", AWAY_IP)?;
        self.home("rtra", "ant", 1, RTR_A_IP, NatKind::EndpointIndependent)?;
        self.home("rtrb", "bat", 2, RTR_B_IP, bat_nat)?;
        Ok(())
    }

    /// Bytes received plus sent on the relay's interface so far (`/proc/net/dev` inside its
    /// namespace).
    pub fn relay_bytes(&self) -> Result<u64> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns("relay"), "cat", "/proc/net/dev"])
            .output()?;
        let text = String::from_utf8(out.stdout)?;
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("eth0:"))
            .context("relay has no eth0")?;
        let fields: Vec<u64> = line
            .split_once(':')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .filter_map(|f| f.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        match (fields.first(), fields.get(8)) {
            (Some(rx), Some(tx)) => Ok(rx + tx),
            _ => bail!("cannot read the relay's byte counters"),
        }
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        // Killing a namespace's processes is the caller's job (their handles kill on drop,
        // and are dropped first); deleting a namespace removes its veth ends and rules.
        for name in self.created.iter().rev() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
