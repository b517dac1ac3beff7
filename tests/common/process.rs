//! The crate's binaries as child processes: started with flags, environment and shell limits, read
//! until they say where they listen, and stopped by a signal.

use super::client::Client;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Lines, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const SERVER: &str = env!("CARGO_BIN_EXE_server");
pub const DEMO: &str = env!("CARGO_BIN_EXE_demo");
pub const LOADTEST: &str = env!("CARGO_BIN_EXE_loadtest");

/// Where a started binary's stderr goes.
pub enum Log {
    Discard,
    /// Into the test's own stderr, which the test harness shows when the test fails.
    Inherit,
    /// Read as it comes, so that the binary never blocks on a full pipe; see [`Process::captured_log`].
    Capture,
    /// Into a file, read back by [`Process::log`].
    File(PathBuf),
}

/// A binary to run: its flags, its environment, the shell setup it runs after, and its log.
pub struct Binary {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Run by `sh` before the binary, which `exec` keeps in the same process (limits, ignored
    /// signals).
    shell_setup: Option<String>,
    log: Log,
    admin_key: Option<String>,
    /// A data dir of the binary's own, removed once the process is gone.
    own_data_dir: Option<tempfile::TempDir>,
}

impl Binary {
    /// `program` with no flags; once started, its stderr is discarded unless [`Binary::log`] says
    /// otherwise.
    pub fn new(program: &str) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            shell_setup: None,
            log: Log::Discard,
            admin_key: None,
            own_data_dir: None,
        }
    }

    /// The server on a free port (`--addr :0`) and `data_dir`.
    pub fn server(data_dir: &Path) -> Self {
        Self::new(SERVER).args(["--addr", ":0", "--data-dir"]).arg(data_dir)
    }

    /// The server on a free port and a data dir of its own.
    pub fn server_on_a_fresh_dir() -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let server = Self::server(data_dir.path());
        Self {
            own_data_dir: Some(data_dir),
            ..server
        }
    }

    /// The demo on a free port of 127.0.0.1 and `data_dir`.
    pub fn demo(data_dir: &Path) -> Self {
        Self::new(DEMO)
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<OsString>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, env: &[(&str, &str)]) -> Self {
        let pairs = env.iter().map(|(name, value)| (name.into(), value.into()));
        self.env.extend(pairs);
        self
    }

    /// `--admin-key key`, which the client of [`Binary::start`] then sends on admin paths.
    pub fn admin_key(mut self, key: &str) -> Self {
        self.admin_key = Some(key.to_string());
        self.args(["--admin-key", key])
    }

    /// Runs `setup` in `sh` first; what it sets holds for the binary, which replaces the shell.
    pub fn after_shell(mut self, setup: &str) -> Self {
        self.shell_setup = Some(setup.to_string());
        self
    }

    pub fn log(mut self, log: Log) -> Self {
        self.log = log;
        self
    }

    fn command(&self) -> Command {
        let mut command = match &self.shell_setup {
            None => Command::new(&self.program),
            Some(setup) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("{setup} && exec \"$0\" \"$@\""))
                    .arg(&self.program);
                shell
            }
        };
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// Runs the binary to its end, with its stdout and stderr captured.
    pub fn output(self) -> Output {
        self.command().output().unwrap()
    }

    /// Starts the binary with its stdout in a pipe to read.
    pub fn spawn(self) -> Process {
        let stderr = match &self.log {
            Log::Discard => Stdio::null(),
            Log::Inherit => Stdio::inherit(),
            Log::Capture => Stdio::piped(),
            Log::File(path) => std::fs::File::create(path).unwrap().into(),
        };
        let mut child = self.command().stdout(Stdio::piped()).stderr(stderr).spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let captured = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = stderr.read_to_end(&mut bytes);
                bytes
            })
        });
        Process {
            child,
            stdout,
            log: self.log,
            captured,
            _own_data_dir: self.own_data_dir,
        }
    }

    /// Starts the binary and waits for the line that says where it listens.
    pub fn start(self) -> Server {
        let admin_key = self.admin_key.clone();
        let mut process = self.spawn();
        let mut api = Client::new(&process.listening_base());
        if let Some(key) = admin_key {
            api = api.with_admin_key(&key);
        }
        Server { process, api }
    }
}

/// A binary that said where it listens, and a client of it.
pub struct Server {
    pub process: Process,
    pub api: Client,
}

/// A running binary, killed and reaped if a failed assertion leaves it running.
pub struct Process {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    log: Log,
    captured: Option<JoinHandle<Vec<u8>>>,
    _own_data_dir: Option<tempfile::TempDir>,
}

impl Process {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The next line the binary prints; `None` once its stdout is closed.
    pub fn line(&mut self) -> Option<String> {
        self.stdout.next().map(Result::unwrap)
    }

    /// The lines printed before the first that `last` accepts, which is read too.
    pub fn lines_before(&mut self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.line() {
            if last(&line) {
                break;
            }
            lines.push(line);
        }
        lines
    }

    /// Reads the `listening on http://127.0.0.1:PORT` line the server and the demo print once
    /// they accept connections; the base URL.
    fn listening_base(&mut self) -> String {
        let Some(first) = self.line() else {
            let status = self.child.wait().unwrap();
            panic!(
                "the binary ended ({status}) without saying where it listens; its log:\n{}",
                self.log_after_exit()
            );
        };
        let base = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the first line says where it listens: {first}"));
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "{first}"
        );
        base.to_string()
    }

    /// Sends `signal` and waits for the binary to end.
    pub fn signal(&mut self, signal: libc::c_int) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill only sends a signal to the process named, which is this child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal {signal} sent");
        self.child.wait().unwrap()
    }

    /// SIGTERM: a graceful stop.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM)
    }

    /// SIGKILL: the binary gets no chance to tidy up.
    pub fn crash(&mut self) -> ExitStatus {
        self.signal(libc::SIGKILL)
    }

    /// Waits for the binary to end on its own; panics if it still runs after `limit`.
    pub async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "the binary still runs after {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the binary wrote to the file of `Log::File` so far.
    pub fn log(&self) -> String {
        let Log::File(path) = &self.log else {
            panic!("the log goes to no file");
        };
        String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
    }

    /// Everything the binary wrote to stderr under `Log::Capture`, once it has ended.
    pub fn captured_log(&mut self) -> String {
        let reader = self.captured.take().expect("the log is captured");
        String::from_utf8(reader.join().unwrap()).unwrap()
    }

    /// The log of a binary that has ended, for a failure's message.
    fn log_after_exit(&mut self) -> String {
        match &self.log {
            Log::Discard => "(discarded)".to_string(),
            Log::Inherit => "(above)".to_string(),
            Log::Capture => self.captured_log(),
            Log::File(_) => self.log(),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
