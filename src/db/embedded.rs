//! The embedded default: a private PostgreSQL cluster started from the binaries on this machine.
//!
//! With no `DATABASE_URL` the server needs no database set up beforehand. The cluster lives in
//! `database.data_dir`, listens on a Unix socket inside that folder and nowhere else, and trusts
//! only local connections to that socket (the folder is private to its owner). PostgreSQL refuses
//! to run as root, so when we are root every PostgreSQL command runs as the `postgres` user.
//! The tests start clusters through this same code.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database the server uses inside the embedded cluster.
pub const DATABASE_NAME: &str = "order_tracker";
/// The port number names the socket file; nothing listens on TCP.
const PG_PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes by the kernel.
const MAX_SOCKET_PATH: usize = 100;
/// How long `pg_ctl` may wait for the cluster to come up or go down.
const PG_CTL_WAIT_SECS: &str = "60";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no DATABASE_URL is set and no PostgreSQL server binaries were found \
         (looked at `pg_config --bindir`, PATH and /usr/lib/postgresql/*/bin). \
         Install them (Debian/Ubuntu: `apt-get install postgresql`) or set DATABASE_URL \
         to a PostgreSQL 14+ database"
    )]
    BinariesNotFound,
    #[error("running as root, but there is no `postgres` system user to run PostgreSQL as")]
    NoPostgresUser,
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
    #[error("embedded PostgreSQL I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot reach the embedded PostgreSQL: {}", super::describe(.0))]
    Connect(#[from] tokio_postgres::Error),
}

/// Who runs the PostgreSQL processes: ourselves, or the `postgres` user when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running private cluster. `stop` shuts it down if this process owns it.
///
/// Ownership: the process that starts the cluster owns it and records its pid next to the data
/// folder (`<data_dir>.owner`). A second server on the same folder finds the owner alive and
/// leaves the cluster to it. A server that finds the cluster running but its owner gone (killed
/// with SIGKILL, crashed) takes ownership, so the leftover is stopped at its exit.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    run_as: Option<RunAs>,
    /// False when another live process of ours owns the cluster: that one stops it.
    owned: bool,
    /// The cluster was initialised by this start: it holds no data yet.
    fresh: bool,
}

impl EmbeddedPostgres {
    /// Starts (initialising on first use) the cluster in `data_dir` and creates our database.
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?;
        // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(postgres_user().ok_or(EmbeddedError::NoPostgresUser)?)
        } else {
            None
        };
        let data_dir = usable_data_dir(data_dir, run_as)?;
        let mut pg = EmbeddedPostgres {
            bin_dir,
            data_dir,
            run_as,
            owned: false,
            fresh: false,
        };
        pg.fresh = pg.init_if_needed()?;
        if !pg.is_running() {
            pg.pg_ctl(&["start", "-w", "-t", PG_CTL_WAIT_SECS, "-s", "-l"], true)?;
            pg.owned = true;
        } else if !pg.owner_alive() {
            tracing::warn!(
                data_dir = %pg.data_dir.display(),
                "adopting an embedded PostgreSQL whose server is gone; it stops when this one does"
            );
            pg.owned = true;
        }
        if pg.owned {
            let owner_file = pg.owner_file();
            std::fs::write(&owner_file, std::process::id().to_string())
                .map_err(|source| io_err(&owner_file, source))?;
        }
        pg.create_database().await?;
        tracing::info!(data_dir = %pg.data_dir.display(), owned = pg.owned, "embedded PostgreSQL ready");
        Ok(pg)
    }

    /// Connection settings for our database over the cluster's private socket.
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.data_dir)
            .port(PG_PORT)
            .user("postgres")
            .dbname(dbname);
        config
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether this start created the cluster (it was empty).
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    /// Whether this process stops the cluster when it is done.
    pub fn owned(&self) -> bool {
        self.owned
    }

    /// Where the owning process's pid is kept: beside the data folder, which PostgreSQL owns.
    fn owner_file(&self) -> PathBuf {
        self.data_dir.with_extension("owner")
    }

    /// Whether the process recorded as owner is still running (and is not us).
    fn owner_alive(&self) -> bool {
        let pid = std::fs::read_to_string(self.owner_file())
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        pid.is_some_and(|pid| pid != std::process::id() && process_alive(pid))
    }

    /// Stops the cluster if this process started it; waits for a clean shutdown.
    pub fn stop(&mut self) {
        if !std::mem::take(&mut self.owned) {
            return;
        }
        let _ = std::fs::remove_file(self.owner_file());
        match self.pg_ctl(
            &["stop", "-w", "-t", PG_CTL_WAIT_SECS, "-s", "-m", "fast"],
            false,
        ) {
            Ok(()) => tracing::info!("embedded PostgreSQL stopped"),
            Err(e) => tracing::warn!(error = %e, "embedded PostgreSQL did not stop cleanly"),
        }
    }

    /// Runs `initdb` unless the folder holds a cluster already; true if it ran.
    fn init_if_needed(&self) -> Result<bool, EmbeddedError> {
        if self.data_dir.join("PG_VERSION").exists() {
            return Ok(false);
        }
        let dir = &self.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| io_err(dir, source))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| io_err(dir, source))?;
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
                .map_err(|source| io_err(dir, source))?;
        }
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(dir)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ])
            .output()
            .map_err(|source| io_err(dir, source))?;
        check("initdb", output).map(|()| true)
    }

    /// Whether the postmaster named in `postmaster.pid` is alive. A crash leaves the file
    /// behind; if its process is gone, a zombie, or no PostgreSQL, the file is stale and removed
    /// so it does not stand in the way of the next start.
    fn is_running(&self) -> bool {
        let pid_file = self.data_dir.join("postmaster.pid");
        let Ok(contents) = std::fs::read_to_string(&pid_file) else {
            return false;
        };
        let pid = contents.lines().next().unwrap_or("").trim().to_string();
        let is_postgres = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|cmd| String::from_utf8_lossy(&cmd).contains("postgres"))
            .unwrap_or(false);
        if is_postgres && pid.parse().is_ok_and(process_alive) {
            return true;
        }
        tracing::warn!(pid, "removing stale postmaster.pid left by a crash");
        let _ = std::fs::remove_file(pid_file);
        // The socket's lock file names the dead postmaster too; PostgreSQL would refuse it.
        let _ = std::fs::remove_file(self.data_dir.join(format!(".s.PGSQL.{PG_PORT}.lock")));
        false
    }

    fn pg_ctl(&self, args: &[&str], with_log: bool) -> Result<(), EmbeddedError> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).args(args);
        if with_log {
            // `-l` was the last argument: the log file, then the server options.
            cmd.arg(self.data_dir.join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=300",
                    self.data_dir.display()
                ));
        }
        let output = cmd
            .output()
            .map_err(|source| io_err(&self.data_dir, source))?;
        check("pg_ctl", output)
    }

    async fn create_database(&self) -> Result<(), EmbeddedError> {
        create_database(&self.config("postgres"), DATABASE_NAME).await
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        // PostgreSQL complains if it cannot enter the working directory (say, root's home).
        cmd.current_dir("/");
        if let Some(user) = self.run_as {
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates `name` through the maintenance connection `admin` unless it already exists.
pub async fn create_database(
    admin: &tokio_postgres::Config,
    name: &str,
) -> Result<(), EmbeddedError> {
    let (client, connection) = admin.connect(tokio_postgres::NoTls).await?;
    let conn = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        // Identifiers cannot be bound as parameters; `name` comes from our own code.
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        if let Err(e) = client.batch_execute(&sql).await {
            // Another process may have created it between our check and now.
            if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) {
                return Err(e.into());
            }
        }
    }
    drop(client);
    let _ = conn.await;
    Ok(())
}

/// Whether `pid` names a live process (not a zombie waiting to be reaped).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    !stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    // Newest major version first.
    debian.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(Path::file_name)
                .and_then(OsStr::to_str)
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    from_pg_config
        .into_iter()
        .chain(from_path)
        .chain(debian)
        .find(|dir| has_initdb(dir))
}

fn postgres_user() -> Option<RunAs> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3).then(|| RunAs {
            uid: fields[2].parse().unwrap_or(0),
            gid: fields[3].parse().unwrap_or(0),
        })
    })
}

/// The requested folder as an absolute path, or, when the `postgres` user could not reach it
/// (a checkout under root's private home) or its socket path would be too long, a folder under
/// the system temp directory named after it, so the default still starts.
fn usable_data_dir(requested: &Path, run_as: Option<RunAs>) -> Result<PathBuf, EmbeddedError> {
    let absolute = std::path::absolute(requested).map_err(|source| io_err(requested, source))?;
    let socket_fits = absolute
        .join(format!(".s.PGSQL.{PG_PORT}"))
        .as_os_str()
        .len()
        <= MAX_SOCKET_PATH;
    let reachable = run_as.is_none_or(|user| ancestors_searchable(&absolute, user.uid));
    if socket_fits && reachable {
        return Ok(absolute);
    }
    let tag: u32 = absolute
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(2166136261u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(16777619)
        });
    let fallback = std::env::temp_dir().join(format!("order-tracker-{tag:08x}/postgres"));
    tracing::warn!(
        requested = %absolute.display(),
        using = %fallback.display(),
        "the PostgreSQL user cannot use the configured data folder; using one under the temp directory"
    );
    if let Some(parent) = fallback.parent() {
        std::fs::create_dir_all(parent).map_err(|source| io_err(parent, source))?;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))
            .map_err(|source| io_err(parent, source))?;
    }
    Ok(fallback)
}

/// Whether `uid` may pass through every existing folder above `path`.
fn ancestors_searchable(path: &Path, uid: u32) -> bool {
    path.ancestors()
        .skip(1)
        .all(|dir| match std::fs::metadata(dir) {
            Ok(meta) => meta.uid() == uid || meta.mode() & 0o001 != 0,
            Err(_) => true, // not created yet: we create it world-searchable
        })
}

fn check(command: &str, output: Output) -> Result<(), EmbeddedError> {
    if output.status.success() {
        return Ok(());
    }
    let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if detail.is_empty() {
        detail = format!("exit status {}", output.status);
    }
    Err(EmbeddedError::Command {
        command: command.to_string(),
        detail,
    })
}

fn io_err(path: &Path, source: std::io::Error) -> EmbeddedError {
    EmbeddedError::Io {
        path: path.to_path_buf(),
        source,
    }
}
