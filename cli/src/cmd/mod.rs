//! One module per command group. Each function takes the parsed arguments of one command,
//! asks the running node over the control socket (or works on the data dir when the node is
//! stopped), and prints the result through [`Output`].
//!
//! | module | commands |
//! |---|---|
//! | [`node`] | `up`, `down`, `status`, `peers`, `block`, `unblock`, `sync`, `store` |
//! | [`seed`] | `init`, `export-seed`, `import-seed`, `passphrase` |
//! | [`group`] | `group create`, `group invite`, `join`, `groups` |
//! | [`post`] | `post`, `feed`, `show`, `reply`, `thread`, `edit`, `delete`, `recommend`, `profile` |
//! | [`chat`] | `room`, `chat`, `say` |
//! | [`admin`] | `admin`, `mute`, `unmute` |
//! | [`ads`] | `advertiser`, `ad`, `ads`, `interests` |
//! | [`config`] | `config show` |

pub(crate) mod admin;
pub(crate) mod ads;
pub(crate) mod chat;
pub(crate) mod config;
pub(crate) mod group;
pub(crate) mod node;
pub(crate) mod post;
pub(crate) mod seed;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cove_node::control::{Client, Request};
use cove_node::NodeError;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::output::Output;

/// What every command needs: the data dir (with its control socket) and the output format.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) data_dir: PathBuf,
    pub(crate) out: Output,
}

impl Ctx {
    /// One request to the running node.
    pub(crate) async fn request(&self, request: &Request) -> Result<Value, NodeError> {
        request_at(&self.data_dir, request).await
    }

    /// One request whose answer is a view of type `T`.
    pub(crate) async fn view<T: DeserializeOwned>(&self, request: &Request) -> Result<T> {
        Ok(serde_json::from_value(self.request(request).await?)?)
    }

    /// One request whose answer is the id of what it created, printed under `label` (human)
    /// or as `{key: id}` (JSON), alone on the last line.
    pub(crate) async fn create(&self, request: &Request, key: &str, label: &str) -> Result<()> {
        let id = id_of(self.request(request).await?)?;
        self.out.created(key, &id, label);
        Ok(())
    }
}

/// One request to the node running on `data_dir`.
pub(crate) async fn request_at(data_dir: &Path, request: &Request) -> Result<Value, NodeError> {
    Client::connect(data_dir).await?.request(request).await
}

/// The string the node answered, usually an id.
pub(crate) fn id_of(value: Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .context("the node answered with something other than a string")
}
