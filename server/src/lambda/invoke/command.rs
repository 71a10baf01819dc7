//! `--lambda-command NAME=CMD`: the function `NAME` is a local command. Each batch runs
//! `sh -c CMD` in a process group of its own, with the event JSON on stdin and the function's
//! environment (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`, `AWS_REGION`); its
//! stdout (at most 6 MB) is the response JSON, its stderr goes to the server's stderr. A
//! non-zero exit is a function error (a stdout in Lambda's error shape,
//! `{"errorType", "errorMessage"}`, names it); no exit within `--lambda-timeout-secs` kills
//! the whole process group and is a timeout.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Backend, Outcome};
use crate::lambda::model::FunctionRef;
use crate::outbound::Abort;

/// Largest stdout kept (Lambda's synchronous response limit is 6 MB).
pub const MAX_STDOUT_BYTES: usize = 6 * 1024 * 1024;

/// See the module docs.
#[derive(Debug)]
pub struct CommandBackend {
    command: String,
    timeout: Duration,
    region: String,
    abort: Arc<Abort>,
}

/// What the waiting thread hears.
enum Event {
    Exited(std::io::Result<ExitStatus>),
    Abort,
}

impl CommandBackend {
    /// Run `command` with `sh -c`.
    pub fn new(command: &str, timeout: Duration, region: &str, abort: Arc<Abort>) -> CommandBackend {
        CommandBackend { command: command.to_string(), timeout, region: region.to_string(), abort }
    }
}

impl Backend for CommandBackend {
    fn invoke(&self, function: &FunctionRef, payload: &[u8]) -> Outcome {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&self.command)
            .env("AWS_LAMBDA_FUNCTION_NAME", &function.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", function.qualifier.as_deref().unwrap_or("$LATEST"))
            .env("AWS_REGION", &self.region)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Outcome::failed("CommandFailed", format!("could not start `sh -c {}`: {e}", self.command))
            }
        };
        let pid = child.id();
        // Feed stdin and drain stdout on their own threads: the command may write before it
        // has read everything.
        let mut stdin = child.stdin.take();
        let input = payload.to_vec();
        let writer = std::thread::spawn(move || {
            if let Some(s) = stdin.as_mut() {
                // A command that does not read stdin closes it early: not an error.
                let _ = s.write_all(&input);
            }
        });
        let stdout = child.stdout.take();
        let (out_tx, out_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut over = false;
            if let Some(mut s) = stdout {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let take = n.min(MAX_STDOUT_BYTES.saturating_sub(kept.len()));
                            kept.extend_from_slice(buf.get(..take).unwrap_or_default());
                            over |= take < n;
                        }
                    }
                }
            }
            let _ = out_tx.send((kept, over));
        });
        let (tx, rx) = mpsc::channel();
        let waker = tx.clone();
        let (abort_tx, abort_rx) = mpsc::channel();
        let registration = self.abort.register(abort_tx);
        std::thread::spawn(move || {
            if abort_rx.recv().is_ok() {
                let _ = waker.send(Event::Abort);
            }
        });
        std::thread::spawn(move || {
            let _ = tx.send(Event::Exited(child.wait()));
        });
        let deadline = Instant::now() + self.timeout;
        let ended = rx.recv_timeout(self.timeout);
        self.abort.unregister(registration);
        let status = match ended {
            Ok(Event::Exited(Ok(status))) => status,
            Ok(Event::Exited(Err(e))) => {
                return Outcome::failed("CommandFailed", format!("waiting for the command failed: {e}"))
            }
            Ok(Event::Abort) => {
                kill_group(pid);
                return Outcome::NotInvoked { message: "the server is shutting down".into() };
            }
            Err(_) => {
                kill_group(pid);
                let _ = writer.join();
                return Outcome::failed(
                    "Sandbox.Timedout",
                    format!("Task timed out after {:.2} seconds", self.timeout.as_secs_f64()),
                );
            }
        };
        let _ = writer.join();
        // The command exited; a background process it left may hold stdout open: wait for
        // it no longer than the deadline, then end the group.
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let (stdout, over) = match out_rx.recv_timeout(remaining) {
            Ok(x) => x,
            Err(_) => {
                kill_group(pid);
                out_rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
            }
        };
        if over {
            return Outcome::failed(
                "ResponseSizeTooLarge",
                format!("the command wrote more than {MAX_STDOUT_BYTES} bytes"),
            );
        }
        if status.success() {
            return Outcome::Returned { payload: stdout, function_error: None };
        }
        let described = match status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        let parsed: serde_json::Value = serde_json::from_slice(&stdout).unwrap_or(serde_json::Value::Null);
        if parsed.get("errorMessage").is_some() {
            return Outcome::Returned { payload: stdout, function_error: Some("Unhandled".into()) };
        }
        let body = serde_json::json!({
            "errorType": "Runtime.ExitError",
            "errorMessage": format!("the command `{}` ended with {described}", self.command),
        });
        Outcome::Returned { payload: body.to_string().into_bytes(), function_error: Some("Unhandled".into()) }
    }
}

/// SIGKILL the process group led by `pid`.
#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Elsewhere there are no process groups to end: the abandoned command runs to its end.
#[cfg(not(unix))]
fn kill_group(pid: u32) {
    tracing::warn!(pid, "a timed-out command cannot be killed on this platform; it runs to its end");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> FunctionRef {
        FunctionRef::parse("echo", "us-east-1", "000000000000").unwrap()
    }

    fn run(cmd: &str, timeout_ms: u64) -> Outcome {
        CommandBackend::new(cmd, Duration::from_millis(timeout_ms), "us-east-1", Arc::default())
            .invoke(&f(), b"{\"x\":1}")
    }

    #[test]
    fn stdin_in_stdout_out_with_the_function_environment() {
        let out = run("cat; printf ' %s' \"$AWS_LAMBDA_FUNCTION_NAME\"", 30_000);
        assert_eq!(out, Outcome::Returned { payload: b"{\"x\":1} echo".to_vec(), function_error: None });
    }

    #[test]
    fn a_non_zero_exit_is_a_function_error() {
        let out = run("cat >/dev/null; exit 3", 30_000);
        let e = out.into_result().unwrap_err();
        assert_eq!(e.error_type, "Runtime.ExitError");
        assert!(e.error_message.contains("exit status 3"), "{e:?}");
        let shaped = run("echo '{\"errorType\":\"KeyError\",\"errorMessage\":\"k\"}'; exit 1", 30_000);
        let e = shaped.into_result().unwrap_err();
        assert_eq!((e.error_type.as_str(), e.error_message.as_str()), ("KeyError", "k"));
    }

    #[test]
    fn a_command_past_its_timeout_is_killed_with_its_children() {
        let started = Instant::now();
        // The grandchild holds stdout open; killing the group ends it too.
        let out = run("sleep 30 & sleep 30", 300);
        assert!(matches!(&out, Outcome::Failed { kind, .. } if kind == "Sandbox.Timedout"), "{out:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn shutdown_aborts_a_running_command() {
        let abort = Arc::new(Abort::default());
        let b = CommandBackend::new("sleep 30", Duration::from_secs(60), "us-east-1", abort.clone());
        let t = std::thread::spawn(move || b.invoke(&f(), b""));
        abort.abort();
        let out = t.join().unwrap();
        assert!(matches!(&out, Outcome::NotInvoked { .. }), "{out:?}");
    }
}
