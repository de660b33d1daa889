//! The launchd agent as shipped: a valid property list that runs the daemon.

use super::{LABEL, arg_after, packaging, plist_to_json, program_arguments};

#[test]
fn launchd_plist_is_a_property_list_that_runs_the_daemon() {
    let raw = std::fs::read(packaging().join(format!("launchd/{LABEL}.plist"))).expect("read plist");
    let Some(plist) = plist_to_json(&raw) else { return };
    assert_eq!(plist["Label"], LABEL, "launchd wants the file named after the label");
    let args = program_arguments(&plist);
    assert_eq!(args[0], "__BIN__/hf-authd", "an absolute path, filled in by install.sh");
    assert_eq!(arg_after(&args, "--log-file"), Some("__LOG__"));
    assert_eq!(arg_after(&args, "--socket"), Some("__SOCKET__"));
    assert_eq!(plist["StandardErrorPath"], "__LOG__");
    assert_eq!(plist["RunAtLoad"], true);
    assert!(
        plist["KeepAlive"] == true || plist["KeepAlive"]["SuccessfulExit"] == false,
        "KeepAlive = {}",
        plist["KeepAlive"]
    );
}
