//! The `hf-auth` command line, declared with clap. Flags follow `hf auth …` (huggingface_hub 2.4.0).

use crate::output::Format;
use clap::{Args, Parser, Subcommand};

/// Hugging Face Hub tokens for git, Python and every tool on this machine, served by hf-authd.
///
/// Log in once (`hf-auth login`), point git at it (`hf-auth setup-git`), and every program that
/// reads huggingface_hub's token files, asks hf-authd, or runs git against the Hub gets the token.
#[derive(Debug, Parser)]
#[command(name = "hf-auth", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line `args` (the program name first). `hf-auth token` alone, what scripts
    /// run most, is recognised without building clap's parser for every command (about 0.14 ms
    /// of a 1.2 ms run: BENCHMARKS.md); anything else, help and errors included, is clap's.
    pub fn parse_args(args: Vec<std::ffi::OsString>) -> Self {
        match args.as_slice() {
            [_, only] if only == "token" => {
                Self { output: OutputArgs::default(), command: Command::Token(ChoiceArgs::default()) }
            }
            _ => Self::parse_from(args),
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Same as --format json.
    #[arg(long, global = true, conflicts_with_all = ["format", "quiet"])]
    pub json: bool,
    /// Same as --format quiet: only the essential result.
    #[arg(short, long, global = true, conflicts_with = "format")]
    pub quiet: bool,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        match (self.format, self.json, self.quiet) {
            (Some(f), _, _) => f,
            (None, true, _) => Format::Json,
            (None, _, true) => Format::Quiet,
            _ => Format::Human,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with a token (or in the browser) and make it the active token.
    Login(LoginArgs),
    /// Log out of one stored token, or of all of them.
    Logout(LogoutArgs),
    /// Make another stored token the active one.
    Switch(SwitchArgs),
    /// List stored tokens (masked), marking the active one.
    #[command(visible_alias = "ls")]
    List,
    /// Print the token this shell gets (the active one, unless a name, rule or scope picks another).
    Token(ChoiceArgs),
    /// Show which account that token belongs to.
    Whoami(NameArgs),
    /// Which token this shell would get, and why (env, name, rule, scope, active).
    Which(ChoiceArgs),
    /// The daemon, and where your active token comes from.
    Status,
    /// Run a command with HF_TOKEN set to the token hf-authd chooses (the process is replaced).
    Exec(ExecArgs),
    /// Configure git to ask git-credential-hf for Hub credentials.
    SetupGit(SetupGitArgs),
    /// Where token secrets are kept: the token files or the OS keyring.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Start, stop or inspect hf-authd.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// ssh to HOST with hf-authd forwarded: hf-auth, git and Python there get tokens from here,
    /// and none is written there ([forward] in config.toml says which).
    Ssh(SshArgs),
    /// Who got which token, and why: hf-authd's audit log, newest first.
    Audit(AuditArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

/// Choosing a token for this command only (`hf-auth which` explains the choice).
#[derive(Debug, Args, Clone, Default)]
pub struct ChoiceArgs {
    #[command(flatten)]
    pub name: NameArgs,
    /// The repository it is for: `acme/x`, `datasets/acme/x`, `spaces/acme/x` ([[route]] rules
    /// and scope choose by it).
    #[arg(long, value_name = "ID")]
    pub repo: Option<String>,
    /// The token will be used to write there (scope then needs a token that can write).
    #[arg(long, requires = "repo")]
    pub write: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct NameArgs {
    /// Use this stored token [env: HF_AUTH_TOKEN_NAME].
    #[arg(long, value_name = "NAME")]
    pub token_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The token; `-` reads it from standard input.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Also set up git to use this token for the Hub (see `setup-git`).
    #[arg(long)]
    pub add_to_git_credential: bool,
    /// Log in again even if a token is already active.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// `[ssh options] HOST [COMMAND…]`, as for ssh itself.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true, value_name = "SSH ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only handouts this recent: 30m, 1h, 2d, 1w.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The stored token to log out of (default: all of them).
    #[arg(long, value_name = "NAME")]
    pub token_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// The stored token to switch to (default: pick one on a terminal).
    #[arg(long, value_name = "NAME")]
    pub token_name: Option<String>,
    /// Also set up git to use the active token for the Hub.
    #[arg(long)]
    pub add_to_git_credential: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Use this stored token (as HF_AUTH_TOKEN_NAME).
    #[arg(long, value_name = "NAME")]
    pub token_name: Option<String>,
    /// The repository the command works on (`acme/x`, `datasets/acme/x`, `spaces/acme/x`), for routing rules.
    #[arg(long, value_name = "ID")]
    pub repo: Option<String>,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct SetupGitArgs {
    /// Replace credential helpers already configured for the Hub.
    #[arg(long)]
    pub force: bool,
    /// Remove hf-auth's git configuration.
    #[arg(long, conflicts_with = "force")]
    pub unset: bool,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Show where new logins keep their secret, and where each stored token's secret is.
    Status,
    /// Move every stored token to the OS keyring or back to stored_tokens (safe to re-run).
    Migrate {
        /// Where to keep the secrets from now on.
        #[arg(long, value_enum)]
        to: StorageTarget,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageTarget {
    Keyring,
    File,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Start hf-authd in the background (no idle timeout).
    Start,
    /// Stop hf-authd gracefully.
    Stop,
    /// Stop, then start hf-authd.
    Restart,
    /// Is hf-authd running?
    Status,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    #[test]
    fn the_short_cut_for_a_bare_token_command_is_what_clap_would_parse() {
        let line = args(&["hf-auth", "token"]);
        let clap = Cli::try_parse_from(line.clone()).expect("clap parses `hf-auth token`");
        assert_eq!(format!("{:?}", Cli::parse_args(line)), format!("{clap:?}"));
    }

    #[test]
    fn any_other_token_command_line_is_parsed_by_clap() {
        for line in [
            &["hf-auth", "token", "--token-name", "work"][..],
            &["hf-auth", "--json", "token"],
            &["hf-auth", "token", "-q"],
        ] {
            let clap = Cli::try_parse_from(args(line)).expect("a valid command line");
            assert_eq!(format!("{:?}", Cli::parse_args(args(line))), format!("{clap:?}"), "{line:?}");
        }
    }
}
