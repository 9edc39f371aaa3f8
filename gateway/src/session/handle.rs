//! What the session does with each message it receives.

use super::{Output, RejectReason, Session, State, parse_utc, t};
use crate::fix::{Frame, parse_digits, tag};

fn number(frame: &Frame<'_>, tag: u32) -> Option<u64> {
    frame.get(tag).and_then(parse_digits)
}

impl Session {
    /// The first message: it must be a Logon that names this session and carries its
    /// credentials, a sane HeartBtInt and a sequence number not below the expected one.
    pub(super) fn on_logon(&mut self, now_ns: u64, frame: &Frame<'_>) {
        if frame.msg_type() != b"A" {
            self.close("the first message was not a Logon".into());
            return;
        }
        if let Err(reason) = self.check_logon(frame) {
            self.logout(now_ns, &reason);
            self.close(reason);
            return;
        }
        let seq = number(frame, tag::MSG_SEQ_NUM).unwrap_or(0);
        let reset = frame.get(t::RESET_SEQ_NUM_FLAG) == Some(b"Y");
        if reset {
            (self.next_in, self.next_out) = (1, 1);
            self.sent.clear();
            self.reset = true;
        }
        if seq < self.next_in {
            let reason = format!(
                "MsgSeqNum too low, expecting {} but received {seq}",
                self.next_in
            );
            self.logout(now_ns, &reason);
            self.close(reason);
            return;
        }
        let interval = number(frame, t::HEART_BT_INT).unwrap_or(0);
        self.heartbeat_ns = interval * 1_000_000_000;
        self.state = State::Active;
        let mut fields = vec![(t::ENCRYPT_METHOD, b"0".to_vec())];
        fields.push((t::HEART_BT_INT, interval.to_string().into_bytes()));
        if reset {
            fields.push((t::RESET_SEQ_NUM_FLAG, b"Y".to_vec()));
        }
        self.send_admin(now_ns, b"A", &fields);
        if seq > self.next_in {
            self.request_resend(now_ns, seq);
        } else {
            self.next_in += 1;
        }
    }

    fn check_logon(&self, frame: &Frame<'_>) -> Result<(), String> {
        self.check_comp_ids(frame)?;
        if let Some((user, password)) = &self.config.credentials {
            let given = (frame.get(t::USERNAME), frame.get(t::PASSWORD));
            if given != (Some(user.as_slice()), Some(password.as_slice())) {
                return Err("invalid Username(553) or Password(554)".into());
            }
        }
        match number(frame, t::HEART_BT_INT) {
            Some(s) if (1..=self.config.heartbeat_max_s).contains(&s) => {}
            _ => {
                let max = self.config.heartbeat_max_s;
                return Err(format!("HeartBtInt(108) must be 1..={max} seconds"));
            }
        }
        if frame.get(t::ENCRYPT_METHOD) != Some(b"0") {
            return Err("EncryptMethod(98) must be 0".into());
        }
        if number(frame, tag::MSG_SEQ_NUM).is_none_or(|s| s == 0) {
            return Err("MsgSeqNum(34) missing or zero".into());
        }
        Ok(())
    }

    fn check_comp_ids(&self, frame: &Frame<'_>) -> Result<(), String> {
        let sender = frame.get(tag::SENDER_COMP_ID);
        let target = frame.get(tag::TARGET_COMP_ID);
        if sender != Some(&self.config.their_comp_id) || target != Some(&self.config.our_comp_id) {
            return Err("SenderCompID(49) or TargetCompID(56) is not this session's".into());
        }
        Ok(())
    }

    /// SendingTime within the tolerance; on a PossDup resend, OrigSendingTime not after it.
    fn check_sending_time(&self, now_ns: u64, frame: &Frame<'_>) -> Result<(), String> {
        let sent = frame
            .get(tag::SENDING_TIME)
            .and_then(parse_utc)
            .ok_or("SendingTime(52) missing or malformed")?;
        if sent.abs_diff(now_ns) > self.config.sending_time_tolerance_ns {
            return Err("SendingTime(52) accuracy problem".into());
        }
        if frame.get(tag::POSS_DUP_FLAG) == Some(b"Y") {
            let original = frame.get(tag::ORIG_SENDING_TIME).and_then(parse_utc);
            if original.is_none_or(|o| o > sent) {
                return Err("OrigSendingTime(122) missing or after SendingTime".into());
            }
        }
        Ok(())
    }

    /// Every message after the Logon.
    pub(super) fn on_message(&mut self, now_ns: u64, frame: &Frame<'_>) {
        let Some(seq) = number(frame, tag::MSG_SEQ_NUM) else {
            let reason = "MsgSeqNum(34) missing".to_owned();
            self.logout(now_ns, &reason);
            self.close(reason);
            return;
        };
        let checks = (self.check_comp_ids(frame), RejectReason::CompIdProblem);
        let time = (
            self.check_sending_time(now_ns, frame),
            RejectReason::SendingTimeAccuracy,
        );
        for (check, why) in [checks, time] {
            if let Err(text) = check {
                self.reject(now_ns, seq, frame.msg_type(), why, &text);
                self.logout(now_ns, &text);
                self.close(text);
                return;
            }
        }
        let msg_type = frame.msg_type();
        if msg_type == b"4" && frame.get(t::GAP_FILL_FLAG) != Some(b"Y") {
            self.on_sequence_reset(now_ns, seq, frame);
            return;
        }
        if !self.in_sequence(now_ns, seq, frame) {
            return;
        }
        self.next_in += 1;
        if self.resend_until.is_some_and(|until| self.next_in > until) {
            self.resend_until = None;
        }
        self.dispatch(now_ns, seq, frame);
    }

    /// Whether `seq` is the expected one; handles the two ways it may not be.
    fn in_sequence(&mut self, now_ns: u64, seq: u64, frame: &Frame<'_>) -> bool {
        if seq > self.next_in {
            match frame.msg_type() {
                b"5" => self.on_logout(now_ns),
                // A ResendRequest is answered whatever its number, as QuickFIX does: when both
                // sides have a gap (a restart with messages lost both ways), each side's
                // request comes too high for the other, and if neither answered, both would
                // wait for ever. Then the gap before it is asked for.
                b"2" => {
                    self.on_resend_request(now_ns, seq, frame);
                    self.request_resend(now_ns, seq);
                }
                _ => self.request_resend(now_ns, seq),
            }
            return false;
        }
        if seq < self.next_in {
            if frame.get(tag::POSS_DUP_FLAG) != Some(b"Y") {
                let reason = format!(
                    "MsgSeqNum too low, expecting {} but received {seq}",
                    self.next_in
                );
                self.logout(now_ns, &reason);
                self.close(reason);
            }
            return false; // a duplicate we already have
        }
        true
    }

    fn dispatch(&mut self, now_ns: u64, seq: u64, frame: &Frame<'_>) {
        match frame.msg_type() {
            b"0" => {
                if frame.get(t::TEST_REQ_ID).is_some() {
                    self.test_request = None;
                }
            }
            b"1" => {
                let id = frame.get(t::TEST_REQ_ID).unwrap_or(b"").to_vec();
                if id.is_empty() {
                    let text = "TestReqID(112) missing";
                    self.reject(now_ns, seq, b"1", RejectReason::RequiredTagMissing, text);
                } else {
                    self.send_admin(now_ns, b"0", &[(t::TEST_REQ_ID, id)]);
                }
            }
            b"2" => self.on_resend_request(now_ns, seq, frame),
            b"3" => {}
            b"4" => self.on_gap_fill(now_ns, seq, frame),
            b"5" => self.on_logout(now_ns),
            b"A" => {
                let reason = "Logon received while logged on".to_owned();
                self.logout(now_ns, &reason);
                self.close(reason);
            }
            other if self.config.application_types.iter().any(|t| t == other) => {
                self.output(Output::Deliver(frame.bytes().to_vec()));
            }
            other => {
                let other = other.to_vec();
                let text = "unsupported MsgType";
                self.reject(now_ns, seq, &other, RejectReason::InvalidMsgType, text);
            }
        }
    }

    fn on_logout(&mut self, now_ns: u64) {
        if !matches!(self.state, State::LoggingOut { .. }) {
            self.logout(now_ns, "logout acknowledged");
        }
        self.close("the client logged out".into());
    }

    /// SequenceReset-Reset: the next expected number is NewSeqNo, whatever MsgSeqNum says.
    fn on_sequence_reset(&mut self, now_ns: u64, seq: u64, frame: &Frame<'_>) {
        match number(frame, t::NEW_SEQ_NO) {
            Some(new) if new >= self.next_in => {
                self.next_in = new;
                self.resend_until = None;
            }
            _ => {
                let text = "NewSeqNo(36) missing or below the expected MsgSeqNum";
                self.reject(now_ns, seq, b"4", RejectReason::ValueIncorrect, text);
            }
        }
    }

    /// SequenceReset-GapFill, in sequence: the next expected number moves up to NewSeqNo.
    fn on_gap_fill(&mut self, now_ns: u64, seq: u64, frame: &Frame<'_>) {
        match number(frame, t::NEW_SEQ_NO) {
            Some(new) if new > seq => self.next_in = self.next_in.max(new),
            _ => {
                let text = "NewSeqNo(36) must be above MsgSeqNum in a gap fill";
                self.reject(now_ns, seq, b"4", RejectReason::ValueIncorrect, text);
            }
        }
    }

    fn on_resend_request(&mut self, now_ns: u64, seq: u64, frame: &Frame<'_>) {
        let (Some(begin), Some(end)) =
            (number(frame, t::BEGIN_SEQ_NO), number(frame, t::END_SEQ_NO))
        else {
            let text = "BeginSeqNo(7) and EndSeqNo(16) are required";
            self.reject(now_ns, seq, b"2", RejectReason::RequiredTagMissing, text);
            return;
        };
        let last = self.next_out - 1;
        let end = if end == 0 || end > last { last } else { end };
        if begin == 0 || begin > end {
            return; // nothing we sent is in that range
        }
        self.resend(now_ns, begin, end);
    }
}
