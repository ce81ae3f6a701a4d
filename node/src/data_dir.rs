//! The node's data dir: the member seed, the libp2p peer key, the store and the control socket.
//!
//! ```text
//! DATA_DIR/            0700
//!   seed               0600  the member's master seed (all pseudonyms derive from it): 32 raw
//!                            bytes, or 109 bytes encrypted under a passphrase (`cove init
//!                            --passphrase`; format in `docs/PROTOCOL.md` appendix A)
//!   peer.key           0600  libp2p keypair (protobuf encoding): the transport identity only
//!   advertiser.key     0600  32 raw bytes, only for advertisers (`cove advertiser init`)
//!   store/                   sled database
//!   nets/              0700  one file per group, `<group id>.json` (0600): the TCP port of
//!                            the group's network and the members' addresses remembered
//!                            between runs (`crate::addr_book::NetMemory`)
//!   control.sock       0600  control channel of the running node
//! ```
//!
//! The peer key is separate from the seed on purpose: the transport identity must not be
//! linkable to any pseudonym.
//!
//! An encrypted seed is opened with a passphrase given by the caller or, failing that, read
//! from the environment variable [`PASSPHRASE_ENV`] (`COVE_PASSPHRASE`, for unattended
//! nodes). Loading never writes: a wrong passphrase changes no file. Every buffer that holds
//! a secret read from disk (seed, advertiser key, peer key) is zeroized when dropped.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cove_crypto::seed_file::{self, SeedFileError};
use cove_crypto::{KdfParams, MasterSeed, Passphrase, Pseudonym};
use cove_gossip::Keypair;
use zeroize::Zeroizing;

use crate::error::{Input, NodeError};

/// The environment variable an encrypted seed's passphrase is read from when the caller
/// gives none.
pub const PASSPHRASE_ENV: &str = "COVE_PASSPHRASE";

/// The passphrase in [`PASSPHRASE_ENV`], if it is set and not empty.
pub fn passphrase_from_env() -> Option<Passphrase> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Passphrase::new)
}

/// How the master seed is written to disk.
#[derive(Clone, Debug, Default)]
pub enum SeedProtection {
    /// 32 raw bytes, protected by the file mode only.
    #[default]
    Plain,
    /// Encrypted under a passphrase (Argon2id + XChaCha20-Poly1305).
    Passphrase {
        /// The passphrase.
        passphrase: Passphrase,
        /// Argon2id costs ([`KdfParams::DEFAULT`] unless a test wants it cheap).
        params: KdfParams,
    },
}

impl SeedProtection {
    /// Encryption under `passphrase` with the default Argon2id costs.
    pub fn passphrase(passphrase: Passphrase) -> Self {
        SeedProtection::Passphrase {
            passphrase,
            params: KdfParams::DEFAULT,
        }
    }

    /// The file contents for `seed`.
    fn encode(&self, seed: &MasterSeed) -> Result<Zeroizing<Vec<u8>>, NodeError> {
        match self {
            SeedProtection::Plain => Ok(Zeroizing::new(seed.as_bytes().to_vec())),
            SeedProtection::Passphrase { passphrase, .. } if passphrase.is_empty() => Err(
                NodeError::invalid(Input::Seed, "the seed passphrase must not be empty"),
            ),
            SeedProtection::Passphrase { passphrase, params } => {
                Ok(Zeroizing::new(seed_file::encrypt(seed, passphrase, params)))
            }
        }
    }
}

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
            return Err(NodeError::AdvertiserKeyExists(path.display().to_string()));
        }
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        write_secret(&path, secret.as_slice())?;
        Ok(Pseudonym::from_secret_bytes(*secret))
    }

    /// The advertiser key, if `cove advertiser init` ran.
    pub fn load_advertiser(&self) -> Result<Pseudonym, NodeError> {
        let path = self.advertiser_key_path();
        if !path.exists() {
            return Err(NodeError::invalid(
                Input::Advertiser,
                format!(
                    "no advertiser key in {}: run `cove advertiser init` first",
                    self.root.display()
                ),
            ));
        }
        let bytes = Zeroizing::new(fs::read(&path).map_err(|e| NodeError::io(&path, e))?);
        let secret: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
                NodeError::io(
                    &path,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "advertiser key is not 32 bytes",
                    ),
                )
            })?);
        Ok(Pseudonym::from_secret_bytes(*secret))
    }

    /// Whether `init` has run.
    pub fn is_initialized(&self) -> bool {
        self.seed_path().exists()
    }

    /// Creates the directory (0700), a fresh master seed and peer key (0600).
    /// Refuses when a seed already exists, so a seed is never overwritten.
    pub fn init(&self) -> Result<(), NodeError> {
        self.init_with(&SeedProtection::Plain)
    }

    /// [`DataDir::init`], writing the seed as `protection` says (`cove init --passphrase`).
    pub fn init_with(&self, protection: &SeedProtection) -> Result<(), NodeError> {
        self.create_root()?;
        if self.is_initialized() {
            return Err(NodeError::AlreadyInitialized(
                self.root.display().to_string(),
            ));
        }
        // Encode (and check the passphrase) before writing anything.
        let seed_file = protection.encode(&MasterSeed::generate())?;
        write_secret(&self.peer_key_path(), &new_peer_key()?)?;
        write_secret(&self.seed_path(), &seed_file)
    }

    /// Creates the data dir from a backed-up master seed (`cove import-seed`): the same
    /// pseudonyms in every group, a fresh peer key. Refuses when a seed already exists.
    pub fn import_seed(&self, seed: [u8; 32]) -> Result<(), NodeError> {
        self.import_seed_with(&MasterSeed::from_bytes(seed), &SeedProtection::Plain)
    }

    /// [`DataDir::import_seed`], writing the seed as `protection` says.
    pub fn import_seed_with(
        &self,
        seed: &MasterSeed,
        protection: &SeedProtection,
    ) -> Result<(), NodeError> {
        self.create_root()?;
        if self.is_initialized() {
            return Err(NodeError::AlreadyInitialized(
                self.root.display().to_string(),
            ));
        }
        let seed_file = protection.encode(seed)?;
        if !self.peer_key_path().exists() {
            write_secret(&self.peer_key_path(), &new_peer_key()?)?;
        }
        write_secret(&self.seed_path(), &seed_file)
    }

    /// Rewrites the seed file as `protection` says (`cove passphrase set/remove`): the seed
    /// is opened with `current` (as [`DataDir::load_seed_with`] does) and written back
    /// atomically, so the member stays the same and a failure leaves the old file in place.
    pub fn change_seed_protection(
        &self,
        current: Option<&Passphrase>,
        protection: &SeedProtection,
    ) -> Result<(), NodeError> {
        let seed = self.load_seed_with(current)?;
        let seed_file = protection.encode(&seed)?;
        write_secret(&self.seed_path(), &seed_file)
    }

    /// What this node remembers of `group`'s network: its port and the members' addresses.
    pub fn net_memory_path(&self, group: &cove_crypto::GroupId) -> PathBuf {
        self.root.join("nets").join(format!("{group}.json"))
    }

    fn create_root(&self) -> Result<(), NodeError> {
        create_private_dir(&self.root)
    }

    fn read_seed_file(&self) -> Result<Zeroizing<Vec<u8>>, NodeError> {
        let path = self.seed_path();
        if !path.exists() {
            return Err(NodeError::NotInitialized(self.root.display().to_string()));
        }
        Ok(Zeroizing::new(
            fs::read(&path).map_err(|e| NodeError::io(&path, e))?,
        ))
    }

    /// Whether the seed file is encrypted under a passphrase.
    pub fn seed_is_encrypted(&self) -> Result<bool, NodeError> {
        Ok(seed_file::is_encrypted(&self.read_seed_file()?))
    }

    /// Reads the master seed; an encrypted one with the passphrase in [`PASSPHRASE_ENV`].
    pub fn load_seed(&self) -> Result<MasterSeed, NodeError> {
        self.load_seed_with(None)
    }

    /// Reads the master seed. An encrypted seed is opened with `passphrase`, or else the one
    /// in [`PASSPHRASE_ENV`]; without either it is an [`NodeError::InvalidInput`] naming the
    /// variable, and so is a wrong passphrase. A plain seed ignores the passphrase.
    pub fn load_seed_with(&self, passphrase: Option<&Passphrase>) -> Result<MasterSeed, NodeError> {
        let path = self.seed_path();
        let bytes = self.read_seed_file()?;
        let invalid = |message: String| {
            NodeError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, message),
            )
        };
        if !seed_file::is_encrypted(&bytes) {
            let seed: Zeroizing<[u8; 32]> =
                Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
                    invalid(format!(
                        "seed file is {} bytes, expected 32 (plain) or an encrypted seed file",
                        bytes.len()
                    ))
                })?);
            return Ok(MasterSeed::from_bytes(*seed));
        }
        let from_env;
        let passphrase = match passphrase {
            Some(p) => p,
            None => {
                from_env = passphrase_from_env().ok_or_else(|| {
                    NodeError::invalid(Input::Seed, format!(
                        "the master seed in {} is encrypted: set {PASSPHRASE_ENV} to its passphrase \
                         (or run the command on a terminal to be asked for it)",
                        path.display()
                    ))
                })?;
                &from_env
            }
        };
        seed_file::decrypt(&bytes, passphrase).map_err(|e| match e {
            SeedFileError::WrongPassphrase => NodeError::invalid(
                Input::Seed,
                format!(
                    "wrong passphrase for the master seed in {} (or the file was altered); \
                 nothing was changed",
                    path.display()
                ),
            ),
            other => invalid(other.to_string()),
        })
    }

    /// Reads the libp2p keypair, creating it when missing (so a node keeps its peer id).
    pub fn load_peer_key(&self) -> Result<Keypair, NodeError> {
        let path = self.peer_key_path();
        if !path.exists() {
            write_secret(&path, &new_peer_key()?)?;
        }
        let bytes = Zeroizing::new(fs::read(&path).map_err(|e| NodeError::io(&path, e))?);
        Keypair::from_protobuf_encoding(&bytes).map_err(|e| {
            NodeError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        })
    }
}

fn new_peer_key() -> Result<Zeroizing<Vec<u8>>, NodeError> {
    Keypair::generate_ed25519()
        .to_protobuf_encoding()
        .map(Zeroizing::new)
        .map_err(|e| NodeError::Control(format!("encoding a new peer key: {e}")))
}

/// Creates `dir` (and its parents) and makes it accessible to its owner only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), NodeError> {
    fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| NodeError::io(dir, e))
}

/// Writes a secret file readable by its owner only, atomically (temp file, fsync, rename).
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
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

    fn cheap(passphrase: &str) -> SeedProtection {
        SeedProtection::Passphrase {
            passphrase: Passphrase::new(passphrase.to_string()),
            params: KdfParams::new(64, 1, 1).unwrap(),
        }
    }

    fn pass(text: &str) -> Passphrase {
        Passphrase::new(text.to_string())
    }

    #[test]
    fn an_encrypted_seed_opens_only_with_its_passphrase_and_nothing_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("cove"));
        dir.init_with(&cheap("open sesame")).unwrap();
        let path = dir.seed_path();
        let on_disk = fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), seed_file::ENCRYPTED_LEN);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(dir.seed_is_encrypted().unwrap());

        let seed = dir.load_seed_with(Some(&pass("open sesame"))).unwrap();
        assert!(!on_disk.windows(32).any(|w| w == seed.as_bytes().as_slice()));

        let wrong = dir.load_seed_with(Some(&pass("open sesame!"))).unwrap_err();
        assert!(wrong.is_user_error(), "{wrong}");
        assert!(wrong.to_string().contains("wrong passphrase"), "{wrong}");
        assert_eq!(fs::read(&path).unwrap(), on_disk, "the file is untouched");
        assert!(!path.with_extension("tmp").exists());

        // The same seed restored elsewhere, plain and encrypted.
        let plain = DataDir::new(tmp.path().join("plain"));
        plain
            .import_seed_with(&seed, &SeedProtection::Plain)
            .unwrap();
        assert!(!plain.seed_is_encrypted().unwrap());
        assert_eq!(plain.load_seed().unwrap().as_bytes(), seed.as_bytes());
        // A plain seed ignores any passphrase.
        assert_eq!(
            plain.load_seed_with(Some(&pass("x"))).unwrap().as_bytes(),
            seed.as_bytes()
        );
        let locked = DataDir::new(tmp.path().join("locked"));
        locked.import_seed_with(&seed, &cheap("other")).unwrap();
        assert_eq!(
            locked
                .load_seed_with(Some(&pass("other")))
                .unwrap()
                .as_bytes(),
            seed.as_bytes()
        );
    }

    #[test]
    fn protection_can_be_added_changed_and_removed_keeping_the_seed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        dir.init().unwrap();
        let seed = *dir.load_seed().unwrap().as_bytes();
        dir.change_seed_protection(None, &cheap("one")).unwrap();
        assert!(dir.seed_is_encrypted().unwrap());
        let locked = fs::read(dir.seed_path()).unwrap();
        // A wrong current passphrase changes nothing.
        assert!(dir
            .change_seed_protection(Some(&pass("two")), &cheap("three"))
            .is_err());
        assert_eq!(fs::read(dir.seed_path()).unwrap(), locked);
        dir.change_seed_protection(Some(&pass("one")), &cheap("two"))
            .unwrap();
        assert!(dir.load_seed_with(Some(&pass("one"))).is_err());
        dir.change_seed_protection(Some(&pass("two")), &SeedProtection::Plain)
            .unwrap();
        assert_eq!(fs::read(dir.seed_path()).unwrap(), seed, "plain again");
        let mode = fs::metadata(dir.seed_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_passphrase_names_the_variable() {
        // Only this test touches COVE_PASSPHRASE in this binary, and only to read it: the
        // variable is unset in the test environment (checked, so a stray one does not lie).
        if std::env::var_os(PASSPHRASE_ENV).is_some() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        dir.init_with(&cheap("secret")).unwrap();
        let err = dir.load_seed().unwrap_err();
        assert!(err.is_user_error());
        assert!(err.to_string().contains("COVE_PASSPHRASE"), "{err}");
    }

    #[test]
    fn empty_passphrases_and_damaged_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("empty"));
        let err = dir.init_with(&cheap("")).unwrap_err();
        assert!(err.is_user_error(), "{err}");
        assert!(!dir.is_initialized(), "nothing written");
        assert!(!dir.peer_key_path().exists(), "nothing written");

        let dir = DataDir::new(tmp.path().join("cut"));
        dir.init_with(&cheap("secret")).unwrap();
        let bytes = fs::read(dir.seed_path()).unwrap();
        fs::write(dir.seed_path(), &bytes[..50]).unwrap();
        let err = dir.load_seed_with(Some(&pass("secret"))).unwrap_err();
        assert!(!err.is_user_error());
        assert!(err.to_string().contains("truncated"), "{err}");
        fs::write(dir.seed_path(), [7u8; 31]).unwrap();
        let err = dir.load_seed_with(None).unwrap_err();
        assert!(err.to_string().contains("31 bytes"), "{err}");
    }
}
