//! What the servers of the test support share: free ports, temporary directories, finding
//! binaries, signals by PID and waiting for a process.
// Each server uses some of these; a build with only some stores leaves the others unused.
#![cfg_attr(
    not(all(
        feature = "redis",
        feature = "memcached",
        feature = "postgres",
        feature = "mysql",
        feature = "sqlite"
    )),
    allow(dead_code)
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
pub(crate) const READY_WITHIN: Duration = Duration::from_secs(30);

/// A free loopback port (the OS picks it; nothing listens on it when this returns).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A fresh temporary directory named after `what`, this process and `port`.
pub(crate) fn temp_dir(what: &str, port: u16) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cache-rs-{what}-{}-{}-{port}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Whether something accepts TCP connections on the loopback `port`.
pub(crate) fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The path of `bin`: on `PATH`, else in one of `extra_dirs` (globbed one level: a `*` path
/// component stands for any directory, the highest name first). Panics naming `package`.
pub(crate) fn find_binary(bin: &str, extra_dirs: &[&str], package: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in on_path {
        let candidate = dir.join(bin);
        if candidate.is_file() {
            return candidate;
        }
    }
    for pattern in extra_dirs {
        for dir in expand(pattern) {
            let candidate = dir.join(bin);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "cannot find `{bin}` on PATH or in {extra_dirs:?}: these tests need a real database server; \
         install it (Debian: `apt-get install {package}`, or run scripts/ensure-sql.sh)"
    )
}

fn expand(pattern: &str) -> Vec<PathBuf> {
    let Some((head, tail)) = pattern.split_once("/*/") else {
        return vec![PathBuf::from(pattern)];
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(head)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    // Highest version first ("16" before "15"; numeric when the names are numbers).
    dirs.sort_by_key(|d| {
        let name = d.file_name().map(|n| n.to_string_lossy().into_owned());
        let num = name.as_deref().and_then(|n| n.parse::<u64>().ok());
        std::cmp::Reverse((num, name))
    });
    dirs.into_iter().map(|d| d.join(tail)).collect()
}

/// Whether this process runs as root (Linux: from `/proc/self/status`; elsewhere `id -u`).
pub(crate) fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            return line.split_whitespace().nth(2) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The uid and gid of an unprivileged user to run a server as when we are root: `postgres`
/// if it exists, else `nobody`.
pub(crate) fn unprivileged_user() -> (String, String) {
    let id = |args: &[&str]| {
        Command::new("id")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    for user in ["postgres", "nobody"] {
        if let (Some(uid), Some(gid)) = (id(&["-u", user]), id(&["-g", user])) {
            return (uid, gid);
        }
    }
    ("65534".to_owned(), "65534".to_owned())
}

/// Sends `signal` (such as `-INT`) to `pid` with `kill`.
pub(crate) fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

/// Sends `first` (a shutdown signal) to the child and waits up to `grace` for it to exit, then
/// kills it (SIGKILL).
pub(crate) fn stop(child: &mut Child, first: &str, grace: Duration) {
    signal(child.id(), first);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The content of a log file, for a failure message.
pub(crate) fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log at {}: {e})", path.display()))
}

/// Kills a server (SIGKILL, which also ends a stopped process) and reaps it, if it runs.
pub(crate) fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Calls `spawn` until it succeeds, every `pause`, for up to `within` (an old process may hold
/// the port, a socket or shared memory for a moment); panics with the last error after that.
pub(crate) fn start_again(
    what: &str,
    within: Duration,
    pause: Duration,
    mut spawn: impl FnMut() -> Result<(), String>,
) {
    let deadline = Instant::now() + within;
    loop {
        match spawn() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what} did not start again: {e}"),
            Err(_) => std::thread::sleep(pause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "apt-get install postgresql")]
    fn a_missing_binary_is_a_loud_failure_naming_the_package() {
        find_binary(
            "cache-rs-no-such-initdb",
            &["/nonexistent/*/bin"],
            "postgresql",
        );
    }

    #[test]
    fn binaries_are_found_on_path_or_in_versioned_directories() {
        let dir = temp_dir("bin-lookup", 0);
        for v in ["9", "15"] {
            std::fs::create_dir_all(dir.join(v).join("bin")).unwrap();
            std::fs::write(dir.join(v).join("bin").join("tool"), b"").unwrap();
        }
        let pattern = format!("{}/*/bin", dir.display());
        let found = find_binary("tool", &[&pattern], "pkg");
        assert_eq!(
            found,
            dir.join("15").join("bin").join("tool"),
            "highest version first"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
