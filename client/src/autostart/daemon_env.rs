//! The environment an autostarted hf-authd gets: what a daemon needs, nothing of the caller's
//! secrets. The caller's `HF_TOKEN` reaches the daemon in each request's context when the caller
//! asks; left in the daemon's environment it would sit in `/proc/<pid>/environ` for as long as the
//! daemon lives, and apply to no one.

/// Variables passed on by name.
const KEEP: &[&str] = &[
    // Finding programs and the user's files (the keyring's D-Bus, `HOME` for the default home).
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "TZ",
    "LANG",
    "DBUS_SESSION_BUS_ADDRESS",
    // The daemon's own default home, Hub and OAuth client (its preload, as the caller sees them).
    "HF_HOME",
    "HF_TOKEN_PATH",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGINGFACE_CO_STAGING",
    "HF_DEVICE_CODE_OAUTH_CLIENT_ID",
    // Logging.
    "RUST_LOG",
    "RUST_BACKTRACE",
    "NO_COLOR",
    // The Hub behind a proxy (reqwest reads these).
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    // Coverage runs of the test suite profile the daemon too.
    "LLVM_PROFILE_FILE",
];

/// Variables passed on by prefix: locale categories, XDG base directories, our own settings.
const KEEP_PREFIX: &[&str] = &["LC_", "XDG_", "HF_AUTH_"];

/// Never passed on, whatever the lists above say: token-bearing variables.
const NEVER: &[&str] = &["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"];

/// Whether the daemon gets `name`.
pub fn keeps(name: &str) -> bool {
    !NEVER.contains(&name)
        && !name.contains("TOKEN")
        && (KEEP.contains(&name) || KEEP_PREFIX.iter().any(|p| name.starts_with(p)))
}

/// The daemon's whole environment, taken from the caller's.
pub fn daemon_env(env: &hf_auth_proto::Env) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> =
        env.vars().filter(|(k, _)| keeps(k)).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    vars.sort();
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("PATH", true)]
    #[case("HOME", true)]
    #[case("HF_HOME", true)]
    #[case("XDG_RUNTIME_DIR", true)]
    #[case("LC_ALL", true)]
    #[case("HF_AUTH_NO_AUTOSTART", true)]
    #[case("DBUS_SESSION_BUS_ADDRESS", true)]
    #[case("HF_TOKEN", false)]
    #[case("HUGGING_FACE_HUB_TOKEN", false)]
    #[case("HF_AUTH_TOKEN", false)]
    #[case("GITHUB_TOKEN", false)]
    #[case("AWS_SECRET_ACCESS_KEY", false)]
    #[case("SSH_AUTH_SOCK", false)]
    #[case("PWD", false)]
    #[case("LD_PRELOAD", false)]
    fn what_the_daemon_keeps(#[case] name: &str, #[case] kept: bool) {
        assert_eq!(keeps(name), kept);
    }

    #[test]
    fn a_scrubbed_environment_has_no_token() {
        let env = hf_auth_proto::Env::from_pairs([
            ("HF_TOKEN", "hf_secret"),
            ("PATH", "/bin"),
            ("HUGGING_FACE_HUB_TOKEN", "hf_legacy"),
            ("OPENAI_API_KEY", "sk"),
        ]);
        assert_eq!(daemon_env(&env), vec![("PATH".to_owned(), "/bin".to_owned())]);
    }
}
