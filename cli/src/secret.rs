//! Secrets the user hands over: passphrases (asked without echo, or from a variable) and
//! invites or seeds (from stdin, a file, or, with a warning, an argument).

use std::path::Path;

use anyhow::{Context, Result};
use cove_crypto::Passphrase;
use cove_node::data_dir::{passphrase_from_env, DataDir, SeedProtection, PASSPHRASE_ENV};
use zeroize::Zeroizing;

use crate::error::UsageError;

/// Where `cove passphrase set` takes the new passphrase from when there is no terminal.
pub(crate) const NEW_PASSPHRASE_ENV: &str = "COVE_NEW_PASSPHRASE";

/// How `init` and `import-seed` write the seed: encrypted under a new passphrase when asked.
pub(crate) fn seed_protection(encrypt: bool) -> Result<SeedProtection> {
    Ok(if encrypt {
        SeedProtection::passphrase(new_passphrase(PASSPHRASE_ENV)?)
    } else {
        SeedProtection::Plain
    })
}

/// A new passphrase: the environment variable `var`, else typed twice on the terminal.
pub(crate) fn new_passphrase(var: &'static str) -> Result<Passphrase> {
    use std::io::IsTerminal;
    let from_env = if var == PASSPHRASE_ENV {
        passphrase_from_env()
    } else {
        std::env::var(var)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Passphrase::new)
    };
    if let Some(passphrase) = from_env {
        return Ok(passphrase);
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError::NoTerminal(var).into());
    }
    let first = prompt_passphrase("New passphrase for the master seed: ")?;
    if first.is_empty() {
        return Err(UsageError::EmptyPassphrase.into());
    }
    let again = prompt_passphrase("Repeat the passphrase: ")?;
    if first.as_bytes() != again.as_bytes() {
        return Err(UsageError::PassphrasesDiffer.into());
    }
    Ok(first)
}

/// The passphrase of an encrypted seed, asked on the terminal when `COVE_PASSPHRASE` is not
/// set. `None` for a plain seed, or when there is no terminal to ask: loading the seed then
/// takes `COVE_PASSPHRASE` or fails with an error naming it (exit code 2).
pub(crate) fn seed_passphrase(dir: &DataDir) -> Result<Option<Passphrase>> {
    use std::io::IsTerminal;
    if !dir.seed_is_encrypted()?
        || passphrase_from_env().is_some()
        || !std::io::stdin().is_terminal()
    {
        return Ok(None);
    }
    prompt_passphrase(&format!(
        "Passphrase for the master seed in {}: ",
        dir.root().display()
    ))
    .map(Some)
}

/// Reads a passphrase from the terminal without echo.
fn prompt_passphrase(prompt: &str) -> Result<Passphrase> {
    rpassword::prompt_password(prompt)
        .map(Passphrase::new)
        .context("the terminal")
}

/// A secret a command takes (an invite, a seed): how to name it and ask for it.
#[derive(Debug)]
pub(crate) struct SecretInput {
    /// What it is, in an error message.
    name: &'static str,
    /// The command that takes it, for the advice to use stdin.
    command: &'static str,
    /// The terminal prompt.
    prompt: &'static str,
}

pub(crate) const INVITE_INPUT: SecretInput = SecretInput {
    name: "invite",
    command: "join",
    prompt: "Invite (starts with cove:, not echoed): ",
};

pub(crate) const SEED_INPUT: SecretInput = SecretInput {
    name: "seed",
    command: "import-seed",
    prompt: "Master seed (64 hex characters, not echoed): ",
};

/// Most bytes read from stdin or a file for one secret; an invite is at most
/// [`cove_crypto::MAX_INVITE_LEN`] characters.
const MAX_SECRET_INPUT: u64 = 64 * 1024;

/// A secret given as `arg`, or read from `file`, or from stdin (`arg` absent or `-`): asked
/// without echo on a terminal, else all of stdin. Surrounding whitespace is dropped. An
/// argument still works but is visible in `/proc/PID/cmdline` and shell history, so it draws
/// a warning on stderr.
pub(crate) fn read_secret(
    what: &SecretInput,
    arg: Option<String>,
    file: Option<&Path>,
) -> Result<Zeroizing<String>> {
    use std::io::IsTerminal;
    let (text, place) = match (arg, file) {
        (Some(arg), _) if arg != "-" => {
            eprintln!(
                "warning: the {name} given as an argument is visible to other local users (/proc) \
                 and kept in your shell history; pass it on stdin (`cove {command} < FILE`) or \
                 with --file PATH instead",
                name = what.name,
                command = what.command,
            );
            (Zeroizing::new(arg), "the argument".to_string())
        }
        (_, Some(path)) => {
            let file = std::fs::File::open(path).map_err(|source| UsageError::SecretFile {
                path: path.to_path_buf(),
                source,
            })?;
            let place = format!("--file {}", path.display());
            (read_bounded(file, what, &place)?, place)
        }
        _ if std::io::stdin().is_terminal() => {
            let text = rpassword::prompt_password(what.prompt).context("the terminal")?;
            (Zeroizing::new(text), "the terminal".to_string())
        }
        _ => (
            read_bounded(std::io::stdin().lock(), what, "stdin")?,
            "stdin".to_string(),
        ),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UsageError::EmptySecret {
            name: what.name,
            place,
            command: what.command,
        }
        .into());
    }
    Ok(Zeroizing::new(trimmed.to_string()))
}

/// All of `reader` as text, refused past [`MAX_SECRET_INPUT`] bytes or when not UTF-8.
fn read_bounded(
    reader: impl std::io::Read,
    what: &SecretInput,
    place: &str,
) -> Result<Zeroizing<String>> {
    use std::io::Read;
    let mut bytes = Zeroizing::new(Vec::new());
    reader
        .take(MAX_SECRET_INPUT + 1)
        .read_to_end(&mut bytes)
        .with_context(|| place.to_string())?;
    let unreadable = |problem: String| UsageError::UnreadableSecret {
        place: place.to_string(),
        problem,
        name: what.name,
    };
    if bytes.len() as u64 > MAX_SECRET_INPUT {
        return Err(unreadable(format!("holds more than {MAX_SECRET_INPUT} bytes")).into());
    }
    let text =
        std::str::from_utf8(&bytes).map_err(|e| unreadable(format!("is not UTF-8 text ({e})")))?;
    Ok(Zeroizing::new(text.to_string()))
}
