//! The commands that work while no node runs, on the store directly.
use std::path::Path;

use cove_crypto::{AnyInvite, GroupId};

use crate::actor::{device_key, open_store};
use crate::core::Core;
use crate::data_dir::DataDir;
use crate::error::NodeError;
use crate::now_ms;
use crate::view::GroupInfo;

fn core(data_dir: &Path) -> Result<Core, NodeError> {
    let dir = DataDir::new(data_dir);
    let seed = dir.load_seed()?;
    Core::new(open_store(&dir)?, seed)
}

/// Founds a group whose charter carries `policy`.
pub async fn create_group(
    data_dir: &Path,
    name: &str,
    policy: crate::message::Policy,
) -> Result<GroupId, NodeError> {
    let mut core = core(data_dir)?;
    let id = core.create_group_with(name, policy, now_ms())?;
    core.store().flush().await?;
    Ok(id)
}

/// Joins from an invite; the node connects to the group's peers when it starts. With a
/// ticket, a member listed in the invite must admit this member now (PROTOCOL.md §17): this
/// process asks it itself, under the peer key the node will have in the group.
pub async fn join(data_dir: &Path, invite: &str) -> Result<GroupId, NodeError> {
    let mut core = core(data_dir)?;
    let invite = match AnyInvite::decode(invite, now_ms() / 1000)? {
        AnyInvite::Open(invite) => invite,
        AnyInvite::Ticket(ticket) => match core.rejoin(&ticket) {
            Some(invite) => invite,
            None => {
                let device = device_key(DataDir::new(data_dir).load_peer_key()?)?;
                let config = crate::admission::config(&device, &ticket);
                let request = core.admission_request(&ticket);
                let welcome = crate::admission::ask(config, &ticket, &request).await?;
                let invite = core.open_welcome(&ticket, &welcome)?;
                let dir = DataDir::new(data_dir);
                let path = dir.net_memory_path(&ticket.group);
                let mut memory = crate::addr_book::NetMemory::load(&path)?;
                memory.ticket_doors(&ticket.addrs);
                memory.save(&path)?;
                invite
            }
        },
    };
    let id = core.join(&invite, now_ms())?;
    core.store().flush().await?;
    Ok(id)
}

/// Groups joined.
pub fn groups(data_dir: &Path) -> Result<Vec<GroupInfo>, NodeError> {
    Ok(core(data_dir)?.view().group_infos())
}

/// Rebuilds every index of the store from its messages (`cove store reindex`); the node
/// must be stopped. Returns the messages indexed.
pub async fn reindex(data_dir: &Path) -> Result<usize, NodeError> {
    let store = open_store(&DataDir::new(data_dir))?;
    let indexed = store.reindex()?;
    store.flush().await?;
    Ok(indexed)
}
