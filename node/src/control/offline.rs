//! The commands that work while no node runs, on the store directly.
use std::path::Path;

use cove_crypto::{GroupId, Invite};

use crate::actor::open_store;
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

/// Joins from an invite; the node connects to the group's peers when it starts.
pub async fn join(data_dir: &Path, invite: &str) -> Result<GroupId, NodeError> {
    let invite = Invite::decode(invite, now_ms() / 1000)?;
    let mut core = core(data_dir)?;
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
