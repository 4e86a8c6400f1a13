//! `wick hash-password`: an Argon2id hash of the password on standard
//! input, for a `user:hash` line of `wick serve --auth-file`, so the file
//! never holds a password.

use std::io::BufRead;

use anyhow::{Context, bail};

pub fn run() -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("give the password on standard input, e.g. `wick hash-password < password.txt`");
    }
    println!(
        "{}",
        crate::credentials::hash_password(password).map_err(anyhow::Error::msg)?
    );
    Ok(())
}
