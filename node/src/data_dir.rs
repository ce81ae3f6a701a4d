//! The node's data dir: the member seed, the libp2p peer key, the store and the control socket.
//!
//! ```text
//! DATA_DIR/            0700
//!   seed               0600  32 raw bytes: the member's master seed (all pseudonyms derive from it)
//!   peer.key           0600  libp2p keypair (protobuf encoding): the transport identity only
//!   advertiser.key     0600  32 raw bytes, only for advertisers (`cove advertiser init`)
//!   store/                   sled database
//!   control.sock       0600  control channel of the running node
//! ```
//!
//! The peer key is separate from the seed on purpose: the transport identity must not be
//! linkable to any pseudonym.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cove_crypto::{MasterSeed, Pseudonym};
use cove_gossip::Keypair;

use crate::error::NodeError;

/// Paths inside a data dir.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// A data dir at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The master seed file.
    pub fn seed_path(&self) -> PathBuf {
        self.root.join("seed")
    }

    /// The libp2p keypair file.
    pub fn peer_key_path(&self) -> PathBuf {
        self.root.join("peer.key")
    }

    /// The sled database directory.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The control socket of the running node.
    pub fn socket_path(&self) -> PathBuf {
        self.root.join("control.sock")
    }

    /// The advertiser secret key file.
    pub fn advertiser_key_path(&self) -> PathBuf {
        self.root.join("advertiser.key")
    }

    /// Creates this node's advertiser key (refuses to overwrite one) and returns it. The key
    /// is random, not derived from the member seed: nothing links the advertiser to a member.
    pub fn init_advertiser(&self) -> Result<Pseudonym, NodeError> {
        self.create_root()?;
        let path = self.advertiser_key_path();
        if path.exists() {
            return Err(NodeError::AlreadyInitialized(path.display().to_string()));
        }
        let secret: [u8; 32] = rand::random();
        write_secret(&path, &secret)?;
        Ok(Pseudonym::from_secret_bytes(secret))
    }

    /// The advertiser key, if `cove advertiser init` ran.
    pub fn load_advertiser(&self) -> Result<Pseudonym, NodeError> {
        let path = self.advertiser_key_path();
        if !path.exists() {
            return Err(NodeError::InvalidInput(format!(
                "no advertiser key in {}: run `cove advertiser init` first",
                self.root.display()
            )));
        }
        let bytes = fs::read(&path).map_err(|e| NodeError::io(&path, e))?;
        let secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            NodeError::io(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "advertiser key is not 32 bytes",
                ),
            )
        })?;
        Ok(Pseudonym::from_secret_bytes(secret))
    }

    /// Whether `init` has run.
    pub fn is_initialized(&self) -> bool {
        self.seed_path().exists()
    }

    /// Creates the directory (0700), a fresh master seed and peer key (0600).
    /// Refuses when a seed already exists, so a seed is never overwritten.
    pub fn init(&self) -> Result<(), NodeError> {
        self.create_root()?;
        if self.is_initialized() {
            return Err(NodeError::AlreadyInitialized(
                self.root.display().to_string(),
            ));
        }
        write_secret(&self.peer_key_path(), &new_peer_key()?)?;
        write_secret(&self.seed_path(), MasterSeed::generate().as_bytes())?;
        Ok(())
    }

    /// Creates the data dir from a backed-up master seed (`cove import-seed`): the same
    /// pseudonyms in every group, a fresh peer key. Refuses when a seed already exists.
    pub fn import_seed(&self, seed: [u8; 32]) -> Result<(), NodeError> {
        self.create_root()?;
        if self.is_initialized() {
            return Err(NodeError::AlreadyInitialized(
                self.root.display().to_string(),
            ));
        }
        if !self.peer_key_path().exists() {
            write_secret(&self.peer_key_path(), &new_peer_key()?)?;
        }
        write_secret(&self.seed_path(), &seed)
    }

    fn create_root(&self) -> Result<(), NodeError> {
        fs::create_dir_all(&self.root).map_err(|e| NodeError::io(&self.root, e))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(|e| NodeError::io(&self.root, e))
    }

    /// Reads the master seed.
    pub fn load_seed(&self) -> Result<MasterSeed, NodeError> {
        let path = self.seed_path();
        if !path.exists() {
            return Err(NodeError::NotInitialized(self.root.display().to_string()));
        }
        let bytes = fs::read(&path).map_err(|e| NodeError::io(&path, e))?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            NodeError::io(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("seed file is {} bytes, expected 32", bytes.len()),
                ),
            )
        })?;
        Ok(MasterSeed::from_bytes(seed))
    }

    /// Reads the libp2p keypair, creating it when missing (so a node keeps its peer id).
    pub fn load_peer_key(&self) -> Result<Keypair, NodeError> {
        let path = self.peer_key_path();
        if !path.exists() {
            write_secret(&path, &new_peer_key()?)?;
        }
        let bytes = fs::read(&path).map_err(|e| NodeError::io(&path, e))?;
        Keypair::from_protobuf_encoding(&bytes).map_err(|e| {
            NodeError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        })
    }
}

fn new_peer_key() -> Result<Vec<u8>, NodeError> {
    Keypair::generate_ed25519()
        .to_protobuf_encoding()
        .map_err(|e| NodeError::Control(format!("encoding a new peer key: {e}")))
}

/// Writes a secret file readable by its owner only, atomically (temp file, fsync, rename).
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| NodeError::io(&tmp, e))?;
    file.write_all(bytes).map_err(|e| NodeError::io(&tmp, e))?;
    file.sync_all().map_err(|e| NodeError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| NodeError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_private_files_and_refuses_twice() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("cove"));
        assert!(matches!(dir.load_seed(), Err(NodeError::NotInitialized(_))));
        dir.init().unwrap();
        let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.seed_path()), 0o600);
        assert_eq!(mode(dir.peer_key_path()), 0o600);
        assert_eq!(mode(dir.root().to_path_buf()), 0o700);
        let seed = *dir.load_seed().unwrap().as_bytes();
        assert!(matches!(dir.init(), Err(NodeError::AlreadyInitialized(_))));
        assert_eq!(*dir.load_seed().unwrap().as_bytes(), seed, "seed untouched");
        let peer = dir.load_peer_key().unwrap().public().to_peer_id();
        let restored = DataDir::new(tmp.path().join("restored"));
        restored.import_seed(seed).unwrap();
        assert_eq!(
            *restored.load_seed().unwrap().as_bytes(),
            seed,
            "backup restores the seed"
        );
        assert_eq!(mode(restored.seed_path()), 0o600);
        assert!(matches!(
            restored.import_seed(seed),
            Err(NodeError::AlreadyInitialized(_))
        ));
        assert_eq!(dir.load_peer_key().unwrap().public().to_peer_id(), peer);
    }
}
