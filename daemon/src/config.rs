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
    /// Homes kept open at once; past it the least recently used idle ones are closed (and
    /// opened again, from the files, on their next request).
    pub max_open_homes: usize,
    /// The endpoint a stored token without an `hf_auth_endpoint` record (one huggingface_hub
    /// wrote) is taken to come from: only its clients may have such a token refreshed or looked
    /// up. huggingface_hub's default endpoint unless you use a private Hub only.
    pub default_endpoint: String,
    /// `[[route]]` rules: which stored token a request gets by repo and directory (first match).
    /// Each with the line of its header, for errors. Compiled by `route::Rules::compile`.
    #[serde(rename = "route", deserialize_with = "with_lines")]
    pub routes: Vec<(usize, RouteEntry)>,
    /// Choose another stored token when the active one cannot do what is asked at a repo and
    /// exactly one other can (judged from cached whoami answers).
    pub route_by_scope: bool,
    /// `[forward]`: the forward socket for remote machines (`hf-auth ssh`) and containers.
    pub forward: ForwardConfig,
    /// The daemon's home directory, for `~` in `[[route]]` dirs. Not a setting.
    #[serde(skip)]
    pub home_dir: Option<PathBuf>,
    /// The file this was loaded from (or would have been: it may not exist yet). `storage migrate`
    /// writes its choice there. Not a setting.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            whoami_ttl_secs: 600,
            storage: StorageMode::File,
            keyring_timeout_secs: 5,
            mirror_token_file: true,
            refresh_margin_secs: 86_400,
            max_open_homes: crate::homes::DEFAULT_MAX_OPEN_HOMES,
            default_endpoint: hf_auth_proto::paths::DEFAULT_ENDPOINT.to_owned(),
            routes: Vec::new(),
            route_by_scope: true,
            forward: ForwardConfig::default(),
            home_dir: None,
            source: None,
        }
    }
}

/// `[forward]`: who may reach the daemon through its forward socket, and what they get.
/// Off by default: a socket meant to be carried elsewhere exists only when asked for.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// Listen on the forward socket (`hf-authd-forward.sock` beside the main one).
    pub enabled: bool,
    /// The only stored token remote callers get (say, a read-only one); none: what a local
    /// caller of the daemon's own home would get.
    pub token: Option<String>,
    /// Peer uids served on the forward socket besides the owner (container root: `[0]`).
    pub allow_uids: Vec<u32>,
}

/// One `[[route]]` table as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// A stored token's name.
    pub token: String,
    /// Globs over the repo id (`acme/*`, `datasets/acme/*`, `spaces/acme/*`).
    #[serde(default)]
    pub repos: Vec<String>,
    /// The caller's cwd is inside one of these (`~/…` allowed).
    #[serde(default)]
    pub dirs: Vec<String>,
}

/// Deserialises `[[route]]` tables; [`Config::parse`] fills in each one's line.
fn with_lines<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(usize, RouteEntry)>, D::Error> {
    let entries: Vec<RouteEntry> = Deserialize::deserialize(d)?;
    Ok(entries.into_iter().map(|e| (0, e)).collect())
}

/// Reads the config file under the home files' rules ([`crate::secure_fs::read_settings`]): no
/// directory of another user or open to all, no link planted in a sticky directory, no FIFO,
/// nothing huge. `None`: there is none. (With `HOME` or `XDG_CONFIG_HOME` in a shared directory,
/// another user could otherwise write the routing rules and the default endpoint.)
pub fn read(path: &Path) -> Result<Option<String>, ConfigError> {
    crate::secure_fs::read_settings(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot use the config file {path}: {source}")]
    Read { path: PathBuf, source: crate::secure_fs::FsError },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Config {
    /// Reads `path`; a missing file means every default.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match read(path) {
            Ok(Some(text)) => {
                Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.to_path_buf(), message })
            }
            Ok(None) => Ok(Self::default()),
            Err(e) => Err(e),
        }
        .map(|c| Self { source: Some(path.to_path_buf()), ..c })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        // The n-th `[[route]]` table is the n-th line that opens one (TOML keeps their order).
        let headers = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().strip_prefix("[[").is_some_and(|r| r.trim_start().starts_with("route")))
            .map(|(i, _)| i + 1);
        for ((line, _), header) in config.routes.iter_mut().zip(headers) {
            *line = header;
        }
        Ok(config)
    }

    pub fn whoami_ttl(&self) -> Duration {
        Duration::from_secs(self.whoami_ttl_secs)
    }

    pub fn keyring_settings(&self) -> crate::store::keyring::KeyringSettings {
        crate::store::keyring::KeyringSettings {
            timeout: Duration::from_secs(self.keyring_timeout_secs.max(1)),
            mirror_token_file: self.mirror_token_file,
        }
    }
}

/// Sets `storage = "<mode>"` in the config file at `path` (created if missing), keeping every
/// other line as it is. Blocking.
pub fn persist_storage(path: &Path, mode: StorageMode) -> std::io::Result<()> {
    let value = match mode {
        StorageMode::File => "file",
        StorageMode::Keyring => "keyring",
    };
    let text = read(path).map_err(std::io::Error::other)?.unwrap_or_default();
    let line = format!("storage = \"{value}\"");
    let mut replaced = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            let key = l.split('=').next().unwrap_or_default().trim();
            // Only top-level keys exist in this file, so the first `storage` line is the setting.
            if !replaced && key == "storage" && l.contains('=') {
                replaced = true;
                line.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !replaced {
        out.push(line);
    }
    // Through directory handles, a temp file made O_EXCL: no planted link or file is followed.
    crate::secure_fs::write_secret(path, (out.join("\n") + "\n").as_bytes()).map_err(std::io::Error::other)
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
    fn routes_keep_their_lines() {
        let text = "whoami_ttl_secs = 5\n\n[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/*\"]\n\n[[route]]\ntoken = \"mine\"\ndirs = [\"~/work\"]\n";
        let c = Config::parse(text).unwrap();
        assert_eq!(
            c.routes.iter().map(|(l, e)| (*l, e.token.as_str())).collect::<Vec<_>>(),
            [(3, "acme-write"), (7, "mine")]
        );
        assert!(c.route_by_scope);
        assert!(Config::parse("[[route]]\ntoken = \"x\"\nrepo = [\"typo\"]\n").is_err(), "unknown keys are errors");
    }

    #[test]
    fn persisting_the_storage_keeps_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hf-auth").join("config.toml");
        persist_storage(&path, StorageMode::Keyring).unwrap();
        assert_eq!(Config::load(&path).unwrap().storage, StorageMode::Keyring);
        std::fs::write(&path, "# mine\nwhoami_ttl_secs = 7\nstorage = \"keyring\"\n").unwrap();
        persist_storage(&path, StorageMode::File).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\nwhoami_ttl_secs = 7\nstorage = \"file\"\n");
        assert_eq!(Config::load(&path).unwrap().source.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn forward_section() {
        assert_eq!(Config::default().forward, ForwardConfig::default());
        assert!(!Config::default().forward.enabled, "off unless asked for");
        let c = Config::parse("[forward]\nenabled = true\ntoken = \"cluster-read\"\nallow_uids = [0]\n").unwrap();
        assert_eq!(c.forward, ForwardConfig { enabled: true, token: Some("cluster-read".into()), allow_uids: vec![0] });
        assert!(Config::parse("[forward]\nallow_uid = [0]\n").is_err(), "typos are errors");
    }

    #[test]
    fn unknown_keys_are_errors_not_silence() {
        assert!(Config::parse("whoami_tll_secs = 5").unwrap_err().contains("whoami_tll_secs"));
    }
}
