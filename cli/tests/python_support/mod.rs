//! Shared by the tests that drive `shardlog serve` with real clients from PyPI: virtual
//! environments under the target directory with pinned packages, and running a child
//! process with a deadline and its output captured.
//!
//! The first run of a test prepares its virtual environment (`target/<name>`, via `python3
//! -m venv` and `pip install` of the pins); later runs reuse it while its marker file names
//! the same pins. Set `SHARDLOG_PYTHON` to use another interpreter than `python3`. Where
//! Python is missing the tests fail and say what to install.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The first-run installation is given this long before it is stopped.
const INSTALL_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// What the one virtual environment of these tests holds: boto3 and botocore 1.44.18 (they
/// know the 2026 operations), the AWS CLI v1 (on the same botocore), Lambda Powertools (the
/// function behind the Invoke API stub) and moto's server (S3 for channel deliveries, SQS for
/// on-failure destinations).
pub const PINS: &[&str] =
    &["boto3==1.44.18", "botocore==1.44.18", "awscli==1.46.3", "aws-lambda-powertools==3.37.0", "moto[server]==5.2.5"];

/// The shared virtual environment (`target/py-venv`) with [`PINS`].
pub fn shared_venv() -> PathBuf {
    venv("py-venv", PINS)
}

pub const INSTALL_HINT: &str = "install them (Debian/Ubuntu: `apt-get install python3 python3-venv python3-pip`) \
                                or set SHARDLOG_PYTHON to a Python 3 interpreter that has the venv module";

/// The target directory (`target/`).
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR has a parent").to_path_buf()
}

/// A finished child process.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn output(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// Run `cmd` to completion with its output captured to files, killing it after `deadline`.
pub fn run(mut cmd: Command, what: &str, deadline: Duration) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdin(Stdio::null()).stdout(File::create(&out_path).unwrap()).stderr(File::create(&err_path).unwrap());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not start {what}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let ran = Ran {
                status: ExitStatus::default(),
                stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
                stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
            };
            panic!("{what} did not finish within {deadline:?}\n{}", ran.output());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    }
}

/// The virtual environment `target/<name>` with `pins` installed, created on first use. A
/// file lock serialises the set-up between tests (threads or processes).
pub fn venv(name: &str, pins: &[&str]) -> PathBuf {
    let target = target_dir();
    std::fs::create_dir_all(&target).unwrap();
    let venv = target.join(name);
    let lock = File::create(target.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    let marker = venv.join("shardlog-pins.txt");
    // The pins and where the environment was made (its scripts hold absolute paths).
    let want = format!("{}\n{}", pins.join("\n"), venv.display());
    if venv.join("bin/python").exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        return venv;
    }

    let python = std::env::var("SHARDLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{python} --version` failed ({}): these tests need Python 3 (3.9 or later) with venv and pip; {}",
            o.status, INSTALL_HINT
        ),
        Err(e) => panic!(
            "`{python}` could not be run ({e}): these tests need Python 3 (3.9 or later) with venv and pip; {}",
            INSTALL_HINT
        ),
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).unwrap();
    }
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "venv"]).arg(&venv);
    let ran = run(cmd, "python3 -m venv", Duration::from_secs(300));
    assert!(ran.status.success(), "`{python} -m venv {}` failed: {INSTALL_HINT}\n{}", venv.display(), ran.output());

    // pip retries each connection itself; one more whole attempt covers a failure midway.
    let mut last = String::new();
    for attempt in 1..=2 {
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--retries", "5"])
            .args(["--timeout", "60"])
            .args(pins)
            .env("PIP_NO_INPUT", "1");
        let ran = run(cmd, "pip install", INSTALL_DEADLINE);
        if ran.status.success() {
            std::fs::write(&marker, &want).unwrap();
            return venv;
        }
        last = format!("attempt {attempt}: {}\n{}", ran.status, ran.output());
    }
    panic!("`pip install {}` into {} failed (it needs to reach PyPI):\n{last}", pins.join(" "), venv.display());
}

/// `cmd` with a clean AWS environment: fixed test credentials and region, no profile, no
/// configuration or credential files, no instance metadata, one attempt per call; and no
/// bytecode written next to the scripts.
pub fn aws_env(cmd: &mut Command, scratch: &Path) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("AWS_") || k == "PYTHONPATH" || k == "PYTHONHOME" {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDSHARDLOGTEST")
        .env("AWS_SECRET_ACCESS_KEY", "shardlog-test-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", scratch.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", scratch.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
}

/// The AWS CLI v1 of a virtual environment, for one service against one endpoint, in the
/// clean environment of [`aws_env`].
pub struct AwsCli {
    aws: PathBuf,
    service: &'static str,
    endpoint: String,
    scratch: PathBuf,
}

impl AwsCli {
    /// Each call is given this long.
    const DEADLINE: Duration = Duration::from_secs(120);

    /// `aws SERVICE … --endpoint-url ENDPOINT` from `venv`; `scratch` holds its (absent)
    /// configuration files.
    pub fn new(venv: &Path, service: &'static str, endpoint: String, scratch: &Path) -> AwsCli {
        AwsCli { aws: venv.join("bin/aws"), service, endpoint, scratch: scratch.to_path_buf() }
    }

    /// Run `aws SERVICE ARGS…` (JSON output).
    pub fn raw(&self, args: &[&str]) -> Ran {
        let mut cmd = Command::new(&self.aws);
        cmd.arg(self.service).args(args).args(["--endpoint-url", &self.endpoint, "--output", "json"]);
        aws_env(&mut cmd, &self.scratch);
        run(cmd, &format!("aws {} {}", self.service, args.join(" ")), Self::DEADLINE)
    }

    /// A call that must succeed; its JSON output (`null` when it prints nothing).
    pub fn ok(&self, args: &[&str]) -> serde_json::Value {
        let ran = self.raw(args);
        assert!(ran.status.success(), "aws {} {args:?} failed ({}):\n{}", self.service, ran.status, ran.output());
        if ran.stdout.trim().is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", ran.output()))
    }

    /// A call that must fail with this error code and message (the CLI prints them to
    /// stderr and exits with 255).
    pub fn fails(&self, args: &[&str], code: &str, message: &str) {
        let ran = self.raw(args);
        assert_eq!(ran.status.code(), Some(255), "aws {} {args:?}:\n{}", self.service, ran.output());
        assert!(ran.stderr.contains(&format!("An error occurred ({code})")), "want {code}:\n{}", ran.output());
        assert!(ran.stderr.contains(message), "want {message:?}:\n{}", ran.output());
    }
}
