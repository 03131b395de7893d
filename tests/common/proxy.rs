//! Real proxies on loopback for the proxy tests: tinyproxy (HTTP CONNECT, Basic authentication,
//! allowed CONNECT ports) and Dante (SOCKS5, user/password against the system's password
//! database: the user `omproxy` is created when missing). Each is started per test and killed
//! when dropped. Panics (never skips) when a tool is missing: scripts/install-deps.sh installs
//! them (apt: tinyproxy dante-server).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "omproxy";
pub const PASSWORD: &str = "pr0xy-s3cret";

pub struct ProxyProc {
    pub port: u16,
    child: Child,
    pub dir: PathBuf,
    log: PathBuf,
}

impl Drop for ProxyProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ProxyProc {
    /// What the proxy logged (tinyproxy: one line per request, `CONNECT host:port`).
    pub fn log(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn workdir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "om-proxy-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    // tinyproxy drops to `nobody` and writes its log there
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

fn tool(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/install-deps.sh (apt-get install tinyproxy dante-server)");
}

fn wait_listening(port: u16, child: &mut Child, what: &str, log: &PathBuf) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "{what} exited ({st}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 20 s");
}

/// tinyproxy on 127.0.0.1: with Basic authentication (`omproxy` / PASSWORD) when `auth`;
/// CONNECT only to `connect_ports` when given (else to any port).
pub fn tinyproxy(auth: bool, connect_ports: Option<&[u16]>) -> ProxyProc {
    let bin = tool("tinyproxy");
    let dir = workdir("tinyproxy");
    let port = free_port();
    let log = dir.join("tinyproxy.log");
    let mut conf = format!(
        "User nobody\nGroup nogroup\nPort {port}\nListen 127.0.0.1\nTimeout 120\nMaxClients 100\n\
         Allow 127.0.0.1\nLogLevel Connect\nLogFile \"{}\"\nPidFile \"{}\"\n",
        log.display(),
        dir.join("tinyproxy.pid").display()
    );
    if auth {
        conf.push_str(&format!("BasicAuth {USER} {PASSWORD}\n"));
    }
    for p in connect_ports.unwrap_or(&[]) {
        conf.push_str(&format!("ConnectPort {p}\n"));
    }
    let cf = dir.join("tinyproxy.conf");
    std::fs::write(&cf, conf).unwrap();
    let mut child = Command::new(bin)
        .args(["-d", "-c"])
        .arg(&cf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tinyproxy");
    wait_listening(port, &mut child, "tinyproxy", &log);
    ProxyProc {
        port,
        child,
        dir,
        log,
    }
}

/// The system user Dante checks SOCKS5 passwords against (created once; needs root).
fn ensure_user() {
    let exists = Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !exists {
        let st = Command::new("useradd")
            .args(["-M", "-s", "/usr/sbin/nologin", USER])
            .status()
            .expect("useradd");
        assert!(
            st.success(),
            "useradd {USER} failed (the proxy tests run as root)"
        );
    }
    let mut c = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{USER}:{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(c.wait().unwrap().success(), "chpasswd failed (needs root)");
}

/// Dante's SOCKS5 server on 127.0.0.1: user/password (`omproxy` / PASSWORD) when `auth`, else
/// no authentication.
pub fn dante(auth: bool) -> ProxyProc {
    let bin = tool("danted");
    if auth {
        ensure_user();
    }
    let dir = workdir("dante");
    let port = free_port();
    let log = dir.join("danted.log");
    let conf = format!(
        "logoutput: {}\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
         socksmethod: {}\nuser.privileged: root\nuser.unprivileged: nobody\n\
         client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n\
         socks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  log: connect\n}}\n",
        log.display(),
        if auth { "username" } else { "none" }
    );
    let cf = dir.join("danted.conf");
    std::fs::write(&cf, conf).unwrap();
    let mut child = Command::new(bin)
        .arg("-f")
        .arg(&cf)
        .arg("-p")
        .arg(dir.join("danted.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start danted");
    wait_listening(port, &mut child, "danted", &log);
    ProxyProc {
        port,
        child,
        dir,
        log,
    }
}
