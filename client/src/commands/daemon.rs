//! `hf-auth daemon start|stop|restart|status`.

use crate::autostart;
use crate::cli::DaemonCommand;
use crate::commands::status::uptime;
use crate::connect::{self, ConnectError};
use crate::failure::{CmdResult, Failure};
use crate::session::{CONNECT_TIMEOUT, LOCAL_CALL_TIMEOUT, Session, wait_until_stopped};
use hf_auth_proto::pb;

pub async fn run(s: &Session, cmd: DaemonCommand) -> CmdResult {
    match cmd {
        DaemonCommand::Start => start(s).await,
        DaemonCommand::Stop => stop(s).await,
        DaemonCommand::Restart => {
            stop(s).await?;
            start(s).await
        }
        DaemonCommand::Status => status(s).await,
    }
}

async fn start(s: &Session) -> CmdResult {
    let (env, socket) = (s.env.clone(), s.socket.clone());
    let started = tokio::task::spawn_blocking(move || autostart::start(&env, &socket, None))
        .await
        .map_err(|e| Failure::msg(e.to_string()))??;
    match started {
        Some(pid) => s.out.info(&format!(
            "hf-authd started (pid {pid}), socket {}, log {}",
            s.socket.display(),
            s.log_path().display()
        )),
        None => s.out.info(&format!("hf-authd is already running (socket {}).", s.socket.display())),
    }
    Ok(())
}

async fn stop(s: &Session) -> CmdResult {
    match connect::connect(&s.socket, CONNECT_TIMEOUT, Some(LOCAL_CALL_TIMEOUT)).await {
        Err(ConnectError::NotRunning { .. }) => {
            s.out.info("hf-authd is not running.");
            Ok(())
        }
        Err(e) => Err(e.into()),
        Ok(mut client) => {
            let st = connect::status(&mut client, &s.socket).await?;
            if st.service_managed {
                // The service manager holds the socket and would start it again on the next request.
                return Err(Failure::msg(format!(
                    "hf-authd (pid {}) is managed by your service manager; stop it there: {}",
                    st.pid,
                    service_stop_hint()
                )));
            }
            client.shutdown(pb::ShutdownRequest {}).await?;
            drop(client);
            if wait_until_stopped(&s.socket).await {
                s.out.info("hf-authd stopped.");
                Ok(())
            } else {
                Err(Failure::msg(format!("hf-authd did not stop; see {}", s.log_path().display())))
            }
        }
    }
}

async fn status(s: &Session) -> CmdResult {
    match connect::connect(&s.socket, CONNECT_TIMEOUT, Some(LOCAL_CALL_TIMEOUT)).await {
        Err(ConnectError::NotRunning { socket }) => {
            s.out.print(&format!("hf-authd is not running (socket {}).", socket.display()));
            Err(Failure::Exit(3))
        }
        Err(e) => Err(e.into()),
        Ok(mut client) => {
            let st = connect::status(&mut client, &s.socket).await?;
            s.out.print(&format!(
                "hf-authd {} is running (pid {}, up {}), socket {}",
                st.version,
                st.pid,
                uptime(st.uptime_ms),
                st.socket_path
            ));
            Ok(())
        }
    }
}

fn service_stop_hint() -> &'static str {
    if cfg!(target_os = "macos") {
        "launchctl bootout gui/$(id -u)/co.huggingface.hf-authd"
    } else {
        "systemctl --user stop hf-authd.socket hf-authd.service"
    }
}
