//! Who may use the demo: the users of `--auth` / `--auth-file` (plain
//! passwords or Argon2id hashes from `wick hash-password`) and the bearer
//! tokens of `--auth-token`. Checked by the sign-in form (`auth`) and by
//! the `gate`, in a time that does not tell which names exist.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};

use crate::sessions::same_secret;

/// Who may use the demo.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    users: Vec<(String, Secret)>,
    /// Bearer tokens for API clients.
    tokens: Vec<String>,
}

/// A user's password, as given or as an Argon2 hash (PHC string).
#[derive(Clone, Debug)]
enum Secret {
    Plain(String),
    Hashed(String),
}

/// Checked when no user of the given name exists, so a wrong name costs
/// the time a wrong password does: a well-formed Argon2id hash with the
/// default cost (its salt and value are arbitrary bytes, so no password
/// matches it).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$d2ljay1kdW1teS1zYWx0$\
    Zm6W3HoOA9w1xK6KPYGZ1nOtqNHsEpjHVp2vH8EY3Ck";

impl Credentials {
    /// From `user:password` entries; a malformed one is an error naming it.
    pub fn parse(users: &[String], tokens: &[String]) -> Result<Credentials, String> {
        let users = users
            .iter()
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    Ok((user.to_string(), Secret::Plain(password.to_string())))
                }
                _ => Err(format!(
                    "--auth `{}` must look like user:password",
                    entry.split(':').next().unwrap_or_default()
                )),
            })
            .collect::<Result<_, _>>()?;
        let tokens = tokens.iter().filter(|t| !t.is_empty()).cloned().collect();
        Ok(Credentials { users, tokens })
    }

    /// Adds the users of an `--auth-file`: one `user:secret` a line, the
    /// secret an Argon2 hash (`$argon2id$…`) or a password; blank lines
    /// and `#` comments are skipped.
    pub fn add_file(&mut self, path: &std::path::Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --auth-file {}: {e}", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("{} line {}: {why}", path.display(), number + 1);
            let Some((user, secret)) = line
                .split_once(':')
                .filter(|(u, s)| !u.is_empty() && !s.is_empty())
            else {
                return Err(bad("must look like user:hash (from `wick hash-password`)"));
            };
            let secret = if secret.starts_with("$argon2") {
                let parsed = PasswordHash::new(secret)
                    .map_err(|e| bad(&format!("not a valid Argon2 hash ({e})")))?;
                if parsed.hash.is_none() || parsed.salt.is_none() {
                    return Err(bad("the Argon2 hash has no salt or no hash value"));
                }
                Secret::Hashed(secret.to_string())
            } else {
                Secret::Plain(secret.to_string())
            };
            self.users.push((user.to_string(), secret));
        }
        Ok(())
    }

    pub fn is_on(&self) -> bool {
        !self.users.is_empty() || !self.tokens.is_empty()
    }

    /// Whether the password is the user's. Slow for hashed passwords (as a
    /// hash must be): call it off the async runtime.
    pub(crate) fn password_fits(&self, user: &str, password: &str) -> bool {
        // Every name is compared, so the time does not tell which exist.
        let found = self.users.iter().fold(None, |found, (known, secret)| {
            if same_secret(user, known) {
                Some(secret)
            } else {
                found
            }
        });
        match found {
            Some(Secret::Plain(secret)) => same_secret(password, secret),
            Some(Secret::Hashed(hash)) => verify_hash(password, hash),
            None => {
                // As long as a wrong password of a hashed user takes.
                if self
                    .users
                    .iter()
                    .any(|(_, s)| matches!(s, Secret::Hashed(_)))
                {
                    verify_hash(password, DUMMY_HASH);
                }
                false
            }
        }
    }

    pub(crate) fn token_fits(&self, given: &str) -> bool {
        self.tokens
            .iter()
            .fold(false, |fits, token| fits | same_secret(given, token))
    }
}

fn verify_hash(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// An Argon2id hash of `password` (a PHC string) with a random salt, for
/// `--auth-file` (`wick hash-password`).
#[cfg(feature = "cli")]
pub(crate) fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_match() {
        let credentials =
            Credentials::parse(&["ann:pw:with:colons".into()], &["tok".into()]).unwrap();
        assert!(credentials.password_fits("ann", "pw:with:colons"));
        assert!(!credentials.password_fits("ann", "pw"));
        assert!(!credentials.password_fits("bob", "pw:with:colons"));
        assert!(credentials.token_fits("tok") && !credentials.token_fits("to"));
        assert!(Credentials::parse(&["nopassword".into()], &[]).is_err());
        assert!(!Credentials::parse(&[], &[]).unwrap().is_on());
    }

    #[test]
    fn hashed_passwords_from_a_file_match_only_their_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        std::fs::write(&file, format!("# demo users\nann:{hash}\n\nbob:plain-pw\n")).unwrap();
        let mut credentials = Credentials::default();
        credentials.add_file(&file).unwrap();
        assert!(credentials.is_on());
        assert!(credentials.password_fits("ann", "correct horse"));
        assert!(!credentials.password_fits("ann", "correct horse!"));
        assert!(credentials.password_fits("bob", "plain-pw"));
        assert!(!credentials.password_fits("nobody", "correct horse"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        std::fs::write(&file, "carl:$argon2id$broken\n").unwrap();
        let error = Credentials::default().add_file(&file).unwrap_err();
        assert!(error.contains("line 1"), "{error}");
    }
}
