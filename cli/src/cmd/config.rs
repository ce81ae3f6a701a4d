//! `cove config show`: the configuration `cove up` would run with, and where each value
//! comes from.

use anyhow::Result;

use super::Ctx;
use crate::args::ConfigCommand;
use crate::config::{Settings, Source};

/// `cove config show [UP FLAGS]`. The addresses are parsed too, so a bad one in `cove.toml`
/// is reported here as `cove up` would.
pub(crate) fn run(ctx: &Ctx, data_dir_source: Source, command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Show(args) => {
            let settings = Settings::load(&ctx.data_dir, &args)?;
            settings.node_config(&ctx.data_dir)?;
            ctx.out.config(&ctx.data_dir, data_dir_source, &settings);
        }
    }
    Ok(())
}
