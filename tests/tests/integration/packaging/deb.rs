//! The Debian package packaging/ci.sh built (HF_AUTH_TEST_DEB): contents, unit and binaries.

use super::{in_ci, key, read, scrubbed, tempdir, text, tool, unit_keys, verify};
use std::path::{Path, PathBuf};

/// The .deb packaging/ci.sh built (`HF_AUTH_TEST_DEB`); required under CI.
fn built_deb() -> Option<PathBuf> {
    match std::env::var_os("HF_AUTH_TEST_DEB").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            assert!(
                !in_ci(),
                "CI=true but HF_AUTH_TEST_DEB is unset: run `export HF_AUTH_TEST_DEB=$(packaging/ci.sh | tail -n 1)`"
            );
            eprintln!("SKIPPED: HF_AUTH_TEST_DEB is unset (packaging/ci.sh builds the .deb)");
            None
        }
    }
}

fn dpkg_deb(args: &[&std::ffi::OsStr]) -> String {
    let out = scrubbed("dpkg-deb").args(args).output().expect("run dpkg-deb");
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn deb_ships_binaries_units_man_page_and_completions() {
    let Some(deb) = built_deb() else { return };
    assert!(deb.is_file(), "{} does not exist", deb.display());
    let d = deb.as_os_str();
    assert_eq!(dpkg_deb(&["-f".as_ref(), d, "Package".as_ref()]).trim(), "hf-auth");

    let listing = dpkg_deb(&["-c".as_ref(), d]);
    let shipped: Vec<&str> =
        listing.lines().filter_map(|l| l.split_whitespace().nth(5)).map(|p| p.trim_start_matches("./")).collect();
    for path in [
        "usr/bin/hf-authd",
        "usr/bin/hf-auth",
        "usr/bin/git-credential-hf",
        "usr/lib/systemd/user/hf-authd.service",
        "usr/lib/systemd/user/hf-authd.socket",
        "usr/share/man/man1/hf-auth.1.gz",
        "usr/share/bash-completion/completions/hf-auth",
        "usr/share/zsh/vendor-completions/_hf-auth",
        "usr/share/fish/vendor_completions.d/hf-auth.fish",
    ] {
        assert!(shipped.contains(&path), "{path} is not in the package:\n{listing}");
    }

    let root = tempdir("hfdeb");
    dpkg_deb(&["-x".as_ref(), d, root.path().as_os_str()]);
    let unit = read(&root.path().join("usr/lib/systemd/user/hf-authd.service"));
    let exec = key(&unit_keys(&unit), "ExecStart").join(" ");
    let program = exec.split_whitespace().next().unwrap_or_default();
    assert_eq!(program, "/usr/bin/hf-authd", "the unit must start the packaged daemon");
    // The binaries are what the benchmarks measured: static PIEs on Linux/glibc
    // (.cargo/config.toml). A dynamic one (a build with RUSTFLAGS replacing the config's flags)
    // must at least declare the libc it loads (cargo-deb's `$auto`, from dpkg-shlibdeps).
    let depends = dpkg_deb(&["-f".as_ref(), d, "Depends".as_ref()]);
    assert!(has_interpreter(&std::fs::read("/bin/sh").expect("read /bin/sh")), "the check must see a dynamic binary");
    for bin in ["hf-authd", "hf-auth", "git-credential-hf"] {
        let elf = std::fs::read(root.path().join("usr/bin").join(bin)).expect("read a packaged binary");
        match has_interpreter(&elf) {
            false if cfg!(all(target_os = "linux", target_env = "gnu")) => {}
            false => panic!("{bin} is static off glibc: .cargo/config.toml asks that only there"),
            true if in_ci() => panic!("{bin} is dynamically linked: .cargo/config.toml's +crt-static was not applied"),
            true => assert!(depends.contains("libc6"), "{bin} is dynamic but the package does not depend on libc6"),
        }
    }
    let packaged = root.path().join(program.trim_start_matches('/'));
    let version = scrubbed(&packaged).arg("--version").output().expect("run the packaged hf-authd");
    assert_eq!(text(&version).trim(), format!("hf-authd {}", env!("CARGO_PKG_VERSION")));
    for (file, marker) in [
        ("usr/share/bash-completion/completions/hf-auth", "hf-auth"),
        ("usr/share/zsh/vendor-completions/_hf-auth", "#compdef hf-auth"),
        ("usr/share/fish/vendor_completions.d/hf-auth.fish", "complete -c hf-auth"),
    ] {
        assert!(read(&root.path().join(file)).contains(marker), "{file} does not look like a completion script");
    }
    let man =
        scrubbed("gzip").arg("-dc").arg(root.path().join("usr/share/man/man1/hf-auth.1.gz")).output().expect("gzip");
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH hf-auth 1"), "not a man page: {}", text(&man));

    // Installed with dpkg (packaging/ci.sh does): the shipped units verify as they are.
    if Path::new("/usr/bin/hf-authd").is_file()
        && let Some(analyze) = tool("systemd-analyze", &[])
    {
        let units = root.path().join("usr/lib/systemd/user");
        let (ok, ours) = verify(&analyze, &units, &["hf-authd.socket", "hf-authd.service"]);
        assert!(ours.is_empty() && ok, "the packaged units do not verify:\n{}", ours.join("\n"));
    }
}

/// Does this ELF64 (little-endian) file name a dynamic loader (a `PT_INTERP` program header)?
fn has_interpreter(elf: &[u8]) -> bool {
    assert!(elf.len() > 0x40 && elf[..4] == *b"\x7fELF" && elf[4] == 2 && elf[5] == 1, "not a little-endian ELF64");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (entsize, count) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).any(|i| {
        let at = phoff + i * entsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}
