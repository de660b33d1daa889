//! `hf-authd`: parse flags, set up logging, run the daemon in the foreground.

use anyhow::Context;
use clap::Parser;
use hf_auth_proto::Env;
use hf_authd::config::{self, Config};
use hf_authd::run::{self, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The per-user credential daemon for the Hugging Face Hub.
#[derive(Debug, Parser)]
#[command(name = "hf-authd", version, about)]
struct Args {
    /// Socket to serve on [default: $HF_AUTH_SOCKET, else $XDG_RUNTIME_DIR/hf-auth/hf-authd.sock,
    /// else ${TMPDIR:-/tmp}/hf-auth-<uid>/hf-authd.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Log level or filter (error, warn, info, debug, trace) [default: $RUST_LOG, else info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Append logs to this file (mode 0600) instead of stderr.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Exit after this many seconds without a request (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    idle_timeout: u64,
    /// Config file [default: $XDG_CONFIG_HOME/hf-auth/config.toml].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print "ready <pid>" on stdout once serving (used by the client's autostart).
    #[arg(long, hide = true)]
    print_ready: bool,
    /// Leave the starter's session and working directory: setsid, then chdir `/` (used by the
    /// client's autostart, which cannot do either without unsafe `pre_exec` code).
    #[arg(long, hide = true)]
    detach: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let env = Env::from_process();
    if let Err(e) = init_logging(&args) {
        eprintln!("hf-authd: {e:#}");
        return ExitCode::FAILURE;
    }
    let logs_to_file = args.log_file.is_some();
    if logs_to_file {
        log_panics();
    }
    // After the environment (relative paths in it are the starter's, resolved against its cwd)
    // and the log file are taken, before anything else runs.
    if args.detach
        && let Err(e) = detach()
    {
        eprintln!("hf-authd: {e:#}");
        return ExitCode::FAILURE;
    }
    match start(args, &env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // In the log file too, where the client's "see the log" points.
            if logs_to_file {
                tracing::error!("{e:#}");
            }
            eprintln!("hf-authd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(args: Args, env: &Env) -> anyhow::Result<()> {
    hf_authd::security::harden_process();
    hf_authd::security::raise_fd_limit();
    let socket = match args.socket {
        Some(s) => s,
        None => hf_auth_proto::socket::default_socket_path(env)?,
    };
    let config_path = args.config.or_else(|| config::default_path(env));
    let mut config = match &config_path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    config.home_dir = env.home().map(std::path::Path::to_path_buf);
    let opts = Options {
        socket: socket.clone(),
        config,
        idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        log_path: args.log_file,
        print_ready: args.print_ready,
        preload: vec![{
            let own = hf_auth_proto::ClientContext::from_env(env);
            (own.paths, own.endpoint, own.oauth_client_id)
        }],
        audit_log: hf_auth_proto::socket::audit_log_path(env),
    };
    // Bind before the runtime starts, so "already running" is reported at once.
    let bound = run::acquire(&socket)?;
    let runtime = hf_authd::server::runtime().context("starting the async runtime")?;
    hf_authd::server::run_on_workers(&runtime, run::run(opts, bound, run::signals()))
}

fn detach() -> anyhow::Result<()> {
    rustix::process::setsid().context("setsid (is hf-authd a process group leader?)")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

fn init_logging(args: &Args) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match &args.log_level {
        Some(level) => EnvFilter::try_new(level).context("invalid --log-level")?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // notify logs every file event it sees; with the log file in a watched directory (the
    // home's parent), each log line would be an event that logs a line: a busy loop.
    let filter = filter.add_directive("notify=warn".parse().context("log filter")?);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match &args.log_file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                hf_authd::secure_fs::create_private_dirs(dir)?;
            }
            // Under the home files' rules: `--log-file /tmp/hf-authd.log` must not follow a link
            // another user planted there, nor append to a file of theirs.
            let file = hf_authd::secure_fs::open_append(path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
        }
        None => {
            use std::io::IsTerminal;
            // Colour only for a person at a terminal, never in the journal or a pipe.
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(ansi).with_writer(std::io::stderr).init()
        }
    }
    Ok(())
}

/// A panic (of a request's task: the daemon goes on serving) is written to the log file too: an
/// autostarted daemon's stderr is `/dev/null`, and a panic there was seen by nobody.
fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        tracing::error!(at, "panicked: {message}");
        default(info);
    }));
}
