//! Helpers of the node's unit tests: the rule and view tests run against a store on disk and
//! one in memory, with one body ([`each_store`]).

use cove_crypto::{GroupId, Invite, MasterSeed};
use tempfile::TempDir;

use crate::core::Core;
use crate::store::Store;

/// Where a test run's stores live.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    /// sled, each store in a temporary directory.
    Disk,
    /// `Store::memory()`.
    Memory,
}

/// Opens the stores of one test run on its backend, keeping the directories of disk stores
/// until it is dropped (after the test body and its cores).
#[derive(Debug)]
pub(crate) struct Stores {
    backend: Backend,
    dirs: Vec<TempDir>,
}

impl Stores {
    /// A fresh, empty store.
    pub(crate) fn store(&mut self) -> Store {
        match self.backend {
            Backend::Disk => {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(dir.path()).unwrap();
                self.dirs.push(dir);
                store
            }
            Backend::Memory => Store::memory(),
        }
    }

    /// A member whose master seed is 32 times `seed`, on a fresh store.
    pub(crate) fn core(&mut self, seed: u8) -> Core {
        Core::new(self.store(), MasterSeed::from_bytes([seed; 32])).unwrap()
    }

    /// ant (seed 1) founds "club" at t = 1 s; bat (2) and cat (3) join from its invite at
    /// t = 2 s. Nothing else is exchanged.
    pub(crate) fn club_of_three(&mut self) -> ([Core; 3], GroupId) {
        let mut ant = self.core(1);
        let group = ant.create_group("club", 1_000).unwrap();
        let invite = Invite::decode(&ant.invite(&group, vec![], 100_000).unwrap(), 1).unwrap();
        let (mut bat, mut cat) = (self.core(2), self.core(3));
        bat.join(&invite, 2_000).unwrap();
        cat.join(&invite, 2_000).unwrap();
        ([ant, bat, cat], group)
    }
}

/// Runs `test` with stores on disk, then with stores in memory; a failure says which.
pub(crate) fn each_store(test: impl Fn(&mut Stores)) {
    for backend in [Backend::Disk, Backend::Memory] {
        let mut stores = Stores {
            backend,
            dirs: Vec::new(),
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&mut stores)));
        if let Err(panic) = run {
            eprintln!("the test failed with the {backend:?} store");
            std::panic::resume_unwind(panic);
        }
    }
}
