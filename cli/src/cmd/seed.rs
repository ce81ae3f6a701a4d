//! `init`, `export-seed`, `import-seed`, `passphrase`: the member seed in the data dir. These
//! work on the data dir directly; none needs the node.

use std::path::PathBuf;

use anyhow::Result;
use cove_crypto::MasterSeed;
use cove_node::data_dir::{DataDir, SeedProtection};
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::PassphraseCommand;
use crate::parse;
use crate::secret::{
    new_passphrase, read_secret, seed_passphrase, seed_protection, NEW_PASSPHRASE_ENV, SEED_INPUT,
};

/// `cove init [--passphrase]`.
pub(crate) fn init(ctx: &Ctx, passphrase: bool) -> Result<()> {
    let protection = seed_protection(passphrase)?;
    DataDir::new(&ctx.data_dir).init_with(&protection)?;
    let label = if passphrase {
        "initialised (seed encrypted with your passphrase)"
    } else {
        "initialised"
    };
    ctx.out
        .created("data_dir", &ctx.data_dir.display().to_string(), label);
    Ok(())
}

/// `cove export-seed`.
pub(crate) fn export(ctx: &Ctx) -> Result<()> {
    let dir = DataDir::new(&ctx.data_dir);
    let seed = dir.load_seed_with(seed_passphrase(&dir)?.as_ref())?;
    let hex: Zeroizing<String> =
        Zeroizing::new(seed.as_bytes().iter().map(|b| format!("{b:02x}")).collect());
    ctx.out.created(
        "seed",
        &hex,
        "master seed (keep it secret: it is every pseudonym you have)",
    );
    Ok(())
}

/// `cove import-seed [SEED | --file PATH] [--passphrase]`.
pub(crate) fn import(
    ctx: &Ctx,
    seed: Option<String>,
    file: Option<PathBuf>,
    passphrase: bool,
) -> Result<()> {
    let text = read_secret(&SEED_INPUT, seed, file.as_deref())?;
    let seed = MasterSeed::from_bytes(*Zeroizing::new(parse::seed(text.trim())?));
    let protection = seed_protection(passphrase)?;
    DataDir::new(&ctx.data_dir).import_seed_with(&seed, &protection)?;
    ctx.out.created(
        "data_dir",
        &ctx.data_dir.display().to_string(),
        "seed imported",
    );
    Ok(())
}

/// `cove passphrase set|remove`.
pub(crate) fn passphrase(ctx: &Ctx, command: PassphraseCommand) -> Result<()> {
    let dir = DataDir::new(&ctx.data_dir);
    let current = seed_passphrase(&dir)?;
    // Open the seed first: a wrong current passphrase fails before anything is asked.
    dir.load_seed_with(current.as_ref())?;
    let (protection, done) = match command {
        PassphraseCommand::Set => (
            SeedProtection::passphrase(new_passphrase(NEW_PASSPHRASE_ENV)?),
            "seed encrypted with the new passphrase",
        ),
        PassphraseCommand::Remove => (SeedProtection::Plain, "seed stored unencrypted"),
    };
    dir.change_seed_protection(current.as_ref(), &protection)?;
    ctx.out.message(done);
    Ok(())
}
