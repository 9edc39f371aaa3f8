//! `lockstep fix-client`: one FIX session to a gateway, sending the requests of a script (a
//! file, or typed lines) in the [`lockstep::fix_script`] language and printing every answer.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gateway::client::{ClientError, FixClient, Received};
use lockstep::fix_script::Script;

/// Options of `lockstep fix-client`.
#[derive(Debug, clap::Args)]
#[command(after_help = "REQUESTS (one per line):
  buy 10 LOCK-USD @ 100.25 [id=ID] [tif=day|gtc|ioc|fok]   limit order (no price: market)
  sell 5 LOCK-USD [tif=ioc]                                 market order
  cancel ID | replace ID [qty=Q] [price=P] | status ID | mass-cancel [SYMBOL]
  raw 35=D|11=x|55=LOCK-USD|54=1|38=1|40=1|59=3            any message, '|' for SOH
Orders are named c-1, c-2, ... unless id= says otherwise; '#' starts a comment. Each request
waits for an answer to the one before (at most 5 s).")]
pub(crate) struct FixClientArgs {
    /// The gateway's address.
    #[arg(long, default_value = "127.0.0.1:9878")]
    addr: SocketAddr,
    /// Our SenderCompID (a session configured in the gateway).
    #[arg(long, default_value = "CLIENT1")]
    sender: String,
    /// The gateway's CompID.
    #[arg(long, default_value = "LOCKSTEP")]
    target: String,
    /// Requests from this file (default: standard input, line by line as typed).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Continue the session from this MsgSeqNum instead of resetting it (1: reset).
    #[arg(long, default_value_t = 1)]
    next_seq: u64,
    /// After the last request, wait for answers until none came for this many milliseconds.
    #[arg(long, default_value_t = 500)]
    quiet_ms: u64,
}

/// How long the next request waits for an answer to the last one.
const ANSWER_WAIT_MAX: Duration = Duration::from_secs(5);
/// Messages printed after the input ends, at most this long.
const LINGER_MAX: Duration = Duration::from_secs(10);

pub(crate) fn run(args: &FixClientArgs) -> anyhow::Result<()> {
    let lines = read_lines(args.file.clone())?;
    let mut client = FixClient::connect(args.addr, &args.sender, &args.target, args.next_seq)
        .with_context(|| format!("connecting to {}", args.addr))?;
    let logon = client
        .logon(30, Duration::from_secs(10))
        .context("logging on")?;
    say(&format!("logged on as {}: {}", args.sender, show(&logon)));
    let mut script = Script::new();
    let mut input_done = false;
    let mut last_heard = Instant::now();
    let mut done_at = None;
    // One request at a time: the next line waits for an answer to the last (a cancel of an
    // order whose replace is not yet acknowledged would be refused).
    let mut awaiting: Option<Instant> = None;
    loop {
        if awaiting.is_some_and(|since| since.elapsed() >= ANSWER_WAIT_MAX) {
            say(&format!("! no answer within {ANSWER_WAIT_MAX:?}"));
            awaiting = None;
        }
        let next = if awaiting.is_some() {
            Err(mpsc::TryRecvError::Empty)
        } else {
            lines.try_recv()
        };
        match next {
            Ok(line) => match script.parse(&line) {
                Ok(Some(request)) => {
                    let fields: Vec<(u32, &str)> = request
                        .fields
                        .iter()
                        .map(|(t, v)| (*t, v.as_str()))
                        .collect();
                    let seq = client.send(request.msg_type.as_bytes(), &fields)?;
                    say(&format!(
                        "> {seq} {}",
                        describe(&request.msg_type, &request.fields)
                    ));
                    awaiting = Some(Instant::now());
                }
                Ok(None) => {}
                Err(e) => say(&format!("! {e}")),
            },
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) if !input_done => {
                input_done = true;
                done_at = Some(Instant::now());
            }
            Err(mpsc::TryRecvError::Disconnected) => {}
        }
        match client.next_message(Instant::now() + Duration::from_millis(10)) {
            Ok(message) => {
                last_heard = Instant::now();
                awaiting = None;
                say(&format!("< {}", show(&message)));
            }
            Err(ClientError::Timeout(_)) => {}
            Err(e) => return Err(e).context("the session ended"),
        }
        if let Some(done) = done_at {
            let quiet = last_heard.elapsed() >= Duration::from_millis(args.quiet_ms)
                && done.elapsed() >= Duration::from_millis(args.quiet_ms);
            if quiet || done.elapsed() >= LINGER_MAX {
                break;
            }
        }
    }
    client.send(b"5", &[])?;
    match client.expect("5", Duration::from_secs(2)) {
        Ok(_) | Err(ClientError::Closed) => say("logged out"),
        Err(e) => say(&format!("no Logout back: {e}")),
    }
    Ok(())
}

/// Lines from the file or standard input, on a thread of their own so answers print while
/// the user types.
fn read_lines(file: Option<PathBuf>) -> anyhow::Result<mpsc::Receiver<String>> {
    let reader: Box<dyn std::io::BufRead + Send> = match &file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

fn name(msg_type: &str) -> &str {
    match msg_type {
        "A" => "Logon",
        "3" => "Reject",
        "5" => "Logout",
        "8" => "ExecutionReport",
        "9" => "OrderCancelReject",
        "D" => "NewOrderSingle",
        "F" => "OrderCancelRequest",
        "G" => "OrderCancelReplaceRequest",
        "H" => "OrderStatusRequest",
        "j" => "BusinessMessageReject",
        "q" => "OrderMassCancelRequest",
        "r" => "OrderMassCancelReport",
        other => other,
    }
}

fn describe(msg_type: &str, fields: &[(u32, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(t, v)| format!("{t}={v}")).collect();
    format!("{} {}", name(msg_type), body.join(" "))
}

/// A received message without its header: type name and body fields.
fn show(message: &Received) -> String {
    let body: Vec<(u32, String)> = message
        .fields
        .iter()
        .filter(|(t, _)| !matches!(t, 8 | 9 | 10 | 35 | 49 | 52 | 56))
        .cloned()
        .collect();
    describe(&message.msg_type, &body)
}

#[allow(
    clippy::print_stdout,
    reason = "the client's output is the conversation"
)]
fn say(line: &str) {
    println!("{line}");
}
