//! A real squid (`/usr/sbin/squid`) as the `CONNECT` proxy of the optional
//! `proxy_https_squid` scenario: no cache, no access log, one worker, killed on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

const SQUID: &str = "/usr/sbin/squid";

/// A running squid.
pub(crate) struct Squid {
    /// Its `http_port`.
    pub(crate) addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Squid {
    /// Starts squid on a free port of 127.0.0.1 and waits until it accepts connections.
    pub(crate) fn start() -> anyhow::Result<Squid> {
        if !Path::new(SQUID).exists() {
            bail!("{SQUID} is not installed");
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("extsvc-bench-squid-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let d = dir.display();
        let config = format!(
            "http_port 127.0.0.1:{port}\n\
             http_access allow all\n\
             cache deny all\n\
             cache_mem 8 MB\n\
             pid_filename {d}/squid.pid\n\
             coredump_dir {d}\n\
             access_log none\n\
             cache_log {d}/cache.log\n\
             cache_effective_user proxy\n\
             shutdown_lifetime 0 seconds\n\
             pinger_enable off\n\
             max_filedescriptors 1024\n\
             visible_hostname localhost\n\
             netdb_filename none\n\
             logfile_rotate 0\n"
        );
        std::fs::write(dir.join("squid.conf"), config)?;
        // Squid writes its logs after dropping to the `proxy` user.
        let _ = Command::new("chown").arg("-R").arg("proxy").arg(&dir).status();
        let child = Command::new(SQUID)
            .arg("-N")
            .arg("-f")
            .arg(dir.join("squid.conf"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {SQUID}"))?;
        let mut squid = Squid { addr, child, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = squid.child.try_wait()? {
                let log = std::fs::read_to_string(squid.dir.join("cache.log")).unwrap_or_default();
                bail!(
                    "squid exited ({status}): {}",
                    log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                );
            }
            if Instant::now() > deadline {
                bail!("squid did not listen on {addr} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(squid)
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
