//! A simulated FIX client: the counterparty of one gateway session. It logs on, sends its
//! share of the workload as NewOrderSingle and OrderCancelRequest messages, answers test
//! requests and resend requests, and resends (PossDup) any request that got no answer in
//! time, as a real trading client does. It checks what it receives: every execution report
//! exactly once, in the order of the stream.

use std::collections::VecDeque;

use gateway::fix::{Decoder, Header, MessageBuilder};
use gateway::session::format_utc;
use protocol::{Command, OrderType, Side, TimeInForce};
use workload::SplitMix64;

use crate::check::{Broken, Invariant};

/// Requests sent and not answered, at most (then the client waits).
const OUTSTANDING_MAX: usize = 16;
/// A request unanswered for this long is sent again.
const RETRY_NS: u64 = 25_000_000;
/// Longest pause between two orders.
const PACE_NS_MAX: u64 = 3_000_000;

/// The instrument every client trades.
pub(crate) const SYMBOL: &str = "LOCK-USD";
/// The gateway's CompID.
pub(crate) const GATEWAY_COMP_ID: &[u8] = b"LOCKSTEP";

/// One application request.
#[derive(Debug, Clone)]
struct Request {
    cl_ord_id: String,
    msg_type: &'static [u8],
    fields: Vec<(u32, String)>,
}

#[derive(Debug)]
struct Sent {
    request: Request,
    first_sent: Vec<u8>,
    last_sent_ns: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct FixClient {
    pub(crate) session: u32,
    comp_id: Vec<u8>,
    next_out: u64,
    next_in: u64,
    logon_sent: bool,
    logged_on: bool,
    plan: VecDeque<Request>,
    next_send_ns: u64,
    outstanding: Vec<Sent>,
    /// `(seq, index)` of every execution report received (its ExecID), in order.
    pub(crate) reports: Vec<(u64, u32)>,
    /// Execution reports received so far (to drop the n-th in a sabotage test).
    received: usize,
    pub(crate) drop_report: Option<usize>,
    /// What went wrong on the session: each is a violation.
    pub(crate) problems: Vec<Broken>,
    inbox: Vec<u8>,
    decoder: Decoder,
    builder: MessageBuilder,
    rng: SplitMix64,
}

fn request_of(command: &Command) -> Option<Request> {
    match command {
        Command::NewOrder(o) => {
            let mut fields = vec![
                (55, SYMBOL.to_string()),
                (54, if o.side == Side::Buy { "1" } else { "2" }.to_string()),
                (38, o.qty.0.to_string()),
            ];
            match o.order_type {
                OrderType::Market => fields.push((40, "1".into())),
                _ => {
                    fields.push((40, "2".into()));
                    fields.push((44, o.price.0.to_string()));
                }
            }
            let tif = match o.time_in_force {
                TimeInForce::Gtc => "1",
                TimeInForce::Ioc => "3",
                TimeInForce::Fok => "4",
                _ => "0",
            };
            fields.push((59, tif.into()));
            let cl_ord_id = format!("o{}", o.client_order_id.0);
            fields.insert(0, (11, cl_ord_id.clone()));
            Some(Request {
                cl_ord_id,
                msg_type: b"D",
                fields,
            })
        }
        Command::Cancel(c) => {
            let cl_ord_id = format!("x{}", c.origin.request_id.0);
            let fields = vec![
                (11, cl_ord_id.clone()),
                (41, format!("o{}", c.orig_client_order_id.0)),
                (55, SYMBOL.to_string()),
            ];
            Some(Request {
                cl_ord_id,
                msg_type: b"F",
                fields,
            })
        }
        _ => None,
    }
}

/// The client's CompID.
pub(crate) fn comp_id(session: u32) -> Vec<u8> {
    format!("CLIENT{session}").into_bytes()
}

fn field(fields: &[(u32, Vec<u8>)], tag: u32) -> Option<&[u8]> {
    fields
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.as_slice())
}

fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

impl FixClient {
    pub(crate) fn new(session: u32, commands: &[Command], seed: u64) -> Self {
        Self {
            session,
            comp_id: comp_id(session),
            next_out: 1,
            next_in: 1,
            logon_sent: false,
            logged_on: false,
            plan: commands.iter().filter_map(request_of).collect(),
            next_send_ns: 0,
            outstanding: Vec::new(),
            reports: Vec::new(),
            received: 0,
            drop_report: None,
            problems: Vec::new(),
            inbox: Vec::new(),
            decoder: Decoder::new(),
            builder: MessageBuilder::new(),
            rng: SplitMix64::new(seed),
        }
    }

    /// Whether everything it meant to send was answered.
    pub(crate) fn finished(&self) -> bool {
        self.plan.is_empty() && self.outstanding.is_empty()
    }

    fn send(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        seq: Option<u64>,
        poss_dup: Option<&[u8]>,
        fields: &[(u32, String)],
        out: &mut Vec<u8>,
    ) {
        let sending_time = format_utc(now_ns);
        let msg_seq_num = seq.unwrap_or(self.next_out);
        if seq.is_none() {
            self.next_out += 1;
        }
        let header = Header {
            sender_comp_id: &self.comp_id,
            target_comp_id: GATEWAY_COMP_ID,
            msg_seq_num,
            sending_time: &sending_time,
            poss_dup,
        };
        let builder = self.builder.start(msg_type, &header).expect("valid header");
        for (tag, value) in fields {
            builder
                .field(*tag, value.as_bytes())
                .expect("the client builds valid fields");
        }
        out.extend_from_slice(self.builder.finish());
    }

    /// One turn: reads what the gateway sent, answers, and sends what is due.
    pub(crate) fn step(&mut self, now_ns: u64, incoming: &[u8], out: &mut Vec<u8>) {
        self.inbox.extend_from_slice(incoming);
        self.read(now_ns, out);
        if !self.logon_sent {
            self.logon_sent = true;
            let fields = [(98, "0".to_string()), (108, "30".to_string())];
            self.send(now_ns, b"A", None, None, &fields, out);
        }
        if !self.logged_on {
            return;
        }
        for i in 0..self.outstanding.len() {
            if now_ns.saturating_sub(self.outstanding[i].last_sent_ns) < RETRY_NS {
                continue;
            }
            let (request, first) = {
                let sent = &mut self.outstanding[i];
                sent.last_sent_ns = now_ns;
                (sent.request.clone(), sent.first_sent.clone())
            };
            self.send(
                now_ns,
                request.msg_type,
                None,
                Some(&first),
                &request.fields,
                out,
            );
        }
        if now_ns >= self.next_send_ns && self.outstanding.len() < OUTSTANDING_MAX {
            if let Some(request) = self.plan.pop_front() {
                self.send(now_ns, request.msg_type, None, None, &request.fields, out);
                self.outstanding.push(Sent {
                    request,
                    first_sent: format_utc(now_ns).to_vec(),
                    last_sent_ns: now_ns,
                });
            }
            self.next_send_ns = now_ns + self.rng.below(PACE_NS_MAX);
        }
    }

    fn read(&mut self, now_ns: u64, out: &mut Vec<u8>) {
        let mut used_total = 0;
        loop {
            let (msg_type, seq, fields) = match self.decoder.decode(&self.inbox[used_total..]) {
                Ok(Some((frame, used))) => {
                    used_total += used;
                    let fields: Vec<(u32, Vec<u8>)> =
                        frame.fields().map(|(t, v)| (t, v.to_vec())).collect();
                    let seq = frame.get(34).and_then(parse_u64).unwrap_or(0);
                    (frame.msg_type().to_vec(), seq, fields)
                }
                Ok(None) => break,
                Err(e) => {
                    let problem = format!("garbled FIX from the gateway: {e}");
                    self.problems
                        .push((Invariant::NoUnexpectedFailure, problem));
                    self.inbox.clear();
                    return;
                }
            };
            let get = |tag: u32| field(&fields, tag);
            if msg_type == b"4" && get(123) == Some(b"Y") {
                if let Some(new) = get(36).and_then(parse_u64)
                    && seq <= self.next_in
                {
                    self.next_in = self.next_in.max(new);
                }
                continue;
            }
            if seq < self.next_in {
                continue; // a PossDup copy of something already processed
            }
            if seq > self.next_in {
                // Lost on the way: ask again from the gap (the gateway resends everything).
                let fields = [(7, self.next_in.to_string()), (16, "0".to_string())];
                self.send(now_ns, b"2", None, None, &fields, out);
                continue;
            }
            self.next_in += 1;
            self.on_message(now_ns, &msg_type, &fields, out);
        }
        self.inbox.drain(..used_total);
    }

    fn on_message(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        fields: &[(u32, Vec<u8>)],
        out: &mut Vec<u8>,
    ) {
        let get = |tag: u32| field(fields, tag);
        let text = |tag| String::from_utf8_lossy(get(tag).unwrap_or(b"")).into_owned();
        match msg_type {
            b"A" => self.logged_on = true,
            b"0" => {}
            b"1" => {
                let fields = [(112, text(112))];
                self.send(now_ns, b"0", None, None, &fields, out);
            }
            b"2" => {
                // Nothing of ours needs resending (requests are retried by ClOrdID): gap-fill.
                let begin = get(7).and_then(parse_u64).unwrap_or(1);
                let fields = [(123, "Y".to_string()), (36, self.next_out.to_string())];
                let now = format_utc(now_ns).to_vec();
                self.send(now_ns, b"4", Some(begin), Some(&now), &fields, out);
            }
            b"8" => self.on_report(&text(17), &text(11)),
            b"9" => self.answered(&text(11)),
            _ => {
                let problem = format!(
                    "unexpected {} from the gateway: {}",
                    String::from_utf8_lossy(msg_type),
                    text(58)
                );
                self.problems
                    .push((Invariant::NoUnexpectedFailure, problem));
            }
        }
    }

    fn on_report(&mut self, exec_id: &str, cl_ord_id: &str) {
        self.answered(cl_ord_id);
        let Some((seq, index)) = exec_id.split_once('-') else {
            return;
        };
        let (Ok(seq), Ok(index)) = (seq.parse::<u64>(), index.parse::<u32>()) else {
            return; // the gateway's own reject ("R-n"): not from the cluster
        };
        self.received += 1;
        if self.drop_report == Some(self.received) {
            return;
        }
        if let Some(&last) = self.reports.last()
            && (seq, index) <= last
        {
            let problem = format!(
                "client {}: execution report {seq}-{index} after {}-{}: duplicated or out of order",
                self.session, last.0, last.1
            );
            self.problems
                .push((Invariant::ReportsExactlyOnceInOrder, problem));
        }
        self.reports.push((seq, index));
    }

    fn answered(&mut self, cl_ord_id: &str) {
        self.outstanding
            .retain(|s| s.request.cl_ord_id != cl_ord_id);
    }
}
