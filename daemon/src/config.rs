//! The daemon's settings: `$XDG_CONFIG_HOME/hf-auth/config.toml`, optional, every field defaulted.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageMode {
    /// huggingface_hub's plain files, exactly.
    #[default]
    File,
    /// Secrets in the OS keyring; `stored_tokens` keeps names and metadata.
    Keyring,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How long a whoami answer is served from the cache, in seconds.
    pub whoami_ttl_secs: u64,
    pub storage: StorageMode,
    /// Upper bound on one keyring call, in seconds (a locked desktop keyring waits for a prompt).
    pub keyring_timeout_secs: u64,
    /// In keyring mode, still write the active token to the token file (Python and hf-hub read it).
    pub mirror_token_file: bool,
    /// Refresh OAuth tokens this many seconds before they expire (huggingface_hub: one day).
    pub refresh_margin_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            whoami_ttl_secs: 600,
            storage: StorageMode::File,
            keyring_timeout_secs: 5,
            mirror_token_file: true,
            refresh_margin_secs: 86_400,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Config {
    /// Reads `path`; a missing file means every default.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.to_path_buf(), message }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read { path: path.to_path_buf(), source }),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn whoami_ttl(&self) -> Duration {
        Duration::from_secs(self.whoami_ttl_secs)
    }

    pub fn keyring_timeout(&self) -> Duration {
        Duration::from_secs(self.keyring_timeout_secs.max(1))
    }
}

/// `$XDG_CONFIG_HOME/hf-auth/config.toml`, else `~/.config/hf-auth/config.toml`.
pub fn default_path(env: &hf_auth_proto::Env) -> Option<PathBuf> {
    let base = match env.non_empty("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x),
        None => env.home()?.join(".config"),
    };
    Some(base.join("hf-auth").join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let c = Config::parse("whoami_ttl_secs = 5\nstorage = \"keyring\"\n").unwrap();
        assert_eq!(c.whoami_ttl(), Duration::from_secs(5));
        assert_eq!(c.storage, StorageMode::Keyring);
    }

    #[test]
    fn unknown_keys_are_errors_not_silence() {
        assert!(Config::parse("whoami_tll_secs = 5").unwrap_err().contains("whoami_tll_secs"));
    }
}
